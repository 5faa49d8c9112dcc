"""A background worker's pause between rounds ends at its event, at its timeout, and
passes a cancellation on even when the event is set in the same loop iteration (where
Python 3.11's `asyncio.wait_for` returns normally and the worker never stops)."""

from __future__ import annotations

import asyncio
import time

import pytest

from worktrail.worker.pause import pause


def test_it_ends_when_the_event_is_set() -> None:
    async def main() -> None:
        event = asyncio.Event()
        waiting = asyncio.create_task(pause(event, 60))
        await asyncio.sleep(0)
        assert not waiting.done()
        event.set()
        await asyncio.wait_for(waiting, 5)

    asyncio.run(main())


def test_it_ends_at_its_timeout_without_raising() -> None:
    async def main() -> float:
        started = time.monotonic()
        await pause(asyncio.Event(), 0.05)
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.05


def test_a_cancellation_that_meets_the_event_is_passed_on() -> None:
    async def main() -> None:
        event = asyncio.Event()
        waiting = asyncio.create_task(pause(event, 60))
        await asyncio.sleep(0)
        event.set()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    asyncio.run(main())
