"""Faults that need real sockets, against ``tests/faultserver.py`` on 127.0.0.1: a server that
never answers, a trickle, a reset or a short body mid-response, an endless body, a gzip bomb,
a redirect loop. Timeouts are a fraction of a second; retries sleep through a fake ``sleep``.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from typing import Self

import httpx
import pytest
from faultserver import FaultServer, bomb_body

from crawler.config import Settings
from crawler.fetch import Fetcher, HostLimiter, Refused, RobotsCache, TooLarge, TransientError

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


async def _no_wait(seconds: float) -> None:
    return None


def make(server: FaultServer, sleep: Callable[[float], Awaitable[None]] = _no_wait,
         **settings: object) -> Fetcher:
    options: dict[str, object] = {"timeout": 0.3, "delay": 0.0, "retries": 0, "obey_robots": True}
    options.update(settings)
    # An explicit transport: no proxy from the environment between us and 127.0.0.1.
    return Fetcher(Settings(**options), [server.url("/")], limiter=HostLimiter(sleep=_no_wait),  # type: ignore[arg-type]
                   transport=httpx.AsyncHTTPTransport(), sleep=sleep, robots=RobotsCache())


async def test_a_good_page(server: FaultServer) -> None:
    async with make(server) as f:
        result = await f.get(server.url("/ok"))
    assert result.status == 200 and "正文".encode() in result.content
    steps = [(a.url.rsplit("/", 1)[1], a.outcome) for a in result.attempts]
    assert steps == [("robots.txt", "ok"), ("ok", "ok")]


async def test_server_that_never_answers_times_out(server: FaultServer) -> None:
    t0 = time.monotonic()
    async with make(server, timeout=0.3) as f:
        with pytest.raises(TransientError) as caught:
            await f.get(server.url("/silent"))
    assert caught.value.reason == "read timeout" and caught.value.status is None
    assert time.monotonic() - t0 < 1.5


async def test_trickle_is_cut_by_the_total_deadline(server: FaultServer) -> None:
    t0 = time.monotonic()
    async with make(server, timeout=0.25) as f:
        with pytest.raises(TransientError, match="no complete response within 1 s"):
            await f.get(server.url("/trickle"))
    assert 0.9 < time.monotonic() - t0 < 2.5


async def test_connection_reset_mid_body_is_retried_then_transient(server: FaultServer) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    before = server.requests.count("/reset")
    async with make(server, sleep, retries=2, backoff=0.5) as f:
        with pytest.raises(TransientError, match="after 3 attempts") as caught:
            await f.get(server.url("/reset"))
    assert [a.outcome for a in caught.value.attempts][-3:] == ["retry", "retry", "TransientError"]
    assert server.requests.count("/reset") - before == 3 and sleeps == [0.5, 1.0]


async def test_body_shorter_than_content_length_is_transient(server: FaultServer) -> None:
    async with make(server) as f:
        with pytest.raises(TransientError, match="incomplete"):
            await f.get(server.url("/short"))


class PeakMemory:
    """Peak bytes allocated by Python (all threads) inside the ``with`` block."""

    peak = 0

    def __enter__(self) -> Self:
        tracemalloc.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


async def test_endless_body_is_cut_with_flat_memory(server: FaultServer) -> None:
    async with make(server, max_bytes=256 * 1024) as f:
        await f.get(server.url("/ok"))  # warm up: robots.txt, lazy imports, the connection code
        with PeakMemory() as memory, pytest.raises(TooLarge, match="exceeds 262144 bytes"):
            await f.get(server.url("/endless"))
    assert memory.peak < 3_000_000


async def test_gzip_bomb_is_cut_with_flat_memory(server: FaultServer) -> None:
    bomb_body()  # built before measuring
    async with make(server, max_bytes=1_000_000) as f:
        await f.get(server.url("/ok"))
        with PeakMemory() as memory, pytest.raises(TooLarge, match="exceeds 1000000 bytes"):
            await f.get(server.url("/bomb"))
    # 50 MB inflated; httpx's own decoders would inflate a whole 64 KiB read (~64 MB) at once.
    assert memory.peak < 6_000_000


async def test_redirect_loop(server: FaultServer) -> None:
    async with make(server) as f:
        with pytest.raises(Refused, match="redirect loop") as caught:
            await f.get(server.url("/loop/a"))
    assert [a.outcome for a in caught.value.attempts] == ["ok", "redirect", "Refused"]
