"""Browser benchmark: what a page through headless Chromium costs, and what cookie reuse saves.

Serves the browser fixture site (tests/browser_site.py: a cookie-challenge column and a script-built
column) on 127.0.0.1 and measures, in one process and one run, politeness delay 0:

1. the challenge column crawled with ``browser = "auto"`` (one browser visit, then httpx with its
   cookies) against ``"always"`` (every page in the browser): time, browser page loads, requests;
2. the script-built column with ``"auto"``: list pages rendered, documents plain;
3. pages per second through the browser (at most ``MAX_OPEN_PAGES`` open) against plain httpx, on
   the same document pages;
4. the browser's memory: RSS and PSS summed over its processes (from /proc), idle and at peak.

    python bench/browser_bench.py [--docs 60] [--pages 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from browser_site import app_docs, serve

from crawler.browser import MAX_OPEN_PAGES, Browser, BrowserFetcher, Clearances
from crawler.config import Settings, Source
from crawler.crawl import crawl
from crawler.fetch import Fetcher
from crawler.store import Archive

MB = 1024 * 1024


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of ``pids`` and of the children they have reaped (renderers that have exited)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / tick


def self_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def crawl_column(browser: Browser, url: str, mode: str) -> tuple[float, Any]:
    browser.clearances = Clearances()
    source = Source(name="bench", urls=(url,), settings=Settings(delay=0.0, retries=0, browser=mode,
                                                                  max_pages=100))
    with tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "a.db") as archive:
        started = time.monotonic()
        [report] = await crawl([source], archive, browser=browser)
        return time.monotonic() - started, report


async def families(browser: Browser, docs: int) -> None:
    print(f"\n1-2. Columns of {docs} documents each, crawled whole (fetch + discover + extract + store)\n")
    print("| column | browser | seconds | documents | browser page loads | requests by the browser |"
          " requests by httpx |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for column, path, modes in (("challenge", "/gate/list/index.html", ("auto", "always")),
                                ("script-built list", "/app/list.html", ("auto",))):
        for mode in modes:
            with serve(docs=docs) as (base, site, other):
                loads = browser.pages_loaded
                seconds, report = await crawl_column(browser, base + path, mode)
                prefix = path.rsplit("/", 1)[0] + "/"
                row = (column, mode, seconds, report.counts.new, browser.pages_loaded - loads,
                       len(site.browser(prefix)), len(site.plain(prefix)))
                assert report.counts.new == docs and not other, (report, other)
                rows.append(row)
                print(f"| {row[0]} | `{row[1]}` | {row[2]:.2f} | {row[3]} | {row[4]} | {row[5]} | {row[6]} |")
    auto, always = rows[0], rows[1]
    print(f"\nCookie reuse: `auto` loads {auto[4]} page(s) in the browser where `always` loads {always[4]}; "
          f"it takes {auto[2] / always[2]:.2f} × the time of `always`.")


async def throughput(browser: Browser, pages: int) -> None:
    print(f"\n3-4. {pages} pages of each kind, through the browser ({MAX_OPEN_PAGES} open at once) and httpx\n")
    print("| pages | pages/s, browser | browser CPU per page | pages/s, httpx (one at a time) | httpx ÷ browser |")
    print("|---|---|---|---|---|")
    idle = peak = (0, 0)
    with serve(docs=pages * 3) as (base, _site, _other):
        kinds = (("static documents", [base + p for p, _, _ in app_docs(pages)]),
                 ("script-built list pages (page, script, JSON)",
                  [f"{base}/app/list.html?page={n}" for n in range(1, pages + 1)]))
        async with Fetcher(Settings(delay=0.0), [base]) as fetcher:
            rendering = BrowserFetcher(browser, fetcher)
            await rendering.get(kinds[0][1][0])  # a launched browser: we measure pages, not the launch
            idle = (browser.rss(), browser.pss())
            for label, urls in kinds:
                queue = list(urls)

                async def worker(queue: list[str]) -> None:
                    nonlocal peak
                    while queue:
                        await rendering.get(queue.pop())
                        now = (browser.rss(), browser.pss())
                        peak = (max(peak[0], now[0]), max(peak[1], now[1]))

                started, cpu = time.monotonic(), cpu_seconds(browser.pids()) + time.process_time()
                await asyncio.gather(*(worker(queue) for _ in range(MAX_OPEN_PAGES)))
                rendered = len(urls) / (time.monotonic() - started)
                cpu = (cpu_seconds(browser.pids()) + time.process_time() - cpu) / len(urls)
                started = time.monotonic()
                for url in urls:
                    await fetcher.get(url)
                plain = len(urls) / (time.monotonic() - started)
                print(f"| {label} | {rendered:.1f} | {cpu * 1000:.0f} ms | {plain:.0f} | {plain / rendered:.0f} × |")
    print("\n| browser memory (its processes, from /proc) | RSS summed | PSS summed |")
    print("|---|---|---|")
    print(f"| launched, one page done, idle | {idle[0] / MB:.0f} MB | {idle[1] / MB:.0f} MB |")
    print(f"| peak while rendering | {peak[0] / MB:.0f} MB | {peak[1] / MB:.0f} MB |")
    print(f"\nbrowser processes now: {len(browser.pids())}; the crawler's own process (Python): "
          f"{self_rss() / MB:.0f} MB RSS")


async def main(docs: int, pages: int) -> None:
    async with Browser() as browser:
        if browser.executable is None:
            print("no Chromium found: trying Playwright's own")
        print(f"govarchive browser benchmark: {platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}, Chromium at {browser.executable}")
        await families(browser, docs)
        await throughput(browser, pages)
        print(f"\nbrowser launches: {browser.launches}, pages loaded: {browser.pages_loaded}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=60, help="documents per column")
    parser.add_argument("--pages", type=int, default=40, help="pages of each kind rendered for pages/s")
    args = parser.parse_args()
    asyncio.run(main(args.docs, args.pages))
