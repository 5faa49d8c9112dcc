"""One watcher of every process's commits per store, however many listen (live feeds,
webhook workers): started by the first listener, stopped after the last (Store.watch_commits);
and the thread each database's watcher runs in (notify.py, data_version.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

Listener = Callable[[int], None]
Stop = Callable[[], None]
RECONNECT_SECONDS = (0.5, 1, 2, 5)  # waits before connecting again, the last one repeated

log = logging.getLogger("worktrail.store")


class WatcherThread:
    """A thread that watches the database for commits until closed: `_watch` holds one
    connection's watch and returns or raises one of `errors` when it is lost; it is then
    opened again after a growing pause. Notices go to `listener(org_id)` through
    `_deliver`, where a listener's failure is logged rather than ending the watch."""

    errors: tuple[type[Exception], ...] = ()

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        failures = 0
        while not self._closed.is_set():
            try:
                self._watch()
                failures = 0
            except self.errors as exc:
                wait = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("watching for commits interrupted (%s); retrying in %s s", exc, wait)
                self._closed.wait(wait)

    def _deliver(self, org_id: int) -> None:
        try:
            self._listener(org_id)
        except Exception:
            log.exception("a commit listener failed")


class SharedWatcher:
    """Fans one watcher's notices out to its listeners. `start(listener)` starts the
    database's own watcher and returns how to stop it, or None where there is none."""

    def __init__(self, start: Callable[[Listener], Stop | None]) -> None:
        self._start = start
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._stop: Stop | None = None

    def add(self, listener: Listener) -> Stop | None:
        """Call `listener(org_id)` on every notice from now on; how to stop, or None
        where the database cannot tell. Like a watcher's start, joining one tells the
        listener to look now (`listener(0)`): the running watcher's own first notice may
        have gone out before it joined."""
        with self._lock:
            self._listeners.append(listener)
            joined = self._stop is not None
            if self._stop is None:
                self._stop = self._start(self._deliver)
            if self._stop is None:
                self._listeners.remove(listener)
                return None
        if joined:
            listener(0)

        def remove() -> None:
            stop = None
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
                if not self._listeners:
                    stop, self._stop = self._stop, None
            if stop is not None:
                stop()

        return remove

    def close(self) -> None:
        with self._lock:
            stop, self._stop = self._stop, None
            self._listeners.clear()
        if stop is not None:
            stop()

    def _deliver(self, org_id: int) -> None:
        for listener in list(self._listeners):
            listener(org_id)
