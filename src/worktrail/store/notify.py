"""Commit notices across processes, on PostgreSQL: every write transaction that appends
events sends `NOTIFY worktrail_commits, '<org_id>'`, delivered by the server when (and
only if) the transaction commits; a `CommitWatcher` LISTENs on a connection of its own, in
a thread, and calls its listener for each notice. Delivery workers and live feeds in other
processes (and on other machines) wake at once instead of at their next poll.

A notice is a hint, never the record: polling stays the fallback, so a watcher that lost
its connection (the database restarted) only makes wake-ups slower until it is back.
"""

from __future__ import annotations

import psycopg

from .watching import Listener, WatcherThread

CHANNEL = "worktrail_commits"
NOTIFY = f"SELECT pg_notify('{CHANNEL}', %s)"


class CommitWatcher(WatcherThread):
    """LISTENs for commit notices until closed, calling `listener(org_id)` for each."""

    errors = (psycopg.Error,)

    def __init__(self, dsn: str, listener: Listener) -> None:
        super().__init__(listener)
        self._dsn = dsn
        self.start()

    def _watch(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._deliver(0)  # notices sent while not listening were missed: look now
            while not self._closed.is_set():
                for notice in conn.notifies(timeout=0.5):
                    if notice.payload.isdigit():
                        self._deliver(int(notice.payload))
