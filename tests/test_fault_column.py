"""A 20-document column in which 13 pages fail in 13 different ways, crawled for real on 127.0.0.1
(issue 10, item 12): the run ends in seconds, not hours; the 7 good documents are archived; each
failure is recorded once with its reason, and one URL's failure never slows the host.

Run it as a script to measure with other settings (the test uses short timeouts):
``python tests/test_fault_column.py --delay 1 --timeout 5``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
from faultserver import FaultServer, endless, redirect, reply, reset_mid_body, short_body, silent, trickle

from crawler.config import Settings, Source
from crawler.crawl import crawl
from crawler.fetch import HostLimiter
from crawler.store import Archive

COLUMN = "/col/index.html"
GOOD = 7
FAULTS = {  # path suffix → (route, the outcome recorded for it)
    "500": (reply("500 Internal Server Error"), "TransientError"),
    "502": (reply("502 Bad Gateway"), "TransientError"),
    "503": (reply("503 Service Unavailable", Retry_After=0), "TransientError"),
    "429": (reply("429 Too Many Requests", Retry_After=0), "TransientError"),
    "404": (reply("404 Not Found"), "Gone"),
    "410": (reply("410 Gone"), "Gone"),
    "silent": (silent, "TransientError"),
    "trickle": (trickle, "TransientError"),
    "reset": (reset_mid_body, "TransientError"),
    "short": (short_body, "TransientError"),
    "endless": (endless, "TooLarge"),
    "loop": (redirect("/col/loop.html"), "Refused"),
    "challenge": (reply("412 Precondition Failed", b"<html><script>$_ts=window['$_ts']</script></html>"),
                  "Blocked"),
}


def _doc(n: int) -> str:
    return f"/col/202403/t202403{n + 1:02d}_{4500 + n}.html"


def serve_column(server: FaultServer, layout: str = "bunched") -> dict[str, str]:
    """The column on ``server``, path → kind: GOOD documents that answer and one per fault, the
    faults after the good ones ("bunched") or two between each ("interleaved": ok, 500, 502, ok,
    …); or 20 documents that all answer 500 ("all500")."""
    faults = list(FAULTS)
    kinds = {"bunched": ["ok"] * GOOD + faults,
             "interleaved": [kind for i in range(GOOD) for kind in ("ok", *faults[2 * i:2 * i + 2])],
             "all500": ["500"] * 20}[layout]
    items = "".join(f'<li><a href="{_doc(n)}">关于第{n}项工作安排的通知（{kind}）</a><span>2024-03-{n + 1:02d}</span></li>'
                    for n, kind in enumerate(kinds))
    server.routes[COLUMN] = reply(body=f"<html><head><title>通知公告</title></head><body><ul class=list>{items}"
                                       f"</ul></body></html>".encode())
    for n, kind in enumerate(kinds):
        if kind == "ok":
            body = f"<html><head><title>关于第{n}项工作安排的通知</title></head><body><h1>关于第{n}项工作安排的通知</h1>"
            body += "".join(f"<p>第{i}条 第{n}项工作按本通知安排，各单位认真落实。</p>" for i in range(20))
            server.routes[_doc(n)] = reply(body=(body + "</body></html>").encode())
        else:
            server.routes[_doc(n)] = FAULTS[kind][0]
    if "loop" in kinds:
        server.routes["/col/loop.html"] = redirect(_doc(kinds.index("loop")))
    return {_doc(n): kind for n, kind in enumerate(kinds)}


def crawl_column(server: FaultServer, db: Path, **settings: object) -> tuple[float, Archive]:
    options: dict[str, object] = {"max_bytes": 300_000}
    options.update(settings)
    source = Source("col", (server.url(COLUMN),), Settings(**options))  # type: ignore[arg-type]
    archive = Archive(db)
    t0 = time.monotonic()
    asyncio.run(crawl([source], archive, limiter=HostLimiter(), transport=httpx.AsyncHTTPTransport()))
    return time.monotonic() - t0, archive


def _crawl(tmp_path: Path, layout: str) -> tuple[float, dict, dict[str, str], dict[str, str]]:
    """Crawl the column with short timeouts: the seconds, the run, each path's kind and its last
    recorded outcome."""
    with FaultServer() as server:
        kinds = serve_column(server, layout)
        seconds, archive = crawl_column(server, tmp_path / "a.db", delay=0.05, timeout=0.3, retries=3,
                                        backoff=0.1, max_retry_after=0.5)
        with archive:
            run = next(archive.db["runs"].rows_where(order_by="id desc", limit=1))
            last = {}
            for row in archive.db["fetches"].rows_where("outcome not in ('retry', 'redirect', 'probe')",
                                                       order_by="id"):
                last[row["url"].split(str(server.port), 1)[1]] = row["outcome"]
    if "/col/loop.html" in last:  # the loop is caught at its hop
        last[_doc(list(kinds.values()).index("loop"))] = last.pop("/col/loop.html")
    return seconds, run, kinds, last


def test_13_failing_pages_after_the_good_ones_cost_seconds(tmp_path: Path) -> None:
    """Before: every failure doubled the host's spacing (up to 60 s a request) and timeouts were
    retried in place: 13 failures in a row took minutes. Now the host backs off per failing URL
    and rests after five, whose documents wait for the next run."""
    seconds, run, kinds, last = _crawl(tmp_path, "bunched")
    assert seconds < 120, f"the column took {seconds:.1f} s"  # it took over 300 s before
    assert (run["new"], run["failed"]) == (GOOD, len(FAULTS))
    for path, kind in kinds.items():
        assert last[path] in (("ok",) if kind == "ok" else (FAULTS[kind][1], "TransientError")), (path, kind)


def test_13_failing_pages_among_good_ones_each_say_why(tmp_path: Path) -> None:
    seconds, run, kinds, last = _crawl(tmp_path, "interleaved")
    assert seconds < 120, f"the column took {seconds:.1f} s"  # it took over 300 s before
    assert (run["new"], run["failed"]) == (GOOD, len(FAULTS))
    for path, kind in kinds.items():
        assert last[path] == ("ok" if kind == "ok" else FAULTS[kind][1]), (path, kind)


def test_a_column_where_every_document_answers_500_takes_seconds_not_an_hour(tmp_path: Path) -> None:
    """Before: each 500 doubled the host's spacing up to 60 s, so 20 documents (80 requests) took
    over an hour. A URL's own 500 now leaves the host's pace alone; each is retried, then waits
    for the next run."""
    seconds, run, _, last = _crawl(tmp_path, "all500")
    assert seconds < 120, f"the column took {seconds:.1f} s"  # over 300 s before
    assert (run["new"], run["failed"]) == (0, 20) and set(last.values()) >= {"TransientError"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in (("delay", 1.0), ("timeout", 30.0), ("retries", 3), ("backoff", 2.0)):
        parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--layout", choices=("bunched", "interleaved", "all500"), default="bunched")
    args = vars(parser.parse_args())
    layout = args.pop("layout")
    with FaultServer() as server, tempfile.TemporaryDirectory() as tmp:
        serve_column(server, layout)
        seconds, archive = crawl_column(server, Path(tmp) / "a.db", **args)
        with archive:
            run = next(archive.db["runs"].rows_where(order_by="id desc", limit=1))
            requests = archive.db["fetches"].count
    print(f"20 documents ({layout}); {args}: "
          f"{seconds:.1f} s, {requests} requests, "
          f"{run['new']} new, {run['failed']} failed")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
