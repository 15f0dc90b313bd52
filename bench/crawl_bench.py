"""How fast, how big, how hungry: ``python bench/crawl_bench.py [--docs N] [--quick]``.

Against a generated site (bench/sitegen.py: 20–80 KB pages on 4 loopback hosts, served by a
separate process) with politeness delay 0, it measures:

- throughput: documents/second of a whole govarchive crawl (list pages, fetch, extract, store,
  ``crawler.crawl.crawl`` in this process on a fresh database) against a bare httpx loop GETting
  the same document URLs at the same concurrency (the physical limit on this machine), and
  against Scrapy fetching them with a trivial item pipeline (in a subprocess, CrawlerProcess);
  each repeated, alternating, medians reported; plus govarchive's CPU time per document;
- memory: peak RSS (VmHWM) of a crawl of 1,000 and of 5,000 documents, each in its own process;
- storage: database bytes per document (with its compressed raw capture), and the growth after
  10 unchanged ``--full`` re-crawls, split into the run log (fetches, runs) and everything else;
- the single writer: ``Archive.save`` calls per second on their own (already extracted documents).

Prints one table with targets. ``--quick`` is a small smoke run (the test suite uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import datetime as dt
import importlib
import importlib.util
import io
import json
import os
import platform
import pstats
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from sitegen import Layout, Running, serve

from crawler.extract import extract
from crawler.fetch import FetchResult
from crawler.store import Archive
from crawler.workers import WorkerPool

#: The engine module (``crawler.crawl`` the name is the function, re-exported by the package).
engine = importlib.import_module("crawler.crawl")

#: Run log tables: they grow with every crawl by design.
LOG_TABLES = ("fetches", "runs")


def concurrency() -> int:
    """Requests govarchive has in flight at most: sources at once × documents per source."""
    return engine.SOURCE_WORKERS * engine.DOCUMENT_WORKERS


# --- the fetchers ------------------------------------------------------------------------------
#
# Ceilings, each GETting the same document URLs at govarchive's concurrency and doing nothing else:
# a bare httpx loop, a bare aiohttp loop, and loops shaped like the crawler's own fetching
# (crawler.fetch.Fetcher per source, sources and documents at once as crawl() runs them, robots.txt,
# host limiter, bounded bodies), with httpx's default transport and with httpx-aiohttp's.


def aiohttp_transport() -> httpx.AsyncBaseTransport | None:
    """httpx-aiohttp's transport (one connection pool shared by every fetcher, closed by the
    bench), or None when the package is not installed."""
    try:
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        return None

    class Shared(httpx.AsyncBaseTransport):
        """The crawler closes its transport with each source's client; this one outlives them."""

        def __init__(self) -> None:
            self.inner = AiohttpTransport()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await self.inner.handle_async_request(request)

    return Shared()


async def bare_loop(urls: list[str], workers: int) -> tuple[int, float]:
    """GET every URL with one httpx client and ``workers`` tasks; (pages, seconds)."""
    queue = list(reversed(urls))
    got = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal got
        while queue:
            r = await client.get(queue.pop())
            got += r.status_code == 200 and len(r.content) > 0

    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(workers)))
        return got, time.perf_counter() - started


async def bare_aiohttp(urls: list[str], workers: int) -> tuple[int, float]:
    """The same loop with aiohttp itself (no httpx); (pages, seconds)."""
    import aiohttp

    queue = list(reversed(urls))
    got = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal got
        while queue:
            async with session.get(queue.pop()) as r:
                body = await r.read()  # before the +=, which would read ``got`` before awaiting
                got += r.status == 200 and len(body) > 0

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(workers)))
        return got, time.perf_counter() - started


