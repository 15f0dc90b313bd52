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
import datetime as dt
import importlib
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

#: The engine module (``crawler.crawl`` the name is the function, re-exported by the package).
engine = importlib.import_module("crawler.crawl")

#: Run log tables: they grow with every crawl by design.
LOG_TABLES = ("fetches", "runs")


def concurrency() -> int:
    """Requests govarchive has in flight at most: sources at once × documents per source."""
    return engine.SOURCE_WORKERS * engine.DOCUMENT_WORKERS


# --- the three fetchers ------------------------------------------------------------------------


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


@dataclass
class CrawlRun:
    docs: int
    seconds: float
    cpu: float
    requests: int
    failed: int


def govarchive_crawl(site: Running, db: Path, *, full: bool = False,
                     profile: cProfile.Profile | None = None) -> CrawlRun:
    """One ``crawl`` of every column of ``site`` into ``db``, as ``govarchive crawl`` runs it."""
    with Archive(db) as archive:
        before = archive.db["fetches"].count
        started, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        reports = asyncio.run(engine.crawl(site.sources(delay=0.0), archive, full=full))
        if profile:
            profile.disable()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
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


def polite(hosts: int, columns_per_host: int, per_column: int, delay: float, *, scheduler: bool) -> dict:
    """Crawl ``hosts`` hosts of ``columns_per_host`` columns each with ``delay`` between requests to
    a host: as ``govarchive crawl`` does (``crawl``, SOURCE_WORKERS sources at once, in config
    order: a site's columns together) or as ``govarchive schedule`` does (every source its own task).
    The ceiling is one request per ``delay`` per host crawled at once."""
    layout = Layout(docs=hosts * columns_per_host * per_column, hosts=hosts, per_column=per_column,
                    per_page=max(per_column, 20), grouped=True)
    with serve(layout) as site, tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "p.db") as archive:
        sources = site.sources(delay=delay)

        async def run() -> list:
            if not scheduler:
                return await engine.crawl(sources, archive)
            archive.sync_sources(sources)
            limiter = engine.HostLimiter()
            return list(await asyncio.gather(*(engine.crawl_source(s, archive, limiter=limiter)
                                               for s in sources)))

        started, cpu = time.perf_counter(), time.process_time()
        reports = asyncio.run(run())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        requests = archive.db["fetches"].count
    docs = sum(r.counts.new for r in reports)
    busy = hosts if scheduler else min(hosts, engine.SOURCE_WORKERS)
    return {"docs": docs, "requests": requests, "seconds": seconds, "rate": requests / seconds,
            "ceiling": busy / delay, "cpu": cpu / seconds}


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
    with serve(Layout(docs=docs, per_column=per_column)) as site, tempfile.TemporaryDirectory() as tmp:
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
        for r, d in zip(results, docs, strict=False):
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
            print("  " + "  ".join(_pad(c, w) for c, w in zip(row, widths, strict=False)).rstrip())
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


def _peer_figures(figures: Figures, peer: list[float], ours: float) -> None:
    """Scrapy's throughput and ours against it (the median of the runs), if Scrapy ran."""
    if not peer:
        figures.add("Scrapy", "not run (not installed or --no-scrapy)")
        return
    p = statistics.median(peer)
    figures.add("Scrapy (fetch + trivial pipeline), docs/s", f"{p:.0f}")
    figures.add("govarchive / Scrapy", f"{ours / p:.2f}", ">= 1.0", ours / p >= 1.0)


def _quick(args: argparse.Namespace) -> argparse.Namespace:
    """``--quick``: a small smoke run."""
    if args.quick:
        args.docs, args.repeat, args.recrawls, args.memory_sizes = 80, 1, 2, "40,80"
        args.per_column, args.polite = 40, False
    return args


