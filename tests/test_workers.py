"""The worker pool: deadlines, crashes and memory limits fail one call, never the loop or the pool."""

from __future__ import annotations

import asyncio
import ctypes
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from testsite import loop_gap

from crawler.workers import WorkerCrashed, WorkerPool, WorkerTimeout


def run(coro_fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


def test_a_call_returns_its_result_and_raises_its_exception() -> None:
    async def go() -> None:
        async with WorkerPool(2) as pool:
            assert await pool.run(math.factorial, 20, timeout=30) == math.factorial(20)
            assert await pool.run(int, "ff", timeout=30, base=16) == 255
            with pytest.raises(ValueError, match="invalid literal"):
                await pool.run(int, "x", timeout=30)
            assert await pool.run(math.sqrt, 4.0, timeout=30) == 2.0  # the worker survived

    run(go)


def test_a_hanging_call_is_killed_at_its_deadline_while_the_loop_keeps_beating() -> None:
    async def go() -> None:
        async with WorkerPool(1) as pool:
            await pool.run(math.sqrt, 1.0, timeout=30)  # the worker is up before the clock starts
            started = time.monotonic()
            error, gap = await loop_gap(pool.run(time.sleep, 3600, timeout=0.5))
            assert isinstance(error, WorkerTimeout) and "0.5 s" in str(error)
            assert time.monotonic() - started < 5
            assert gap < 0.3, f"the event loop was blocked for {gap:.2f} s"
            assert await pool.run(math.sqrt, 9.0, timeout=30) == 3.0  # a fresh worker took its place

    run(go)


@pytest.mark.parametrize("crash, why", [
    ((os._exit, 3), "exited with status 3"),
    ((ctypes.string_at, 0), "killed by SIGSEGV"),
])
def test_a_crashing_call_fails_alone(crash: tuple[Any, ...], why: str) -> None:
    async def go() -> None:
        async with WorkerPool(2) as pool:
            fn, arg = crash
            slow = asyncio.create_task(pool.run(sum, range(10**6), timeout=30))
            results = await asyncio.gather(pool.run(fn, arg, timeout=30), slow, return_exceptions=True)
            assert isinstance(results[0], WorkerCrashed) and why in str(results[0])
            assert results[1] == sum(range(10**6))
            assert await pool.run(math.sqrt, 16.0, timeout=30) == 4.0

    run(go)


def test_a_worker_over_its_memory_limit_fails_the_call_and_is_replaced() -> None:
    async def go() -> None:
        async with WorkerPool(1, memory_limit=512 << 20) as pool:
            with pytest.raises(WorkerCrashed, match="out of memory"):
                await pool.run(bytearray, 1 << 30, timeout=30)
            assert len(await pool.run(bytearray, 1 << 20, timeout=30)) == 1 << 20

    run(go)


def test_calls_beyond_the_pool_size_wait_their_turn() -> None:
    async def go() -> None:
        async with WorkerPool(2) as pool:
            results = await asyncio.gather(*(pool.run(math.factorial, n, timeout=30) for n in range(8)))
            assert results == [math.factorial(n) for n in range(8)]
            assert len(pool._workers) <= 2

    run(go)


def test_a_cancelled_call_kills_its_worker_so_no_stale_answer_remains() -> None:
    async def go() -> None:
        async with WorkerPool(1) as pool:
            task = asyncio.create_task(pool.run(time.sleep, 3600, timeout=60))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await pool.run(math.sqrt, 25.0, timeout=30) == 5.0

    run(go)


def test_closing_the_pool_ends_its_processes() -> None:
    async def go() -> list[Any]:
        pool = WorkerPool(2)
        await asyncio.gather(*(pool.run(math.sqrt, 1.0, timeout=30) for _ in range(2)))
        processes = [w.process for w in pool._workers]
        await pool.close()
        return processes

    processes = run(go)
    assert processes and not any(p.is_alive() for p in processes)


def test_a_worker_whose_parent_died_with_an_answer_unread_exits_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    """A crawler killed (kill -9) before reading an answer resets the worker's connection: the
    worker ends without a traceback on the crawler's terminal (it printed ConnectionResetError)."""
    import multiprocessing

    from crawler.workers import _serve

    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()

    def serve() -> None:
        parent.close()  # as a worker from the forkserver: only its own end
        _serve(child, None)

    worker = context.Process(target=serve)
    worker.start()
    child.close()
    parent.send((os.getpid, (), {}))
    assert parent.poll(30)  # the answer has arrived, unread
    parent.close()  # as a killed process's sockets are: with unread data, a reset
    worker.join(30)
    assert worker.exitcode == 0
    assert "Traceback" not in capfd.readouterr().err
