"""How a background worker waits between rounds."""

from __future__ import annotations

import asyncio
import contextlib


async def pause(event: asyncio.Event, seconds: float) -> None:
    """Wait until `event` is set or `seconds` pass, whichever is first.

    Not `asyncio.wait_for`: on Python 3.11 it returns normally when the task is cancelled
    in the same loop iteration as the event is set, and a worker that swallows its
    cancellation never stops. `asyncio.timeout` passes the cancellation on."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
