"""Commit notices across processes, on PostgreSQL: every write transaction that appends
events sends `NOTIFY worktrail_commits, '<org_id>'`, delivered by the server when (and
only if) the transaction commits; a `CommitWatcher` LISTENs on a connection of its own, in
a thread, and calls its listener for each notice. Delivery workers and live feeds in other
processes (and on other machines) wake at once instead of at their next poll.

A notice is a hint, never the record: polling stays the fallback, so a watcher that lost
its connection (the database restarted) only makes wake-ups slower until it is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

CHANNEL = "worktrail_commits"
NOTIFY = f"SELECT pg_notify('{CHANNEL}', %s)"
RECONNECT_SECONDS = (0.5, 1, 2, 5)  # waits before reconnecting, the last one repeated

log = logging.getLogger("worktrail.store")


class CommitWatcher:
    """LISTENs for commit notices until closed, calling `listener(org_id)` for each."""

    def __init__(self, dsn: str, listener: Callable[[int], None]) -> None:
        self._dsn = dsn
        self._listener = listener
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-watcher", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            try:
                self._listen()
                failures = 0
            except psycopg.Error as exc:
                wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("commit notices interrupted (%s); retrying in %s s", exc, wait)
                self._closed.wait(wait)

    def _listen(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._listener(0)  # notices sent while not listening were missed: look now
            while not self._closed.is_set():
                for notice in conn.notifies(timeout=0.5):
                    self._deliver(notice.payload)

    def _deliver(self, payload: str) -> None:
        try:
            org_id = int(payload)
        except ValueError:
            return
        try:
            self._listener(org_id)
        except Exception:
            log.exception("a commit listener failed")
