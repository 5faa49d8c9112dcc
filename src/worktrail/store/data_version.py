"""Commits of other processes, on SQLite: `PRAGMA data_version` on a connection of its
own changes whenever any other connection (of this process or another) has committed to the
file. One thread per process reads it every few milliseconds, a call that costs about a
microsecond and touches no page. When it has moved, the thread reads the organizations'
heads (a small table) and calls its listener with each organization whose history grew:
the same notices as PostgreSQL's NOTIFY (notify.py), and none for commits that appended no
event (a webhook worker's bookkeeping, a token's last use), which would only wake
listeners for nothing. As there, a notice is a hint: polling stays the fallback.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .watching import Listener, WatcherThread

VERSION = "PRAGMA data_version"
HEADS = "SELECT id, last_seq FROM orgs"


class DataVersionWatcher(WatcherThread):
    """Calls `listener(org_id)` after each commit to the SQLite file at `path`, by any
    other connection, that appended events of `org_id`, checking every `interval` seconds,
    until closed."""

    errors = (sqlite3.Error,)

    def __init__(self, path: Path, listener: Listener, interval: float) -> None:
        super().__init__(listener)
        self._uri = path.resolve().as_uri() + "?mode=ro"
        self._interval = interval
        self.start()

    def _watch(self) -> None:
        conn = sqlite3.connect(self._uri, uri=True, isolation_level=None, timeout=5)
        try:
            check = conn.cursor()
            version = check.execute(VERSION).fetchone()[0]
            heads = dict(check.execute(HEADS).fetchall())
            self._deliver(0)  # commits made while not watching were missed: look now
            while not self._closed.wait(self._interval):
                now = check.execute(VERSION).fetchone()[0]
                if now == version:
                    continue
                version = now
                before, heads = heads, dict(check.execute(HEADS).fetchall())
                for org_id, head in heads.items():
                    if before.get(org_id) != head:
                        self._deliver(org_id)
        finally:
            conn.close()
