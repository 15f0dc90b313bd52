"""A real HTTP/1.1 server on 127.0.0.1 that misbehaves on purpose, for fetch fault tests.

Each route writes raw bytes to the socket, so it can do what no well-behaved server library
would: never answer, trickle, reset mid-body, promise more than it sends, stream forever.
Routes stop when the server stops; ``with FaultServer() as server`` shuts every one down.
"""

from __future__ import annotations

import functools
import mimetypes
import socket
import socketserver
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["FaultServer", "bomb_body", "gzip_bomb", "redirect", "reply"]

#: Longest any route keeps a connection open on its own (the tests' timeouts are far shorter).
HOLD = 5.0

Route = Callable[[socket.socket, threading.Event], None]


def _head(status: str = "200 OK", **headers: str | int) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Connection: close", "Content-Type: text/html; charset=utf-8"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ok(conn: socket.socket, stop: threading.Event) -> None:
    body = "<html><head><title>通知</title></head><body><p>正文。</p></body></html>".encode()
    conn.sendall(_head(Content_Length=len(body)) + body)


def not_found(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(_head("404 Not Found", Content_Length=0))


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accept the request, never answer."""
    stop.wait(HOLD)


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """A byte every 50 ms: each read is quick, the whole response never ends in time."""
    conn.sendall(_head(Content_Length=1000))
    for _ in range(1000):
        if stop.wait(0.05):
            return
        conn.sendall(b"x")


def reset_mid_body(conn: socket.socket, stop: threading.Event) -> None:
    """Send part of the body, then abort the connection (TCP RST)."""
    conn.sendall(_head(Content_Length=100_000) + b"x" * 1000)
    stop.wait(0.05)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()  # with a zero linger time, close() resets instead of finishing


def short_body(conn: socket.socket, stop: threading.Event) -> None:
    """Promise 1000 bytes, send 100, close cleanly."""
    conn.sendall(_head(Content_Length=1000) + b"x" * 100)


def endless(conn: socket.socket, stop: threading.Event) -> None:
    """A body without a length that goes on until the client hangs up (or 1 GB)."""
    conn.sendall(_head())
    chunk = b"x" * 65536
    for _ in range(16384):
        if stop.is_set():
            return
        conn.sendall(chunk)


def gzip_bomb(size: int = 50_000_000) -> bytes:
    """``size`` zero bytes, gzip-compressed (about a thousandth of that)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1_000_000)
    parts = [z.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + z.flush()


@functools.cache
def bomb_body() -> bytes:
    """The body ``/bomb`` serves, built once (compressing 50 MB takes a moment)."""
    return gzip_bomb()


def bomb(conn: socket.socket, stop: threading.Event) -> None:
    body = bomb_body()
    conn.sendall(_head(Content_Encoding="gzip", Content_Length=len(body)) + body)


def loop_a(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(_head("302 Found", Location="/loop/b", Content_Length=0))


def loop_b(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(_head("302 Found", Location="/loop/a", Content_Length=0))


def reply(status: str = "200 OK", body: bytes = b"", content_type: str = "text/html; charset=utf-8",
          **headers: str | int) -> Route:
    """A route that answers with this status, body and headers."""
    def route(conn: socket.socket, stop: threading.Event) -> None:
        head = _head(status, Content_Length=len(body), **headers).replace(
            b"text/html; charset=utf-8", content_type.encode())
        conn.sendall(head + body)
    return route


def redirect(location: str) -> Route:
    return reply("302 Found", Location=location)


def _file(root: Path, path: str) -> Route:
    target = (root / path.lstrip("/")).resolve()
    if path.endswith("/"):
        target = target / "index.html"
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        return not_found
    kind = mimetypes.guess_type(target.name)[0] or "text/html"
    return reply(body=target.read_bytes(), content_type=kind)


ROUTES: dict[str, Route] = {
    "/robots.txt": not_found, "/ok": ok, "/silent": silent, "/trickle": trickle,
    "/reset": reset_mid_body, "/short": short_body, "/endless": endless, "/bomb": bomb,
    "/loop/a": loop_a, "/loop/b": loop_b,
}


class FaultServer:
    """Serves :data:`ROUTES` on 127.0.0.1 (a free port) in background threads; counts requests.

    With ``root``, it serves that folder's files instead, except the paths a test puts in
    ``routes`` (path → route), so one page of a real site can misbehave.
    """

    def __init__(self, root: Path | None = None, host: str = "127.0.0.1") -> None:
        self.root = root
        self.stop = threading.Event()
        self.requests: list[str] = []
        self.routes: dict[str, Route] = {} if root else dict(ROUTES)
        #: Served for every path not in ``routes`` instead of the files (a site in maintenance).
        self.fallback: Route | None = None
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    path = _read_request_path(self.request)
                    outer.requests.append(path)
                    route = (outer.routes.get(path) or outer.fallback
                             or (_file(root, path) if root else not_found))
                    route(self.request, outer.stop)
                except OSError:  # the client hung up: what most of these routes provoke
                    pass

        self._server = socketserver.ThreadingTCPServer((host, 0), Handler)
        self._server.daemon_threads = False  # server_close() joins the handlers: nothing leaks
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self.host, self.port = host, self._server.server_address[1]

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(HOLD)


def _read_request_path(conn: socket.socket) -> str:
    """The path of the request line; reads no more than the request head (64 KiB at most)."""
    conn.settimeout(HOLD)
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    parts = data.split(b" ", 2)
    return parts[1].decode("latin-1") if len(parts) > 1 else ""
