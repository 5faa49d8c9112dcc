"""Retention in the background: every `retention_interval_minutes`, each organization's
expired events are removed (write/retention.py). Runs inside `worktrail serve` and
`worktrail worker`; several processes may run it at once (each batch takes its
organization's retention lock, and a second run finds nothing more to remove)."""

from __future__ import annotations

import asyncio
import logging

from ..config import Settings
from ..errors import WorktrailError
from ..store import Store
from ..write.retention import run_retention
from .pause import pause

log = logging.getLogger("worktrail.retention")


class RetentionWorker:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.interval = settings.retention_interval_minutes * 60
        self._stopping = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def round(self) -> int:
        """Expire what is due now; how many events were removed."""
        removed = 0
        for report in run_retention(self.store):
            removed += report.expired
            if report.expired:
                log.info(
                    "retention removed %d events of organization %d (%d held by legal holds; "
                    "pruned through seq %d)",
                    report.expired,
                    report.org_id,
                    report.held,
                    report.pruned_through,
                )
        return removed

    async def run(self) -> None:
        """A round now, then one every interval, until `stop()`."""
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.round)
            except WorktrailError as exc:
                log.error("retention failed: %s", exc.detail)
            except Exception:  # a bug: said, and tried again next round
                log.exception("retention failed")
            await pause(self._stopping, self.interval)

    def stop(self) -> None:
        self._stopping.set()
