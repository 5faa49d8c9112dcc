"""One watcher of every process's commits per store, however many listen (live feeds,
webhook workers): started by the first listener, stopped after the last (Store.watch_commits)."""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[int], None]
Stop = Callable[[], None]


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
        where the database cannot tell."""
        with self._lock:
            self._listeners.append(listener)
            if self._stop is None:
                self._stop = self._start(self._deliver)
            if self._stop is None:
                self._listeners.remove(listener)
                return None

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
