"""The bundled sample site: served on 127.0.0.1, crawled into a demo archive, with no internet."""

from __future__ import annotations

import asyncio
import functools
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .config import load_config
from .crawl import RunReport, crawl
from .store import Archive

__all__ = ["SITE", "run_demo", "serve_site"]

SITE = Path(__file__).parent / "demo_site"


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


def run_demo(db_path: Path, site: Path = SITE) -> tuple[list[RunReport], float]:
    """Serve the sample site, crawl it into ``db_path``; return the run reports and the seconds taken."""
    with serve_site(site) as base, tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "sources.toml"
        config.write_text((site / "sources.toml").read_text(encoding="utf-8").replace("{base}", base),
                          encoding="utf-8")
        started = time.monotonic()
        with Archive(db_path) as archive:
            reports = asyncio.run(crawl(load_config(config), archive))
        return reports, time.monotonic() - started
