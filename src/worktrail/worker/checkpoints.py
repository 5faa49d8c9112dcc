"""Checkpoints issued in the background: an organization whose tree has grown gets a new
signed checkpoint once `checkpoint_events` events have been added since its latest one,
or once `checkpoint_interval_seconds` have passed since it (since this worker started, for
an organization that has none yet). Runs inside `worktrail serve` and `worktrail worker`;
several processes may run it at once (a checkpoint of a size issued twice is kept once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..config import Settings
from ..diff import now_micros
from ..errors import WorktrailError
from ..store import Store
from ..write import Notary
from .pause import pause

log = logging.getLogger("worktrail.integrity")

POLL_SECONDS = 1.0  # how often organizations' heads are compared with their checkpoints


def due(
    heads: dict[int, int],
    issued: dict[int, tuple[int, int]],
    now: int,
    started: int,
    interval: int,
    every: int,
) -> list[int]:
    """The organizations owed a checkpoint: heads (org → events) against their latest
    checkpoints (org → (tree size, issued at)); times in microseconds."""
    owed = []
    for org_id, head in sorted(heads.items()):
        size, at = issued.get(org_id, (0, started))
        grown = head - size
        if grown <= 0:
            continue
        if (every and grown >= every) or (interval and now - at >= interval):
            owed.append(org_id)
    return owed


class CheckpointWorker:
    def __init__(
        self,
        store: Store,
        notary: Notary,
        settings: Settings,
        clock: Callable[[], int] = now_micros,
    ) -> None:
        self.store = store
        self.notary = notary
        self.clock = clock
        self.interval = settings.checkpoint_interval_seconds * 1_000_000
        self.every = settings.checkpoint_events
        self._stopping = asyncio.Event()
        self._complained = ""

    @property
    def enabled(self) -> bool:
        return bool(self.interval or self.every)

    def round(self, started: int) -> int:
        """Issue what is due now; how many checkpoints were issued."""
        heads = {org.id: org.last_seq for org in self.store.list_orgs()}
        owed = due(
            heads,
            self.store.integrity.checkpoint_heads(),
            self.clock(),
            started,
            self.interval,
            self.every,
        )
        for org_id in owed:
            self.notary.issue(org_id)
        return len(owed)

    async def run(self) -> None:
        """Issue checkpoints until `stop()`. A key that cannot sign is said once (and
        again when the reason changes), not on every round."""
        started = self.clock()
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.round, started)
                self._complained = ""
            except WorktrailError as exc:
                if exc.detail != self._complained:
                    log.error("cannot issue checkpoints: %s", exc.detail)
                    self._complained = exc.detail
            except Exception:  # a bug: said, and tried again next round
                log.exception("issuing checkpoints failed")
            await pause(self._stopping, POLL_SECONDS)

    def stop(self) -> None:
        self._stopping.set()
