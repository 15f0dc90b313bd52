"""Unattended daily collection: ``python bench/recrawl_bench.py [--docs 2000] [--days 31]``.

1. A generated site (bench/sitegen.py) of 2,000 documents is crawled once.
2. It is crawled again, unchanged, the way the daily schedule does (not ``--full``): its requests,
   counted at the server and in the ``fetches`` table, must be at most 5 % of the first crawl's.
3. One old document is changed and another removed on the server. Then days pass on a simulated
   clock, with one ordinary crawl per day, until both are noticed.

The simulated clock. The crawler learns that time has passed in one place only: ``Archive.due``
compares each document's ``next_visit`` with the current time. Letting a day pass is therefore the
same, for it, as moving every stored ``next_visit`` one day earlier, which is what this bench does
between two crawls (a plain UPDATE of ``documents.next_visit``; nothing else is touched). The one
thing it does not age is a document's age: ``revisit_interval`` (a quarter of the document's age,
clamped to ``revisit_min_days``..``revisit_max_days``, 1..30 days by default) is computed at each
fetch from the real date, so young documents get slightly shorter intervals than they would after
real days: more requests, never fewer, so the request counts err high.

Prints the request counts of each crawl, the revisit intervals of the two documents, and the day each
was noticed next to its worst case.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import sqlite3
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from sitegen import Layout, Running, serve

from crawler.config import Settings
from crawler.crawl import revisit_interval
from crawler.store import Archive

engine = importlib.import_module("crawler.crawl")


@dataclass
class Pass:
    label: str
    server: int  # requests the server answered (robots.txt, list pages, documents, 404s)
    fetches: int  # rows the crawl added to the fetches table
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    by_kind: str = ""


def crawl_once(site: Running, db: Path, label: str) -> Pass:
    site.reset()
    with Archive(db) as archive:
        before = archive.db["fetches"].count
        reports = asyncio.run(engine.crawl(site.sources(delay=0.0), archive))
        fetches = archive.db["fetches"].count - before
    stats = site.stats()
    kinds = ", ".join(f"{k} {stats[k]}" for k in ("robots", "list", "doc", "doc_304", "404") if stats.get(k))
    counts = {k: sum(getattr(r.counts, k) for r in reports) for k in ("new", "changed", "unchanged", "removed")}
    return Pass(label, stats.get("requests", 0), fetches, by_kind=kinds, **counts)


def pass_time(db: Path, days: float) -> None:
    """Let ``days`` pass for the crawler: every scheduled revisit comes that much sooner."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            rows = conn.execute("select id, next_visit from documents where next_visit is not null").fetchall()
            conn.executemany("update documents set next_visit = ? where id = ?", [
                ((dt.datetime.fromisoformat(v) - dt.timedelta(days=days)).isoformat(timespec="seconds"), i)
                for i, v in rows])
    finally:
        conn.close()


def document_row(db: Path, url: str) -> dict:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("select id, published, next_visit, versions, online, removed_reason"
                                 " from documents where url = ?", [url]).fetchone())
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="requests of daily re-crawls; how soon changes are seen")
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--days", type=int, default=31, help="simulated days after the change, at most")
    parser.add_argument("--per-column", type=int, default=200)
    args = parser.parse_args(argv)
    layout = Layout(docs=args.docs, per_column=args.per_column)
    settings = Settings()
    with serve(layout) as site, tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "recrawl.db"
        first = crawl_once(site, db, "1st crawl (empty archive)")
        second = crawl_once(site, db, "2nd crawl, unchanged site, same day")
        # The oldest document of two columns: the longest revisit interval, the worst case.
        changed_doc = layout.column_docs(0)[-1]
        removed_doc = layout.column_docs(1 % layout.columns)[-2]
        watched = {"changed": layout.doc_url(changed_doc, site.bases),
                   "removed": layout.doc_url(removed_doc, site.bases)}
        today = dt.date.today()
        plan = {}
        for what, url in watched.items():
            row = document_row(db, url)
            published = dt.date.fromisoformat(row["published"])
            interval = revisit_interval(settings, url, published, today) / dt.timedelta(days=1)
            plan[what] = (url, published, interval, row["next_visit"])
        site.change(changed_doc)
        site.remove(removed_doc)
        daily: list[Pass] = []
        noticed: dict[str, int] = {}
        for day in range(1, args.days + 1):
            pass_time(db, 1)
            daily.append(crawl_once(site, db, f"day {day}"))
            if "changed" not in noticed and document_row(db, watched["changed"])["versions"] == 2:
                noticed["changed"] = day
            if "removed" not in noticed and document_row(db, watched["removed"])["online"] == 0:
                noticed["removed"] = day
            if len(noticed) == 2 and day >= min(args.days, int(settings.revisit_max_days)):
                break

    ratio = second.server / first.server
    print(f"recrawl bench — site of {layout.docs} documents in {layout.columns} columns on {layout.hosts} hosts; "
          f"revisit interval = document age / 4, clamped to {settings.revisit_min_days:g}..{settings.revisit_max_days:g} days")
    print()
    print("  crawl                                   server requests  fetches rows  new  changed  unchanged  removed")
    for p in (first, second):
        print(f"  {p.label:38s}  {p.server:15d}  {p.fetches:12d}  {p.new:3d}  {p.changed:7d}  {p.unchanged:9d}  {p.removed:7d}")
        print(f"    ({p.by_kind})")
    print(f"  2nd / 1st: {ratio:.1%} of the requests (target <= 5 %: {'met' if ratio <= 0.05 else 'NOT met'})")
    print()
    per_day = [p.server for p in daily]
    print(f"  {len(daily)} simulated days of one ordinary crawl each: requests per day min {min(per_day)}, "
          f"median {statistics.median(per_day):g}, max {max(per_day)}, total {sum(per_day)} "
          f"({sum(per_day) / len(daily) / layout.docs:.1%} of the site per day)")
    for p in daily:
        if p.changed or p.removed:
            print(f"    {p.label}: {p.server} requests ({p.by_kind}); {p.changed} changed, {p.removed} removed")
    print()
    print("  document                                 published   age   interval  noticed on   worst case  met")
    for what in ("changed", "removed"):
        url, published, interval, _ = plan[what]
        day = noticed.get(what)
        print(f"  {what:8s} {url.split('/', 3)[3][-31:]:31s}  {published}  {(today - published).days:4d}d  "
              f"{interval:6.1f} d  {('day ' + str(day)) if day else 'not seen':11s}  "
              f"<= {settings.revisit_max_days:g} days  {'yes' if day and day <= interval + 1 else 'NO'}")
    return 0 if ratio <= 0.05 and len(noticed) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
