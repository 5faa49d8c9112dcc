"""A witness: it polls a log's checkpoints, checks that each new one is signed by the log's
key and consistent with the last it saw (a consistency proof, from the server), keeps
them, and raises the alarm when the log shows a split view (two histories) or rolls back.

State, per log, in `<state>/<origin with / as _>/`: `latest` (the newest checkpoint seen),
`<tree size>.checkpoint` (every one seen) and, on an alarm, `evidence-<unix time>.checkpoint`
(what the server served)."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .checkpoint import Checkpoint, open_checkpoint
from .merkle import ProofError, verify_consistency
from .note import NoteError, VerifierKey


class Alarm(Exception):
    """The log is not append-only as seen from here: a split view, a rollback, a bad
    signature. The message says what was seen."""


class Unreachable(Exception):
    """The server could not be asked, or refused to answer: try again later."""


class Refused(Unreachable):
    """The server answered a question with a client error (4xx)."""


@dataclass(frozen=True)
class Seen:
    checkpoint: Checkpoint
    previous: Checkpoint | None  # the latest seen before, if any

    @property
    def news(self) -> str:
        cp, before = self.checkpoint, self.previous
        if before is None:
            return f"{cp.origin}: first checkpoint seen, tree size {cp.size}"
        if before.size == cp.size:
            return f"{cp.origin}: tree size {cp.size}, unchanged"
        return f"{cp.origin}: tree size {before.size} → {cp.size}, consistent"


class Witness:
    def __init__(
        self, url: str, keys: Sequence[VerifierKey], state: Path, token: str | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.keys = list(keys)
        self.state = state
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, **params: Any) -> httpx.Response:
        try:
            response = self.client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise Unreachable(f"cannot reach {self.url}: {exc}")
        if response.status_code != 200:
            error = Refused if 400 <= response.status_code < 500 else Unreachable
            raise error(f"{path} answered {response.status_code}: {response.text[:300]}")
        return response

    def _dir(self, origin: str) -> Path:
        return self.state / origin.replace("/", "_")

    def _latest(self, origin: str) -> Checkpoint | None:
        path = self._dir(origin) / "latest"
        return open_checkpoint(path.read_text(), self.keys) if path.exists() else None

    def _alarm(self, origin: str, note: str, message: str) -> Alarm:
        where = self._dir(origin)
        where.mkdir(parents=True, exist_ok=True)
        (where / f"evidence-{int(time.time())}.checkpoint").write_text(note)
        return Alarm(message)

    def check(self) -> Seen:
        """Fetch the latest checkpoint and hold it to what was seen before."""
        note = self._get("/api/v1/integrity/checkpoint").text
        try:
            checkpoint = open_checkpoint(note, self.keys)
        except NoteError as exc:
            raise Alarm(f"the server's checkpoint does not verify with the key given: {exc}")
        origin = checkpoint.origin
        before = self._latest(origin)
        seen_path = self._dir(origin) / f"{checkpoint.size}.checkpoint"
        if seen_path.exists():
            earlier = open_checkpoint(seen_path.read_text(), self.keys)
            if earlier.root != checkpoint.root:
                raise self._alarm(
                    origin,
                    note,
                    f"split view: {origin} signed two different trees of size {checkpoint.size}",
                )
        if before is not None:
            self._hold(before, checkpoint, note)
        self._keep(checkpoint, note)
        return Seen(checkpoint, before)

    def _hold(self, before: Checkpoint, now: Checkpoint, note: str) -> None:
        origin = now.origin
        if now.size < before.size:
            raise self._alarm(
                origin,
                note,
                f"rollback: {origin} went from tree size {before.size} back to {now.size}",
            )
        if now.size == before.size:
            if now.root != before.root:
                raise self._alarm(
                    origin,
                    note,
                    f"split view: {origin} signed two different trees of size {now.size}",
                )
            return
        try:
            body = self._get(
                "/api/v1/integrity/consistency", first=before.size, second=now.size
            ).json()
            proof = [base64.b64decode(h) for h in body["proof"]]
        except Refused as exc:
            raise self._alarm(
                origin,
                note,
                f"{origin} cannot prove tree size {now.size} extends {before.size}: {exc}",
            )
        try:
            verify_consistency(before.size, now.size, proof, before.root, now.root)
        except ProofError as exc:
            raise self._alarm(
                origin,
                note,
                f"split view: {origin} at tree size {now.size} does not extend the tree of size "
                f"{before.size} seen before ({exc})",
            )

    def _keep(self, checkpoint: Checkpoint, note: str) -> None:
        where = self._dir(checkpoint.origin)
        where.mkdir(parents=True, exist_ok=True)
        (where / f"{checkpoint.size}.checkpoint").write_text(note)
        partial = where / "latest.part"
        partial.write_text(note)
        partial.replace(where / "latest")
