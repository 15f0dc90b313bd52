"""What a fetch costs besides the network: connections kept for the next request, no module
searched for on every request, one TLS context for all fetchers. Against a small keep-alive
server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import importlib.abc
import ssl
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Self

import httpx
import pytest

from crawler import fetch
from crawler.config import Settings
from crawler.fetch import Fetcher, Gone, HostLimiter

pytestmark = pytest.mark.anyio

ETAG = '"v1"'
PAGE = "<html><head><title>通知</title></head><body><p>正文。</p></body></html>".encode()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class KeepAlive:
    """HTTP/1.1 with keep-alive: 304 for a matching If-None-Match, a short 404 page for
    /missing and /robots.txt, else the page. Counts the connections it was opened."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                path = head.split(b" ", 2)[1]
                if path in (b"/missing", b"/robots.txt"):
                    status, body = "404 Not Found", b"<html><body>404</body></html>"
                elif f"if-none-match: {ETAG}".encode() in head.lower():
                    status, body = "304 Not Modified", b""
                else:
                    status, body = "200 OK", PAGE
                writer.write(f"HTTP/1.1 {status}\r\nETag: {ETAG}\r\nContent-Type: text/html; charset=utf-8\r\n"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def fetcher(server: KeepAlive) -> Fetcher:
    settings = Settings(delay=0.0, retries=0)
    return Fetcher(settings, [server.url("/")], limiter=HostLimiter(),
                   transport=httpx.AsyncHTTPTransport())  # no proxy from the environment


async def test_answers_without_a_page_keep_the_connection_for_the_next_request() -> None:
    async with KeepAlive() as server, fetcher(server) as f:
        first = await f.get(server.url("/doc"))  # robots.txt (404), then the page
        for _ in range(5):
            again = await f.get(server.url("/doc"), etag=first.headers["etag"])
            assert again.not_modified
        with pytest.raises(Gone):
            await f.get(server.url("/missing"))
        assert (await f.get(server.url("/doc"))).content == PAGE
    assert server.connections == 1  # one per request before: each 304 or 404 closed its connection


class _Spy(importlib.abc.MetaPathFinder):
    """Notes every module Python goes looking for (none is found by it)."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        self.searched.append(name)


async def test_a_request_searches_for_no_module() -> None:
    # httpcore imports sniffio on every request: without it installed, Python searched every
    # directory of sys.path for it each time (a third of the function calls of a 304).
    async with KeepAlive() as server, fetcher(server) as f:
        await f.get(server.url("/doc"))  # the first request imports what it needs
        spy = _Spy()
        sys.meta_path.insert(0, spy)
        try:
            for _ in range(3):
                await f.get(server.url("/doc"), etag=ETAG)
        finally:
            sys.meta_path.remove(spy)
    assert spy.searched == []


async def test_fetchers_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each source's Fetcher built its own TLS context, loading the CA bundle again: ~20 ms of CPU
    # and 0.8 MB per source, 400 MB for 500 sources crawled at once (issue 16, many hosts).
    built: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counting(*args: object, **kwargs: object) -> ssl.SSLContext:
        built.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return built[-1]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    fetch.tls_context.cache_clear()
    try:
        fetchers = [Fetcher(Settings(), ["https://xxgk.example.gov.cn"]) for _ in range(5)]
        for f in fetchers:
            await f.aclose()
        assert len(built) == 1  # 5 before
        # The shared context is httpx's default: certificates and host names still verified.
        assert built[0].verify_mode == ssl.CERT_REQUIRED and built[0].check_hostname
    finally:
        fetch.tls_context.cache_clear()  # the next fetcher builds it again, unpatched
