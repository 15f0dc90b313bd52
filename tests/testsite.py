"""Small generated sites for crawl tests, served by a real HTTP server on 127.0.0.1, and a watch
on the event loop.

A :class:`Site` maps paths to pages (bytes, or a callable returning status and bytes); pages may be
changed while it runs. Columns are paged TRS-style: index.html, index_1.html … each with a 下一页 link.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Site", "column", "document", "loop_gap", "serve"]

#: A page: its bytes (200, text/html), or a function of the request count giving (status, bytes).
Page = bytes | Callable[[int], tuple[int, bytes]]


class Site:
    """Pages by path; ``hits`` counts the requests each path received."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.base = ""

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def answer(self, path: str) -> tuple[int, bytes, str]:
        with self.lock:
            self.hits[path] = n = self.hits.get(path, 0) + 1
        page = self.pages.get(path)
        if page is None:
            return 404, b"", "text/html"
        if callable(page):
            status, body = page(n)
        else:
            status, body = 200, page
        kind = "application/pdf" if path.endswith(".pdf") else "text/html; charset=utf-8"
        return status, body, kind


def document(n: int, *, attachments: tuple[str, ...] = ()) -> bytes:
    """A notice page with a title, a date and a few paragraphs; ``attachments`` are linked."""
    links = "".join(f'<p><a href="{a}">附件{i + 1}.pdf</a></p>' for i, a in enumerate(attachments))
    paragraphs = "".join(f"<p>第{n}号通知的第{k}段正文，关于做好政务公开工作的有关事项说明如下。</p>"
                         for k in range(1, 6))
    return (f'<html><head><meta charset="utf-8"><title>关于第{n}项工作的通知</title></head><body>'
            f'<div class="header"><a href="/">首页</a></div>'
            f'<div class="article"><h1>关于第{n}项工作的通知</h1><div class="info">发布日期：2025-03-{n % 28 + 1:02d}'
            f'</div><div class="content">{paragraphs}{links}</div></div></body></html>').encode()


def column(paths: list[str], *, per_page: int = 5, prefix: str = "/col/") -> dict[str, bytes]:
    """List pages of a column listing ``paths`` (newest first), ``per_page`` a page."""
    chunks = [paths[i:i + per_page] for i in range(0, len(paths), per_page)]
    pages = {}
    for i, chunk in enumerate(chunks):
        name = "index.html" if i == 0 else f"index_{i}.html"
        items = "".join(f'<li><a href="{p}">关于第{p.rsplit("_", 1)[-1].split(".")[0]}项工作的通知</a>'
                        f"<span>2025-03-01</span></li>" for p in chunk)
        more = f'<a href="index_{i + 1}.html">下一页</a>' if i + 1 < len(chunks) else ""
        pages[prefix + name] = (f'<html><head><meta charset="utf-8"><title>通知公告</title></head><body>'
                                f'<ul class="list">{items}</ul><div class="page">{more}</div>'
                                f"</body></html>").encode()
    return pages


class _Handler(BaseHTTPRequestHandler):
    site: Site

    def do_GET(self) -> None:
        status, body, kind = self.site.answer(self.path)
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(site: Site) -> Iterator[Site]:
    """Serve ``site`` on 127.0.0.1 until the block ends; ``site.base`` is its address."""
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


async def loop_gap(work: Awaitable[Any]) -> tuple[Any, float]:
    """Await ``work`` while a heartbeat ticks every 10 ms; return its result (or the exception it
    raised) and the longest gap between two ticks: how long the event loop was blocked."""
    ticks: list[float] = [time.monotonic()]
    stop = asyncio.Event()

    async def beat() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.01)
            ticks.append(time.monotonic())

    beating = asyncio.create_task(beat())
    try:
        result: Any = await work
    except Exception as e:  # noqa: BLE001 - returned for the test to check
        result = e
    finally:
        stop.set()
        await beating
    return result, max(b - a for a, b in itertools.pairwise(ticks))
