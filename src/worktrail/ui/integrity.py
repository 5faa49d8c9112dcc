"""The integrity badge: the result of the latest verification of an organization's hash
chain (worktrail.verify, the same walk as `worktrail verify`), kept with the time it
finished. Pages show the kept result; they never verify. A verification runs in a thread of
its own: when an owner or admin asks for one, and by itself the first time a page of a
small organization is shown (a large history is only walked when someone asks).

The slot beside it is for the latest signed checkpoint, which this server does not make
yet.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from ..errors import WorktrailError
from ..query import Reader
from ..verify import verify_history

log = logging.getLogger("worktrail")

# Histories up to this many events are verified the first time a page shows them.
AUTO_VERIFY_MAX = 100_000


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    finished_at: float  # seconds since the epoch
    first_bad_seq: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class Status:
    last: Verification | None
    running_since: float | None


class Integrity:
    """The latest verification of each organization this process has run, and the ones
    running now (at most one per organization)."""

    def __init__(self) -> None:
        self._results: dict[int, Verification] = {}
        self._running: dict[int, float] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for the verifications running now to finish (a server that stops, tests)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)

    def status(self, org_id: int) -> Status:
        with self._lock:
            return Status(self._results.get(org_id), self._running.get(org_id))

    def status_or_start(self, reader: Reader, head: int | None = None) -> Status:
        """The status; a small history that was never verified starts verifying (`head`:
        the organization's head if known; read here only when it decides that)."""
        status = self.status(reader.org_id)
        if status.last is not None or status.running_since is not None:
            return status
        if (reader.head() if head is None else head) <= AUTO_VERIFY_MAX:
            self.start(reader)
            status = self.status(reader.org_id)
        return status

    def start(self, reader: Reader) -> bool:
        """Verify the history `reader` reads (the whole organization's) in the background;
        False if a verification of it is running already."""
        org_id = reader.org_id
        with self._lock:
            if org_id in self._running:
                return False
            self._running[org_id] = time.time()
        thread = threading.Thread(
            target=self._verify, args=(reader,), name=f"verify-{org_id}", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return True

    def _verify(self, reader: Reader) -> None:
        try:
            result = verify_history(reader)
            verification = Verification(
                result.ok, result.checked, time.time(), result.first_bad_seq, result.reason
            )
        except WorktrailError as exc:
            log.warning("verifying organization %s failed: %s", reader.org_id, exc.detail)
            verification = None
        with self._lock:
            self._running.pop(reader.org_id, None)
            if verification is not None:
                self._results[reader.org_id] = verification