async def fetcher_loop(site: Running, transport_kind: str) -> tuple[int, float]:
    """The crawler's own fetching of every document, and nothing else: a ``Fetcher`` per source,
    SOURCE_WORKERS sources at once, DOCUMENT_WORKERS documents each, one shared HostLimiter;
    (pages, seconds). ``transport_kind``: "httpx" (its default) or "httpx-aiohttp"."""
    from crawler.fetch import Fetcher

    sources = site.sources(delay=0.0)
    lay = site.layout
    limiter = engine.HostLimiter()
    transport = aiohttp_transport() if transport_kind == "httpx-aiohttp" else None
    slots = asyncio.Semaphore(engine.SOURCE_WORKERS)
    got = 0

    async def one(column: int) -> None:
        nonlocal got
        queue = [lay.doc_url(d, site.bases) for d in reversed(lay.column_docs(column))]
        async with slots, Fetcher(sources[column].settings, sources[column].origins, limiter=limiter,
                                  transport=transport) as fetcher:
            async def worker() -> None:
                nonlocal got
                while queue:
                    result = await fetcher.get(queue.pop())
                    got += len(result.content) > 0

            await asyncio.gather(*(worker() for _ in range(engine.DOCUMENT_WORKERS)))

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in range(lay.columns)))
    seconds = time.perf_counter() - started
    if transport is not None:
        await transport.inner.aclose()  # type: ignore[attr-defined]
    return got, seconds


def _cpu() -> float:
    """CPU seconds of this process and of its waited-for children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclass
class CrawlRun:
    docs: int
    seconds: float
    cpu: float
    requests: int
    failed: int


def govarchive_crawl(site: Running, db: Path, *, full: bool = False,
                     profile: cProfile.Profile | None = None, transport_kind: str = "httpx") -> CrawlRun:
    """One ``crawl`` of every column of ``site`` into ``db``, as ``govarchive crawl`` runs it.

    CPU time counts this process and its worker processes (parsing): they are the forkserver's
    children, not ours, so their time is read from /proc before the pool closes (the pool keeps
    its workers for the whole crawl)."""
    with Archive(db) as archive:
        before = archive.db["fetches"].count
        started, cpu = time.perf_counter(), _cpu()
        workers_cpu = 0.0

        async def run() -> list:
            nonlocal workers_cpu
            transport = aiohttp_transport() if transport_kind == "httpx-aiohttp" else None
            try:
                async with WorkerPool(max_calls=10**9) as pool:
                    reports = await engine.crawl(site.sources(delay=0.0), archive, full=full,
                                                 transport=transport, pool=pool)
                    workers_cpu = sum(_process_cpu(w.process.pid) for w in pool._workers)
                    return reports
            finally:
                if transport is not None:
                    await transport.inner.aclose()  # type: ignore[attr-defined]

        if profile:
            profile.enable()
        reports = asyncio.run(run())
        if profile:
            profile.disable()
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu + workers_cpu
        requests = archive.db["fetches"].count - before
    docs = sum(r.counts.new + r.counts.changed + r.counts.unchanged for r in reports)
    return CrawlRun(docs, seconds, cpu, requests, sum(r.counts.failed for r in reports))


SCRAPY_CHILD = r'''
import json, sys, time
import scrapy
from scrapy import signals
from scrapy.crawler import CrawlerProcess

urls = json.load(open(sys.argv[1]))
times = {}

class Count:
    items = 0
    def process_item(self, item, spider=None):
        Count.items += 1
        return item

class Pages(scrapy.Spider):
    name = "pages"
    start_urls = urls
    def parse(self, response):
        yield {"url": response.url, "title": response.css("title::text").get(), "size": len(response.body)}

process = CrawlerProcess(settings={
    "CONCURRENT_REQUESTS": int(sys.argv[2]), "CONCURRENT_REQUESTS_PER_DOMAIN": int(sys.argv[2]),
    "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": True, "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
    "ITEM_PIPELINES": {"__main__.Count": 100}, "USER_AGENT": "bench",
})
crawler = process.create_crawler(Pages)
def opened(spider):
    times["start"] = time.perf_counter()

def closed(spider, reason):
    times["end"] = time.perf_counter()

crawler.signals.connect(opened, signals.spider_opened)
crawler.signals.connect(closed, signals.spider_closed)
process.crawl(crawler)
process.start()
print(json.dumps({"items": Count.items, "seconds": times["end"] - times["start"]}))
'''


def scrapy_crawl(urls: list[str], workers: int, tmp: Path) -> tuple[int, float] | None:
    """Scrapy GETting ``urls`` in a child process; (items, seconds) or None without Scrapy."""
    try:
        import scrapy  # noqa: F401
    except ImportError:
        return None
    listing = tmp / "urls.json"
    listing.write_text(json.dumps(urls))
    script = tmp / "scrapy_child.py"
    script.write_text(SCRAPY_CHILD)
    out = subprocess.run([sys.executable, str(script), str(listing), str(workers)], check=False,
                         capture_output=True,
                         text=True, cwd=tmp)
    if out.returncode:
        raise RuntimeError(f"Scrapy child failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["items"], result["seconds"]


# --- politeness: many hosts, a real delay ------------------------------------------------------
#
# Each run in its own process (its peak RSS its own), against the same kind of site: ``hosts``
# hosts of ``columns`` columns of ``per_column`` documents, ``delay`` seconds between requests to a
# host. ``how``: "crawl" (``govarchive crawl``: SOURCE_WORKERS sources at once, in config order),
# "schedule" (``govarchive schedule``: the real SourceScheduler, every source its own APScheduler
# job, one worker pool, browser and host limiter; then every source again with ``--full``, all
# 304s, as a daily revisit) or "aiohttp" (the ceiling: a bare aiohttp loop making the same requests
# per host, robots.txt, list page, documents, one at a time, ``delay`` after each response).


@dataclass(frozen=True)
class Polite:
    hosts: int
    columns: int
    per_column: int
    delay: float
    how: str
    bodies: str = "bench"
    profile: str | None = None


def polite_child(spec: str) -> dict:
    return polite(Polite(**json.loads(spec)))


def measure_polite(spec: Polite) -> dict:
    """``polite`` in its own process, so its peak RSS is its own."""
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--polite-child",
                          json.dumps(dataclasses.asdict(spec))], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(f"polite child failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def polite(spec: Polite) -> dict:
    """One polite run (see above): requests/s against the most possible, this process's CPU
    share of a core and peak RSS; for "schedule" the same for the ``--full`` revisit
    (``again_*``). The most possible: one request per ``delay`` per host crawled at once, the
    first of each host's n requests at once ((n - 1) delays for n requests)."""
    layout = Layout(docs=spec.hosts * spec.columns * spec.per_column, hosts=spec.hosts,
                    per_column=spec.per_column, per_page=max(spec.per_column, 20), grouped=True,
                    bodies=spec.bodies)
    with serve(layout) as site, tempfile.TemporaryDirectory() as tmp:
        if spec.how == "aiohttp":
            figures = {"docs": 0, **_timed(lambda: asyncio.run(polite_aiohttp(site, spec.delay)), site)}
        else:
            with Archive(Path(tmp) / "p.db") as archive:
                figures = _polite_crawls(spec, site, archive)
    if spec.how == "crawl":
        figures["possible"] = min(spec.hosts, engine.SOURCE_WORKERS) / spec.delay
    for key in ("", "again_"):
        if key + "requests" in figures and spec.how != "crawl":
            per_host = figures[key + "requests"] / spec.hosts
            figures[key + "possible"] = figures[key + "requests"] / ((per_host - 1) * spec.delay)
    return {**figures, "rss_mb": peak_rss_kib() / 1024}


