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

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

RECONNECT_SECONDS = (0.5, 1, 2, 5)  # waits before reopening, the last one repeated
VERSION = "PRAGMA data_version"
HEADS = "SELECT id, last_seq FROM orgs"

log = logging.getLogger("worktrail.store")


class DataVersionWatcher:
    """Calls `listener(org_id)` after each commit to the SQLite file at `path`, by any
    other connection, that appended events of `org_id`, checking every `interval` seconds,
    until closed."""

    def __init__(self, path: Path, listener: Callable[[int], None], interval: float) -> None:
        self._uri = path.resolve().as_uri() + "?mode=ro"
        self._listener = listener
        self._interval = interval
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
                self._watch()
                failures = 0
            except sqlite3.Error as exc:
                wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("watching for commits interrupted (%s); retrying in %s s", exc, wait)
                self._closed.wait(wait)

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

    def _deliver(self, org_id: int) -> None:
        try:
            self._listener(org_id)
        except Exception:
            log.exception("a commit listener failed")
