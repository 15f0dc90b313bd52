"""Worker processes for pure CPU-bound work (extraction, attachment text), off the event loop.

A :class:`WorkerPool` runs ``fn(*args, **kwargs)`` in one of its processes and awaits the answer
without blocking the event loop, so heartbeats, signals and other fetches carry on while a page is
parsed. Each call has a deadline. A call that overruns it, or whose worker dies (a segfault in a
parser, ``os._exit``, the memory limit), fails alone with a :class:`WorkerError`: that worker is
killed and a fresh one takes its place at the next call; other calls and the crawl go on.

Usage::

    async with WorkerPool() as pool:
        doc = await pool.run(extract, raw, url, timeout=20, encoding="utf-8")

``fn`` and its arguments travel by pickle: ``fn`` must be a module-level function (or a
``functools.partial`` of one), and so must anything it returns. One pool serves a process: create
it where the work starts (``crawl``, the scheduler) and pass it down; nothing here is global. As with
any start method but ``fork``, a script that starts workers must guard its entry point with
``if __name__ == "__main__":`` (each worker imports the main script; ``python -m`` is exempt).

Workers start on first use, up to ``size`` (the usable cores by default), and are started with
``forkserver`` (``spawn`` where there is none): forking a process that runs an event loop and
threads is unsafe. On Linux each worker's address space is capped (``memory_limit``), it ignores
Ctrl-C (the parent decides when to stop), and it dies with the forkserver, which dies with the
parent, so a ``kill -9`` of the crawler leaves no worker behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, Self, TypeVar

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "WorkerCrashed",
    "WorkerError",
    "WorkerPool",
    "WorkerTimeout",
    "default_size",
]

T = TypeVar("T")

#: Bytes of address space a worker may map (RLIMIT_AS): room for a parser's tree of a large
#: page, not for a runaway one. A call that needs more fails with WorkerCrashed.
DEFAULT_MEMORY_LIMIT = 1 << 30
#: Modules the forkserver imports before forking workers.
PRELOAD = ("crawler.workers", "crawler.reading", "crawler.discover")
#: Seconds to wait for a worker to exit after being asked to, before it is killed.
_EXIT_GRACE = 1.0


class WorkerError(Exception):
    """A call could not be completed in a worker process (the function itself did not fail)."""


class WorkerTimeout(WorkerError):
    """The call overran its deadline; its worker was killed."""


class WorkerCrashed(WorkerError):
    """The worker died during the call (a crash, a signal, its memory limit)."""


def default_size() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Worker:
    """One worker process and the parent's end of its pipe; it serves one call at a time."""

    def __init__(self, context: BaseContext, memory_limit: int | None) -> None:
        self.conn, child = multiprocessing.Pipe(duplex=True)
        self.process: BaseProcess = context.Process(  # type: ignore[attr-defined]
            target=_serve, args=(child, memory_limit), daemon=True, name="govarchive-worker")
        self.process.start()
        child.close()  # else the parent's copy would hide the worker's death (no EOF)
        self.calls = 0

    def kill(self) -> None:
        """End the process at once and reap it."""
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.join(_EXIT_GRACE)
        self.conn.close()

    def stop(self) -> None:
        """Ask the process to exit (end of its pipe), then make sure it has."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(_EXIT_GRACE)
        if self.process.is_alive():
            self.kill()
        self.conn.close()

    def died(self) -> str:
        """Why the process ended, in words."""
        self.process.join(_EXIT_GRACE)
        code = self.process.exitcode
        if code is None:
            return "worker stopped answering"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"worker killed by {signal.Signals(-code).name}"
        return f"worker exited with status {code}"


class WorkerPool:
    """Up to ``size`` worker processes running pure functions with a deadline per call.

    :param size: most calls running at once (default: the usable cores).
    :param memory_limit: address-space cap per worker in bytes (Linux); None for no cap.
    :param max_calls: calls a worker serves before it is replaced, bounding what a leak can hold.
    """

    def __init__(self, size: int | None = None, *, memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
                 max_calls: int = 1000) -> None:
        self.size = max(1, size or default_size())
        self.memory_limit = memory_limit
        self.max_calls = max_calls
        if "forkserver" in multiprocessing.get_all_start_methods():
            self._context: BaseContext = multiprocessing.get_context("forkserver")
            # The process's forkserver (started with the first worker) imports the parsers once;
            # each worker is then a cheap fork of it instead of a fresh import of the package.
            self._context.set_forkserver_preload(list(PRELOAD))  # type: ignore[attr-defined]
        else:
            self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a worker process, within ``timeout`` seconds.

        Returns what ``fn`` returns and raises what it raises (both pickled across). Raises
        :class:`WorkerTimeout` when the deadline passes and :class:`WorkerCrashed` when the worker
        dies; in both cases that worker is killed and replaced, and the pool stays usable.
        A cancelled caller kills its worker too, so no stale answer is left in a pipe.
        """
        if self._closed:
            raise WorkerError("the worker pool is closed")
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self._start()
            healthy = False
            try:
                ok, value = await asyncio.wait_for(self._call(worker, fn, args, kwargs), timeout)
                # A worker that ran out of memory, or was asked to exit, is not reused.
                healthy = ok or (isinstance(value, Exception) and not isinstance(value, MemoryError))
            except TimeoutError:
                raise WorkerTimeout(f"{_name(fn)} took longer than {timeout:g} s; worker killed") from None
            except (EOFError, OSError):
                raise WorkerCrashed(f"{_name(fn)} failed: {worker.died()}") from None
            finally:
                self._release(worker, healthy)
        if ok:
            return value  # type: ignore[no-any-return]
        if isinstance(value, MemoryError):
            raise WorkerCrashed(f"{_name(fn)} ran out of memory (worker limit "
                                f"{(self.memory_limit or 0) >> 20} MiB)")
        if not isinstance(value, Exception):  # SystemExit and the like end the worker, not us
            raise WorkerCrashed(f"{_name(fn)} raised {value!r}")
        raise value

    async def close(self) -> None:
        """Stop every worker; calls still running fail with WorkerCrashed."""
        self._closed = True
        workers, self._idle, self._workers = list(self._workers), [], set()
        if workers:
            await asyncio.to_thread(_stop_all, workers)

    async def _start(self) -> _Worker:
        # Starting a process talks to the forkserver and waits for it: keep that off the loop too.
        worker = await asyncio.to_thread(_Worker, self._context, self.memory_limit)
        self._workers.add(worker)
        return worker

    def _release(self, worker: _Worker, healthy: bool) -> None:
        worker.calls += 1
        if healthy and not self._closed and worker.calls < self.max_calls:
            self._idle.append(worker)
            return
        self._workers.discard(worker)
        if healthy:
            worker.stop()
        else:
            worker.kill()

    @staticmethod
    async def _call(worker: _Worker, fn: Callable[..., Any], args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> tuple[bool, Any]:
        worker.conn.send((fn, args, kwargs))
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = worker.conn.fileno()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
        answer: tuple[bool, Any] = worker.conn.recv()
        return answer


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


def _stop_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.stop()


def _name(fn: Callable[..., Any]) -> str:
    inner = getattr(fn, "func", fn)  # a functools.partial names its function
    return str(getattr(inner, "__qualname__", repr(fn)))


def _serve(conn: Connection, memory_limit: int | None) -> None:
    """A worker's life: take a call, answer ``(True, result)`` or ``(False, exception)``, repeat."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if memory_limit and sys.platform == "linux":
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    while True:
        try:
            call = conn.recv()
        except (EOFError, OSError):  # the parent is gone (killed with an answer unread: a reset)
            return
        if call is None:
            return
        fn, args, kwargs = call
        try:
            answer: tuple[bool, Any] = (True, fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - the caller decides; the worker stays up
            answer = (False, e)
        try:
            conn.send(answer)
        except OSError:  # the parent is gone
            return
        except Exception as e:  # noqa: BLE001 - e.g. an unpicklable result or exception
            conn.send((False, WorkerError(f"{_name(fn)}: answer could not be sent back: {e!r}")))
        del call, answer


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when its parent (the forkserver) ends."""
    if sys.platform != "linux":
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
