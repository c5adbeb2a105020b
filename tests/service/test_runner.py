"""The model lane: one call at a time, waiting drafts prefetched in one batch, timeouts skip."""

from __future__ import annotations

import asyncio
import threading

import pytest

from service.runner import Busy, ModelRunner


def test_waiting_drafts_are_prefetched_in_one_batch():
    batches: list[list[str]] = []
    gate = threading.Event()
    runner = ModelRunner(timeout_s=5, max_queue=100, prefetch=batches.append)

    async def main():
        first = asyncio.ensure_future(runner.run("check", gate.wait, 5, draft="d0"))  # holds the lane
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(runner.run("check", str.upper, f"d{i}", draft=f"d{i}")) for i in range(1, 5)]
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*rest)

    try:
        assert asyncio.run(main()) == (True, ["D1", "D2", "D3", "D4"])
    finally:
        runner.close()
    assert batches == [["d1", "d2", "d3", "d4"]]  # d0 ran alone; the four waiting ones in one batch


def test_timed_out_calls_are_skipped_and_the_queue_is_bounded():
    gate = threading.Event()
    ran: list[int] = []
    runner = ModelRunner(timeout_s=0.1, max_queue=2)

    async def main():
        blocker = asyncio.ensure_future(runner.run("x", gate.wait, 5))
        await asyncio.sleep(0.02)
        with pytest.raises(TimeoutError):
            await runner.run("x", ran.append, 1)  # waits behind the blocker, gives up
        with pytest.raises(Busy):
            await asyncio.gather(runner.run("x", ran.append, 2), runner.run("x", ran.append, 3))
        gate.set()
        with pytest.raises(TimeoutError):
            await blocker

    try:
        asyncio.run(main())
        assert 1 not in ran  # the cancelled call never ran
    finally:
        runner.close()
