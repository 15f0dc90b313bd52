"""The bundled sample site: served on 127.0.0.1, crawled into a demo archive, with no internet.

The demo crawls the site, edits one page and removes another, and crawls it again, so the archive
has a change, a removal, diffs and feed entries to show. The site is served on whatever port is
free, but archived under one fixed address (DEMO_BASE): running the demo again rebuilds the same
archive, with the same documents.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .config import load_config
from .crawl import RunReport, crawl
from .store import Archive

__all__ = ["DEMO_BASE", "EDITED", "REMOVED", "SITE", "DemoRun", "NotADemo", "demo_db_path", "run_demo",
           "serve_site"]

SITE = Path(__file__).parent / "demo_site"
#: The sample site's address in the demo archive, whichever local port serves it.
DEMO_BASE = "http://demo.govarchive.example"
#: The page the demo edits between its two crawls: (path, text before, text after).
EDITED = ("zwgk/tzgg/202403/t20240306_451851.html", "深入学习贯彻习近平法治思想，",
          "深入学习贯彻习近平法治思想和述职评议制度，")
#: The page the demo removes between its two crawls (it answers 404 the second time).
REMOVED = "xxgk/c123697/202501/8ead8621482e31829ec4a7d6740e4013.shtml"


class NotADemo(Exception):
    """The demo's database file holds something else; the demo refuses to replace it."""


@dataclass(frozen=True)
class DemoRun:
    """One of the demo's crawls: what it was, its reports, and the seconds it took."""

    label: str
    reports: list[RunReport]
    seconds: float


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".shtml": "text/html"}  # noqa: RUF012

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_site(root: Path = SITE, *, port: int = 0) -> Iterator[str]:
    """Serve a folder of pages over HTTP on 127.0.0.1; yields the base URL, e.g. http://127.0.0.1:8123."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _LocalSite(httpx.AsyncBaseTransport):
    """Sends requests for DEMO_BASE to the local server at ``base``."""

    def __init__(self, base: str) -> None:
        local = urlsplit(base)
        self.host, self.port = local.hostname or "127.0.0.1", local.port
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host=self.host, port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def demo_db_path(archive_path: Path) -> Path:
    """Where the demo archive goes by default: ``demo.db`` beside the archive (archive/ here, /data in
    the container), or in the temporary folder when that folder cannot be written."""
    candidate = archive_path.with_name("demo.db")
    folder = candidate.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if os.access(folder, os.W_OK):
        return candidate
    return Path(tempfile.gettempdir()) / "govarchive-demo.db"


def _clear(db_path: Path, names: set[str]) -> None:
    """Remove an earlier demo archive at ``db_path``; refuse anything else."""
    if not db_path.exists():
        return
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
            found = {r[0] for r in conn.execute("select name from sources")} if "sources" in tables else set()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise NotADemo(f"{db_path} is not a demo archive ({e}); choose another --db") from None
    if (tables and "sources" not in tables) or found - names:
        raise NotADemo(f"{db_path} holds an archive of other sources ({', '.join(sorted(found - names))}"
                       f"); the demo rebuilds its archive from scratch, so choose another --db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def _edit(site: Path) -> None:
    path, old, new = EDITED
    page = site / path
    page.write_text(page.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    (site / REMOVED).unlink()


def run_demo(db_path: Path, site: Path = SITE) -> list[DemoRun]:
    """Build the demo archive at ``db_path`` (replacing an earlier demo archive there): crawl the
    sample site, edit a page and remove another, crawl it again."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "site"
        shutil.copytree(site, copy)
        config = Path(tmp) / "sources.toml"
        config.write_text((copy / "sources.toml").read_text(encoding="utf-8").replace("{base}", DEMO_BASE),
                          encoding="utf-8")
        sources = load_config(config)
        _clear(db_path, {s.name for s in sources})
        runs = []
        with serve_site(copy) as base, Archive(db_path) as archive:
            for label, full in (("first crawl", False), ("after editing a page and removing another", True)):
                started = time.monotonic()
                reports = asyncio.run(crawl(sources, archive, full=full, transport=_LocalSite(base)))
                runs.append(DemoRun(label, reports, time.monotonic() - started))
                if not full:
                    _edit(copy)
        return runs