def _crawl_once(site: Running, db: Path, profile_path: str | None) -> CrawlRun:
    """One govarchive crawl of the site, cProfiled into ``profile_path`` if given."""
    profile = cProfile.Profile() if profile_path else None
    run = govarchive_crawl(site, db, profile=profile)
    if profile and profile_path:
        profile.dump_stats(profile_path)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="govarchive crawl throughput, memory and storage")
    parser.add_argument("--docs", type=int, default=2000, help="documents in the throughput site")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each fetcher (medians reported)")
    parser.add_argument("--recrawls", type=int, default=10, help="unchanged --full re-crawls for storage")
    parser.add_argument("--memory-sizes", default="1000,5000", help="documents per memory run")
    parser.add_argument("--no-scrapy", action="store_true")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-polite", dest="polite", action="store_false",
                        help="skip the many-hosts runs with a real delay")
    parser.add_argument("--profile", metavar="FILE", help="cProfile one govarchive crawl into FILE")
    parser.add_argument("--per-column", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = _quick(parser.parse_args(argv))
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.per_column)))
        return 0
    sizes = [int(s) for s in args.memory_sizes.split(",") if s]
    workers = concurrency()
    layout = Layout(docs=args.docs, per_column=args.per_column)
    figures = Figures()
    bare: list[float] = []
    ours: list[float] = []
    peer: list[float] = []
    cpu_per_doc: list[float] = []
    with serve(layout) as site, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        urls = site.doc_urls()
        print(f"site: {layout.docs} documents, {layout.columns} columns on {layout.hosts} hosts, "
              f"{site.info['bytes'] / layout.docs / 1024:.0f} KiB a page on average "
              f"({site.info['min_bytes'] // 1024}–{site.info['max_bytes'] // 1024} KiB); "
              f"concurrency {workers} ({engine.SOURCE_WORKERS} sources × {engine.DOCUMENT_WORKERS} documents)",
              flush=True)
        asyncio.run(bare_loop(urls[:50], workers))  # warm up the server's sockets and this process
        db = tmp / "throughput.db"
        for n in range(args.repeat):
            got, seconds = asyncio.run(bare_loop(urls, workers))
            assert got == len(urls), f"bare loop got {got} of {len(urls)} pages"
            bare.append(got / seconds)
            for f in tmp.glob("throughput.db*"):
                f.unlink()
            run = _crawl_once(site, db, args.profile if n == 0 else None)
            assert run.docs == len(urls) and run.failed == 0, f"govarchive archived {run.docs}, {run.failed} failed"
            ours.append(run.docs / run.seconds)
            cpu_per_doc.append(run.cpu / run.docs)
            scraped = None if args.no_scrapy else scrapy_crawl(urls, workers, tmp)
            if scraped:
                assert scraped[0] == len(urls), f"Scrapy got {scraped[0]} of {len(urls)} pages"
                peer.append(scraped[0] / scraped[1])
            print(f"  run {n + 1}: bare {bare[-1]:.0f}/s, govarchive {ours[-1]:.1f}/s"
                  + (f", Scrapy {peer[-1]:.0f}/s" if peer else ""), flush=True)
        first_requests = run.requests
        b, o = statistics.median(bare), statistics.median(ours)
        figures.add("bare httpx loop, docs/s", f"{b:.0f}")
        figures.add("govarchive crawl, docs/s", f"{o:.1f}")
        figures.add("govarchive / bare loop", f"{o / b:.2f}", ">= 0.6", o / b >= 0.6)
        _peer_figures(figures, peer, o)
        figures.add("govarchive CPU per document", f"{statistics.median(cpu_per_doc) * 1000:.1f} ms")
        figures.add("govarchive requests per document (first crawl)", f"{first_requests / len(urls):.3f}")

        # Storage: what the first crawl left, then unchanged re-crawls.
        before_tables, before_file = table_bytes(db), file_bytes(db)
        figures.add("database bytes per document (first crawl)", f"{before_file / len(urls) / 1024:.1f} KiB")
        figures.add("  of which raw captures (zlib)",
                    f"{before_tables.get('captures', 0) / len(urls) / 1024:.1f} KiB "
                    f"(page {site.info['bytes'] / len(urls) / 1024:.1f} KiB)")
        figures.add("  of which full-text index", f"{before_tables.get('documents_fts', 0) / len(urls) / 1024:.1f} KiB")
        revisit_cpu = []
        for _ in range(args.recrawls):
            again = govarchive_crawl(site, db, full=True)
            assert again.docs == len(urls) and again.failed == 0
            revisit_cpu.append(again.cpu / again.docs)
        after_tables, after_file = table_bytes(db), file_bytes(db)
        grown = {t: after_tables.get(t, 0) - before_tables.get(t, 0) for t in set(after_tables) | set(before_tables)}
        log = sum(v for t, v in grown.items() if t in LOG_TABLES)
        other = sum(v for t, v in grown.items() if t not in LOG_TABLES)
        figures.add("govarchive CPU per unchanged document (304)", f"{statistics.median(revisit_cpu) * 1000:.1f} ms")
        figures.add(f"growth after {args.recrawls} unchanged --full re-crawls",
                    f"{(after_file - before_file) / 1024:.0f} KiB file")
        figures.add("  run log (fetches, runs)", f"{log / 1024:.0f} KiB "
                    f"({log / args.recrawls / len(urls):.0f} B per document per crawl)")
        figures.add("  everything else", f"{other / 1024:.0f} KiB", "0 (no growth)", other <= 0,)

        writes, rate, extract_rate = save_rate(db, tmp, 1000)
        figures.add(f"Archive.save alone ({writes} new documents)", f"{rate:.0f}/s")
        figures.add("extract alone (same pages)", f"{extract_rate:.0f}/s")

    if args.polite:
        for hosts, columns, per_column, delay, scheduler in ((8, 4, 10, 0.2, False), (64, 1, 20, 1.0, True)):
            p = polite(hosts, columns, per_column, delay, scheduler=scheduler)
            how = "every source its own task (schedule)" if scheduler else "crawl(), config order"
            figures.add(f"polite: {hosts} hosts × {columns} columns, delay {delay:g} s, {how}",
                        f"{p['rate']:.1f} req/s of {p['ceiling']:.0f} possible, CPU {p['cpu']:.0%} of a core")

    if not args.no_memory:
        peaks = []
        for n in sizes:
            m = measure_memory(n, args.per_column)
            peaks.append(m["peak_mb"])
            figures.add(f"peak RSS, crawl of {m['docs']} documents",
                        f"{m['peak_mb']:.0f} MB (after imports {m['baseline_mb']:.0f} MB)",
                        "< 200 MB", m["peak_mb"] < 200)
        if len(peaks) > 1:
            figures.add(f"peak RSS growth {sizes[0]} → {sizes[-1]} documents", f"{peaks[-1] / peaks[0]:.2f}×",
                        "<= 1.2×", peaks[-1] / peaks[0] <= 1.2)

    print()
    figures.print(f"crawl bench — {machine()}\nsite of {layout.docs} documents, delay 0, concurrency {workers}, "
                  f"{args.repeat} runs each (medians)")
    if args.profile:
        text = io.StringIO()
        pstats.Stats(args.profile, stream=text).sort_stats("cumulative").print_stats("crawler/", 25)
        print(text.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