def _timed(run: Callable[[], int], site: Running, profile: str | None = None) -> dict:
    """Run ``run`` (which returns the requests it made): requests, seconds, rate, this process's
    CPU share of a core and per request, and the site server's CPU share; cProfile into ``profile``."""
    profiler = cProfile.Profile(time.process_time) if profile else None
    started, cpu, served = time.perf_counter(), time.process_time(), _process_cpu(site.process.pid)
    if profiler:
        profiler.enable()
    requests = run()
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"requests": requests, "seconds": seconds, "rate": requests / seconds, "cpu": cpu / seconds,
            "cpu_ms": cpu / max(requests, 1) * 1000, "server_cpu": (_process_cpu(site.process.pid) - served) / seconds}


def _process_cpu(pid: int) -> float:
    """CPU seconds (user and system) of process ``pid`` so far, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _polite_crawls(spec: Polite, site: Running, archive: Archive) -> dict:
    sources = site.sources(delay=spec.delay)
    docs = 0

    def crawl(full: bool) -> int:
        nonlocal docs
        before = archive.db["fetches"].count
        if spec.how == "crawl":
            reports = asyncio.run(engine.crawl(sources, archive, full=full))
        else:
            reports = asyncio.run(scheduled(sources, archive, full=full))
        assert len(reports) == len(sources) and not any(r.counts.failed for r in reports), reports[:3]
        docs = sum(r.counts.new + r.counts.changed + r.counts.unchanged for r in reports)
        return archive.db["fetches"].count - before

    figures = {**_timed(lambda: crawl(False), site, spec.profile), "docs": docs}
    if spec.how == "schedule":  # the daily revisit: every document again, answered 304
        again = _timed(lambda: crawl(True), site, spec.profile and spec.profile + ".revisit")
        figures.update({f"again_{k}": v for k, v in again.items()}, again_docs=docs)
    return figures


async def scheduled(sources: list, archive: Archive, *, full: bool) -> list:
    """Every source once through ``govarchive schedule``'s own SourceScheduler (APScheduler jobs,
    all due at start); returns when all have finished."""
    from crawler.schedule import SourceScheduler

    archive.sync_sources(sources)
    reports: list = []
    done = asyncio.Event()

    async def crawl_fn(source: object, archive: Archive, **shared: object) -> object:
        report = await engine.crawl_source(source, archive, full=full, **shared)
        reports.append(report)
        if len(reports) == len(sources):
            done.set()
        return report

    # Sources never crawled start at once; for the revisit, so do sources crawled a moment ago
    # (the scheduler's clock set 40 days on: past any schedule's period).
    ahead = dt.timedelta(days=40 if full else 0)
    jobs = SourceScheduler(sources, archive, crawl_fn=crawl_fn, clock=lambda: dt.datetime.now(dt.UTC) + ahead)
    jobs.start()
    try:
        await done.wait()
    finally:
        await jobs.stop(0)
        await jobs.pool.close()
    return reports


async def polite_aiohttp(site: Running, delay: float) -> int:
    """The ceiling: per host, robots.txt, its list pages and its documents, one request at a time
    with ``delay`` after each response, with one aiohttp session; the requests made."""
    import aiohttp

    lay = site.layout
    per_host: dict[int, list[str]] = {}
    for column in range(lay.columns):
        base = site.bases[lay.host_of(column)]
        urls = per_host.setdefault(lay.host_of(column), [base + "/robots.txt"])
        urls += [base + lay.list_path(column, p) for p in range(-(-len(lay.column_docs(column)) // lay.per_page))]
        urls += [lay.doc_url(d, site.bases) for d in lay.column_docs(column)]
    made = 0

    async def host(session: aiohttp.ClientSession, urls: list[str]) -> None:
        nonlocal made
        for i, url in enumerate(urls):
            if i:
                await asyncio.sleep(delay)
            async with session.get(url) as r:
                body = await r.read()
                assert r.status == 200 and body, (url, r.status)
            made += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, limit_per_host=1)) as session:
        await asyncio.gather(*(host(session, urls) for urls in per_host.values()))
    return made


# --- memory (each size in its own process) -----------------------------------------------------


def peak_rss_kib() -> int:
    """This process's peak RSS in KiB: VmHWM, the high-water mark of its own memory map.

    Not ``ru_maxrss``: Linux carries that across fork and exec, so a child started by a big
    parent (this bench holds a site's worth of pages) reports the parent's size as its own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def memory_child(docs: int, per_column: int) -> dict:
    """Crawl a fresh site of ``docs`` documents; this process's peak RSS before and after."""
    with serve(Layout(docs=docs, per_column=per_column, bodies="corpus")) as site, \
            tempfile.TemporaryDirectory() as tmp:
        baseline = peak_rss_kib()
        run = govarchive_crawl(site, Path(tmp) / "mem.db")
    return {"docs": run.docs, "baseline_mb": baseline / 1024, "peak_mb": peak_rss_kib() / 1024}


def measure_memory(docs: int, per_column: int) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory-child", str(docs),
                          "--per-column", str(per_column)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- storage -----------------------------------------------------------------------------------


def table_bytes(db: Path) -> dict[str, int]:
    """Bytes per table, its indexes (and FTS shadow tables) counted with it, after a checkpoint."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("pragma wal_checkpoint(truncate)")
        owner = {name: tbl for name, tbl in conn.execute("select name, tbl_name from sqlite_master")}
        sizes: dict[str, int] = {}
        for name, size in conn.execute("select name, sum(pgsize) from dbstat group by name"):
            table = owner.get(name, name)
            table = "documents_fts" if table.startswith("documents_fts") else table
            sizes[table] = sizes.get(table, 0) + size
        page_size = conn.execute("pragma page_size").fetchone()[0]
        sizes["(free pages)"] = conn.execute("pragma freelist_count").fetchone()[0] * page_size
        return sizes
    finally:
        conn.close()


def file_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


# --- the single writer -------------------------------------------------------------------------


def save_rate(source_db: Path, tmp: Path, limit: int) -> tuple[int, float, float]:
    """``Archive.save`` of already fetched and extracted documents into a fresh database:
    (saves, saves/s, extract/s of the same pages)."""
    conn = sqlite3.connect(source_db)
    rows = conn.execute("select url, final_url, status, headers, content, fetched from captures"
                        " order by id limit ?", [limit]).fetchall()
    conn.close()
    results = [FetchResult(url=u, final_url=f, status=s, headers=json.loads(h), content=zlib.decompress(c),
                           charset="utf-8", fetched_at=dt.datetime.fromisoformat(t)) for u, f, s, h, c, t in rows]
    started = time.perf_counter()
    docs = [extract(r.content, r.final_url, encoding=r.charset) for r in results]
    extract_rate = len(docs) / (time.perf_counter() - started)
    with Archive(tmp / "writer.db") as archive:
        archive.db["sources"].insert({"name": "bench"})
        started = time.perf_counter()
        for r, d in zip(results, docs, strict=True):
            archive.save("bench", r, d, next_visit=None)
        seconds = time.perf_counter() - started
    return len(results), len(results) / seconds, extract_rate


# --- the report --------------------------------------------------------------------------------


@dataclass
class Figures:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, what: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append((what, value, target, "" if met is None else ("yes" if met else "NO")))

    def print(self, title: str) -> None:
        widths = [max(len(r[i]) for r in [("measure", "value", "target", "met"), *self.rows])
                  for i in range(4)]
        print(title)
        for i, row in enumerate([("measure", "value", "target", "met"), *self.rows]):
            print("  " + "  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
            if i == 0:
                print("  " + "  ".join("-" * w for w in widths))


def _pad(text: str, width: int) -> str:
    # CJK characters take two columns; this table has none, so len() is the width.
    return text + " " * (width - len(text))


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{dt.datetime.now():%Y-%m-%d %H:%M}, {model}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


#: The rows of the throughput table: which pages, and the targets on them (issue 16).
ROWS = {"corpus": "corpus-sized pages", "bench": "bench pages (15,000-character bodies)"}
#: govarchive's docs/s as a share of each ceiling, per row: at least this much.
TARGETS = {"corpus": {"Scrapy (fetch only)": 1.0, "bare httpx loop": 1.0}, "bench": {"Scrapy (fetch only)": 0.4}}
#: CPU milliseconds per new document, per unchanged (304) one; database KiB per bench-page document.
CPU_NEW_MS, CPU_304_MS, KIB_PER_DOC = 5.0, 1.0, 60.0


@dataclass
class Row:
    """The throughput of every fetcher on one kind of page (docs/s of each run)."""

    rates: dict[str, list[float]] = field(default_factory=dict)
    cpu_per_doc: list[float] = field(default_factory=list)

    def add(self, name: str, pages: int, seconds: float) -> None:
        self.rates.setdefault(name, []).append(pages / seconds)

    def median(self, name: str) -> float:
        return statistics.median(self.rates[name])


def throughput(site: Running, tmp: Path, args: argparse.Namespace, row: Row, profile: str | None) -> CrawlRun:
    """Every fetcher in turn, ``args.repeat`` times; the last govarchive crawl's database stays."""
    urls, workers = site.doc_urls(), concurrency()
    asyncio.run(bare_loop(urls[:50], workers))  # warm up the server's sockets and this process
    db = tmp / "throughput.db"
    kinds = ["httpx", *(["httpx-aiohttp"] if aiohttp_transport() else [])]
    # aiohttp comes with the bench extra; the test extra's smoke run measures without it.
    bare = [("bare httpx loop", bare_loop),
            *([("bare aiohttp loop", bare_aiohttp)] if importlib.util.find_spec("aiohttp") else [])]
    for n in range(args.repeat):
        for name, fetch in bare:
            got, seconds = asyncio.run(fetch(urls, workers))
            assert got == len(urls), f"{name} got {got} of {len(urls)} pages"
            row.add(name, got, seconds)
        for kind in kinds:
            got, seconds = asyncio.run(fetcher_loop(site, kind))
            assert got == len(urls), f"Fetcher loop got {got} of {len(urls)} pages"
            row.add(f"Fetcher loop ({kind})", got, seconds)
        for kind in reversed(kinds):  # the default transport last: its database is the one measured
            for f in tmp.glob("throughput.db*"):
                f.unlink()
            cprofile = cProfile.Profile(time.process_time) if profile and n == 0 and kind == "httpx" else None
            run = govarchive_crawl(site, db, profile=cprofile, transport_kind=kind)
            if cprofile and profile:
                cprofile.dump_stats(profile)
            assert run.docs == len(urls) and run.failed == 0, f"govarchive archived {run.docs}, {run.failed} failed"
            row.add("govarchive crawl" + ("" if kind == "httpx" else f" ({kind})"), run.docs, run.seconds)
            if kind == "httpx":
                row.cpu_per_doc.append(run.cpu / run.docs)
        scraped = None if args.no_scrapy else scrapy_crawl(urls, workers, tmp)
        if scraped:
            assert scraped[0] == len(urls), f"Scrapy got {scraped[0]} of {len(urls)} pages"
            row.add("Scrapy (fetch only)", *scraped)
        print(f"  run {n + 1}: " + ", ".join(f"{k} {v[-1]:.0f}/s" for k, v in row.rates.items()), flush=True)
    return run


def report_row(figures: Figures, key: str, row: Row) -> None:
    ours = row.median("govarchive crawl")
    figures.add(f"[{ROWS[key]}]", "")
    for name in row.rates:
        label = name + (": fetching, extracting, storing" if name == "govarchive crawl" else
                        ": fetching only, trivial pipeline" if name.startswith("Scrapy") else "")
        figures.add(f"  {label}, docs/s", f"{row.median(name):.0f}")
    for name in row.rates:
        if name == "govarchive crawl":
            continue
        target = TARGETS[key].get(name)
        ratio = ours / row.median(name)
        figures.add(f"  govarchive / {name}", f"{ratio:.2f}", "" if target is None else f">= {target:g}",
                    None if target is None else ratio >= target)
    cpu = statistics.median(row.cpu_per_doc) * 1000
    figures.add("  govarchive CPU per new document (crawling process and its workers)", f"{cpu:.2f} ms", f"<= {CPU_NEW_MS:g} ms", cpu <= CPU_NEW_MS)


def report_storage(figures: Figures, key: str, db: Path, docs: int, page_bytes: int) -> dict[str, int]:
    tables, size = table_bytes(db), file_bytes(db)
    per_doc = size / docs / 1024
    target = KIB_PER_DOC if key == "bench" else None
    figures.add(f"  database per document, {ROWS[key]}", f"{per_doc:.1f} KiB",
                "" if target is None else f"<= {target:g} KiB", None if target is None else per_doc <= target)
    figures.add("    of which raw captures (zlib)", f"{tables.get('captures', 0) / docs / 1024:.1f} KiB "
                f"(page {page_bytes / docs / 1024:.1f} KiB)")
    figures.add("    of which full-text index", f"{tables.get('documents_fts', 0) / docs / 1024:.1f} KiB")
    figures.add("    of which documents, versions (the text, current and as versions)",
                f"{tables.get('documents', 0) / docs / 1024:.1f} KiB, {tables.get('versions', 0) / docs / 1024:.1f} KiB")
    return tables


def recrawls(figures: Figures, site: Running, db: Path, count: int) -> None:
    """Unchanged ``--full`` re-crawls (all 304s): their CPU per document, and what they add."""
    docs = len(site.doc_urls())
    before_tables, before_file = table_bytes(db), file_bytes(db)
    revisit_cpu = []
    for _ in range(count):
        again = govarchive_crawl(site, db, full=True)
        assert again.docs == docs and again.failed == 0
        revisit_cpu.append(again.cpu / again.docs)
    after_tables, after_file = table_bytes(db), file_bytes(db)
    grown = {t: after_tables.get(t, 0) - before_tables.get(t, 0) for t in set(after_tables) | set(before_tables)}
    log = sum(v for t, v in grown.items() if t in LOG_TABLES)
    other = sum(v for t, v in grown.items() if t not in LOG_TABLES)
    cpu = statistics.median(revisit_cpu) * 1000
    figures.add("govarchive CPU per unchanged document (304; process and workers)", f"{cpu:.2f} ms", f"<= {CPU_304_MS:g} ms",
                cpu <= CPU_304_MS)
    figures.add(f"growth after {count} unchanged --full re-crawls", f"{(after_file - before_file) / 1024:.0f} KiB file")
    figures.add("  run log (fetches, runs)", f"{log / 1024:.0f} KiB "
                f"({log / count / docs:.0f} B per document per crawl)")
    figures.add("  everything else", f"{other / 1024:.0f} KiB", "0 (no growth)", other <= 0)


def many_hosts(figures: Figures, args: argparse.Namespace) -> None:
    """The polite rows: 8 hosts through ``crawl``; ``--hosts`` hosts at 1 request/s each through the
    scheduler (first crawl and revisit), with the bare aiohttp loop's figures as the ceiling."""
    runs = [(Polite(8, 4, 10, 0.2, "crawl", args.polite_bodies), "crawl(), config order")]
    if importlib.util.find_spec("aiohttp"):
        runs.append((Polite(args.hosts, 1, 10, 1.0, "aiohttp", args.polite_bodies), "bare aiohttp loop (ceiling)"))
    runs.append((Polite(args.hosts, 1, 10, 1.0, "schedule", args.polite_bodies, args.polite_profile),
                  "govarchive schedule, first crawl"))
    load = os.getloadavg()[0]
    ceiling: float | None = None
    for spec, how in runs:
        print(f"polite: {spec.hosts} hosts, {how} …", flush=True)
        p = measure_polite(spec)
        if spec.how == "aiohttp":
            ceiling = p["rate"]
        rows = [(how, "")] + ([("govarchive schedule, revisit (all 304)", "again_")] if spec.how == "schedule" else [])
        for label, key in rows:
            busy = p[key + "rate"] / p[key + "possible"]
            target = spec.how == "schedule"
            versus = f", {p[key + 'rate'] / ceiling:.2f} × the aiohttp loop" if target and ceiling else ""
            figures.add(f"polite: {spec.hosts} hosts × {spec.columns} columns, delay {spec.delay:g} s, {label}",
                        f"{p[key + 'rate']:.1f} req/s of {p[key + 'possible']:.0f} possible ({busy:.0%}{versus}), "
                        f"CPU {p[key + 'cpu']:.0%} of a core ({p[key + 'cpu_ms']:.1f} ms a request), "
                        f"peak RSS {p['rss_mb']:.0f} MB; site server {p[key + 'server_cpu']:.0%} of a core", ">= 95% of possible" if target else "",
                        busy >= 0.95 if target else None)
    figures.add("  (load average, 1 minute, before / after the polite runs)",
                f"{load:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for profile in (args.polite_profile, args.polite_profile and args.polite_profile + ".revisit"):
        if profile:
            text = io.StringIO()
            stats = pstats.Stats(profile, stream=text)
            stats.sort_stats("cumulative").print_stats("crawler/", 30)
            stats.sort_stats("tottime").print_stats(20)
            print(text.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="govarchive crawl throughput, memory and storage")
    parser.add_argument("--docs", type=int, default=2000, help="documents in the throughput site")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fetcher (medians reported)")
    parser.add_argument("--rows", default="corpus,bench", help="which pages: corpus, bench or both")
    parser.add_argument("--recrawls", type=int, default=10, help="unchanged --full re-crawls for storage")
    parser.add_argument("--memory-sizes", default="2000,20000", help="documents per memory run")
    parser.add_argument("--hosts", type=int, default=500, help="hosts of the many-hosts run at 1 request/s")
    parser.add_argument("--no-scrapy", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-polite", dest="polite", action="store_false",
                        help="skip the many-hosts runs with a real delay")
    parser.add_argument("--profile", metavar="FILE", help="cProfile (CPU time) one govarchive crawl into FILE")
    parser.add_argument("--polite-only", action="store_true",
                        help="only the polite (many-hosts) runs: no throughput rows, no memory runs")
    parser.add_argument("--polite-bodies", choices=("bench", "corpus"), default="bench",
                        help="pages of the polite runs (default: bench pages)")
    parser.add_argument("--polite-profile", metavar="FILE",
                        help="cProfile the crawling process of the many-hosts first crawl into FILE, "
                             "its revisit into FILE.revisit (summaries printed)")
    parser.add_argument("--per-column", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--polite-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.per_column)))
        return 0
    if args.polite_child:
        print(json.dumps(polite_child(args.polite_child)))
        return 0
    if args.quick:
        args.docs, args.repeat, args.recrawls, args.memory_sizes = 80, 1, 2, "40,80"
        args.per_column, args.polite = 40, False
    if args.polite_only:
        args.rows, args.no_memory, args.polite = "", True, True
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    workers = concurrency()
    figures = Figures()
    rows = [r for r in args.rows.split(",") if r]
    for key in rows:
        # As many hosts as sources crawled at once: govarchive keeps one request in flight per host.
        layout = Layout(docs=args.docs, per_column=args.per_column, bodies=key, hosts=engine.SOURCE_WORKERS)
        with serve(layout) as site, tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            urls = site.doc_urls()
            print(f"{ROWS[key]}: {layout.docs} documents, {layout.columns} columns on {layout.hosts} hosts, "
                  f"{site.info['bytes'] / layout.docs / 1024:.0f} KiB a page on average "
                  f"({site.info['min_bytes'] // 1024}–{site.info['max_bytes'] // 1024} KiB), "
                  f"{site.info.get('body_chars', 0):.0f} characters of body (median), "
                  f"{site.info.get('density', 0):.2f} distinct tokens per character; "
                  f"peers' concurrency {workers} ({engine.SOURCE_WORKERS} sources × {engine.DOCUMENT_WORKERS}"
                  f" documents); govarchive's {engine.SOURCE_WORKERS} (one request in flight per host)",
                  flush=True)
            row = Row()
            run = throughput(site, tmp, args, row, args.profile if key == rows[0] else None)
            report_row(figures, key, row)
            db = tmp / "throughput.db"
            figures.add("  requests per document (first crawl)", f"{run.requests / len(urls):.3f}")
            report_storage(figures, key, db, len(urls), site.info["bytes"])
            if key == rows[0]:
                recrawls(figures, site, db, args.recrawls)
                writes, rate, extract_rate = save_rate(db, tmp, 1000)
                figures.add(f"Archive.save alone ({writes} new documents, {ROWS[key]})", f"{rate:.0f}/s")
                figures.add("extract alone (same pages)", f"{extract_rate:.0f}/s")

    if args.polite:
        many_hosts(figures, args)

    if not args.no_memory:
        peaks = []
        for n in sizes:
            m = measure_memory(n, args.per_column)
            peaks.append(m["peak_mb"])
            figures.add(f"peak RSS, crawl of {m['docs']} documents (corpus-sized pages)",
                        f"{m['peak_mb']:.0f} MB (after imports {m['baseline_mb']:.0f} MB)",
                        "< 200 MB", m["peak_mb"] < 200)
        if len(peaks) > 1:
            figures.add(f"peak RSS growth {sizes[0]} → {sizes[-1]} documents", f"{peaks[-1] / peaks[0]:.2f}×",
                        "<= 1.2× (flat)", peaks[-1] / peaks[0] <= 1.2)

    print()
    figures.print(f"crawl bench — {machine()}\nsites of {args.docs} documents, delay 0, concurrency {workers}, "
                  f"{args.repeat} runs each (medians)")
    if args.profile:
        text = io.StringIO()
        pstats.Stats(args.profile, stream=text).sort_stats("cumulative").print_stats("crawler/", 25)
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
