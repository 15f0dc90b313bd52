"""Export size, time and memory: ``python bench/export_bench.py [--docs N] [--scale N] [--quick]``.

1. The bench site (bench/sitegen.py, 20–80 KB pages on 4 loopback hosts) is crawled into a fresh
   archive, then re-crawled with ``--full`` (the server answers 304s: revisit records).
2. ``govarchive export`` to WARC and to WACZ, timed, against the peers on the same input: the
   crawl that made the archive, and py-wacz packaging the same WARC (``wacz create``), when installed.
3. Flat memory: synthetic archives of ``--scale``/10 and ``--scale`` captures (5 KB pages) are
   exported in child processes; their peak RSS (VmHWM) should be the same.

Prints one table; the figures that matter are ratios measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from crawl_bench import Figures, machine, peak_rss_kib
from sitegen import Layout, serve

from crawler.crawl import crawl
from crawler.export import export_archive
from crawler.store import Archive


def crawled(db: Path, docs: int) -> float:
    """Crawl a generated site of ``docs`` documents into ``db``, then once more with --full; seconds of the first."""
    with serve(Layout(docs=docs)) as site, Archive(db) as archive:
        started = time.perf_counter()
        asyncio.run(crawl(site.sources(delay=0.0), archive))
        seconds = time.perf_counter() - started
        asyncio.run(crawl(site.sources(delay=0.0), archive, full=True))
    return seconds


def synthetic(db: Path, captures: int) -> None:
    """An archive of ``captures`` distinct 5 KB pages, written directly (no crawl)."""
    with Archive(db) as archive:
        conn = archive.db.conn
        conn.execute("insert into sources (name) values ('s')")
        filler = "政府信息公开目录".encode() * 200
        with conn:
            for i in range(captures):
                page = b"<html><body><p>%d</p>" % i + filler + b"</body></html>"
                doc = conn.execute("insert into documents (url, source, title) values (?, 's', ?)",
                                   [f"http://127.0.0.1/d/{i}.html", f"doc {i}"]).lastrowid
                conn.execute("insert into captures (document_id, fetched, url, final_url, status, headers, size,"
                             " sha256, content) values (?, '2025-01-01T00:00:00+00:00', ?, ?, 200, ?, ?, ?, ?)",
                             [doc, f"http://127.0.0.1/d/{i}.html", f"http://127.0.0.1/d/{i}.html",
                              '{"content-type": "text/html; charset=utf-8"}', len(page),
                              hashlib.sha256(page).hexdigest(), zlib.compress(page)])


def memory_child(captures: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "big.db"
        synthetic(db, captures)
        with Archive(db) as archive:
            baseline = peak_rss_kib()
            started = time.perf_counter()
            report = export_archive(archive, Path(tmp) / "big.warc.gz")
            seconds = time.perf_counter() - started
    return {"captures": report.responses, "seconds": seconds, "bytes": report.bytes,
            "baseline_mb": baseline / 1024, "peak_mb": peak_rss_kib() / 1024}


def measure_memory(captures: int) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--memory-child", str(captures)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed_export(db: Path, out: Path, fmt: str) -> tuple[float, int, dict]:
    with Archive(db) as archive:
        started = time.perf_counter()
        report = export_archive(archive, out, format="wacz" if fmt == "wacz" else "warc")
        seconds = time.perf_counter() - started
    return seconds, report.bytes, vars(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="govarchive export size, time and memory")
    parser.add_argument("--docs", type=int, default=2000, help="documents in the bench site")
    parser.add_argument("--scale", type=int, default=100_000, help="captures in the larger memory run")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds)")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child)))
        return 0
    if args.quick:
        args.docs, args.scale = 60, 2000
    figures = Figures()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "bench.db"
        crawl_seconds = crawled(db, args.docs)
        with Archive(db) as archive:
            captures, raw, stored = archive.db.execute(
                "select count(*), sum(size), sum(length(content)) from captures").fetchone()
        figures.add("bench site", f"{captures} captures: {raw / 1e6:.1f} MB raw, "
                    f"{stored / 1e6:.1f} MB compressed in the archive")
        figures.add("govarchive crawl (first pass)", f"{crawl_seconds:.1f} s")
        warc_s, warc_b, report = timed_export(db, work / "site.warc.gz", "warc")
        figures.add("export --format warc", f"{warc_s:.1f} s, {captures / warc_s:.0f} captures/s; "
                    f"{warc_s / crawl_seconds:.2f} × the crawl's time")
        figures.add("  WARC size", f"{warc_b / 1e6:.1f} MB = {warc_b / raw:.2f} × raw, "
                    f"{warc_b / stored:.2f} × the archive's compressed captures")
        figures.add("  records", f"{report['responses']} responses, {report['revisits']} revisits, "
                    f"{report['files']} files")
        wacz_s, wacz_b, report = timed_export(db, work / "site.wacz", "wacz")
        figures.add("export --format wacz", f"{wacz_s:.1f} s, {wacz_b / 1e6:.1f} MB, {report['pages']} pages")
        peer = shutil.which("wacz") or str(Path(sys.executable).parent / "wacz")
        if Path(peer).exists():
            started = time.perf_counter()
            subprocess.run([peer, "create", "-o", str(work / "peer.wacz"), str(work / "site.warc.gz")],
                           capture_output=True, check=True)
            peer_s = time.perf_counter() - started
            figures.add("py-wacz create (same WARC, no pages)", f"{peer_s:.1f} s; govarchive's WARC→WACZ "
                        f"packaging {max(wacz_s - warc_s, 0.0):.1f} s")
        small, large = measure_memory(args.scale // 10), measure_memory(args.scale)
        for run in (small, large):
            figures.add(f"export of {run['captures']} synthetic captures",
                        f"{run['seconds']:.1f} s, {run['bytes'] / 1e6:.0f} MB; peak RSS {run['peak_mb']:.0f} MB "
                        f"(+{run['peak_mb'] - run['baseline_mb']:.1f} MB over the open archive)")
        growth = (large["peak_mb"] - large["baseline_mb"]) - (small["peak_mb"] - small["baseline_mb"])
        figures.add("  memory growth for 10× the captures", f"{growth:+.1f} MB", "flat", abs(growth) < 20)
    figures.print(f"govarchive export ({machine()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
