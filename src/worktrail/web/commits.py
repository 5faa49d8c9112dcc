"""Live feeds wake when this process commits events, instead of waiting for their next
poll (commits of other processes are seen by polling)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import Request

from .services import services_of


class CommitSignal:
    """Wakes live feeds when this process commits events (other processes: by polling)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.event = asyncio.Event()

    def notify(self, _org_id: int) -> None:
        # called from writer threads
        self.loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self.event.set()
        self.event = asyncio.Event()


async def wait_for_commit(request: Request, timeout: float) -> None:
    state = request.app.state
    signal: CommitSignal | None = getattr(state, "commit_signal", None)
    if signal is None:
        signal = state.commit_signal = CommitSignal(asyncio.get_running_loop())
        services_of(request).store.add_commit_listener(signal.notify)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(signal.event.wait(), timeout)
