"""Faults met while crawling: each served for real on 127.0.0.1 to a crawl of an archived site.

Whatever a server does, the archive keeps what it had, the fetches table says what went wrong,
and the rest of the run goes on.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from faultserver import (
    FaultServer,
    _file,
    bomb,
    bomb_body,
    endless,
    redirect,
    reply,
    reset_mid_body,
    short_body,
    silent,
    trickle,
)
from test_crawl import crawl

DOC = "/zwgk/tzgg/202403/t20240306_451851.html"
LIST = "/zwgk/tzgg/index.html"
OTHER_LIST = "/xxgk/c123697/index.shtml"
SETTINGS = """
[defaults]
delay = 0.0
timeout = 0.4
retries = 1
backoff = 0.01
max_retry_after = 0.5
max_bytes = 300000
"""


@pytest.fixture
def servers(site: Path) -> Iterator[tuple[FaultServer, FaultServer]]:
    """The sample site on two loopback hosts: 127.0.0.1 (the TRS column) and 127.0.0.2 (the other)."""
    with FaultServer(site) as one, FaultServer(site, host="127.0.0.2") as two:
        yield one, two


@pytest.fixture
def config(tmp_path: Path, servers: tuple[FaultServer, FaultServer]) -> Path:
    one, two = servers
    path = tmp_path / "sources.toml"
    path.write_text(SETTINGS + f"""
[[sources]]
name = "trs"
urls = ["{one.url(LIST)}"]

[[sources]]
name = "shtml"
urls = ["{two.url(OTHER_LIST)}"]
""", encoding="utf-8")
    return path


@pytest.fixture
def archived(config: Path, db_path: Path, servers) -> sqlite_utils.Database:
    """The site crawled once, before any fault."""
    assert crawl(config, db_path).startswith("2 sources: 18 new")
    return sqlite_utils.Database(db_path)


def snapshot(db: sqlite_utils.Database, url: str) -> tuple:
    doc = next(db["documents"].rows_where("url = ?", [url]))
    versions = [(v["version"], v["body"]) for v in db["versions"].rows_where("document_id = ?", [doc["id"]])]
    return doc["title"], doc["body"], doc["online"], versions, db["captures"].count


def fault_run(servers, archived, config, db_path, route, *, path: str = DOC) -> tuple[str, list[dict]]:
    """Make ``path`` misbehave, crawl everything again; return the summary and its fetches rows."""
    one, _ = servers
    url = one.url(path)
    before = snapshot(archived, url)
    last = archived.execute("select max(id) from fetches").fetchone()[0]
    one.routes[path] = route
    output = crawl(config, db_path, "--full")
    assert snapshot(archived, url) == before, "the archived document changed"
    rows = list(archived["fetches"].rows_where("id > ? and url = ?", [last, url], order_by="id"))
    assert rows, "the fault was never requested"
    return output, rows


@pytest.mark.parametrize("route, status, outcome", [
    (reply("500 Internal Server Error"), 500, "TransientError"),
    (reply("503 Service Unavailable", Retry_After=0), 503, "TransientError"),
    (reply("429 Too Many Requests", Retry_After=0), 429, "TransientError"),
])
def test_server_errors_are_retried_then_recorded_and_change_nothing(servers, archived, config, db_path,
                                                                    route, status, outcome):
    output, rows = fault_run(servers, archived, config, db_path, route)
    assert "17 unchanged, 0 removed, 1 failed" in output
    # One retry, then the fetch gives up; the run tries the URL once more at its end, likewise.
    assert [r["status"] for r in rows] == [status] * 4
    assert rows[-1]["outcome"] == outcome and str(status) in rows[-1]["reason"]


def test_a_too_long_retry_after_fails_at_once(servers, archived, config, db_path):
    _, rows = fault_run(servers, archived, config, db_path, reply("503 Service Unavailable",
                                                                  Retry_After=3600))
    assert len(rows) == 1 and "Retry-After" in rows[0]["reason"]


@pytest.mark.parametrize("route, words", [(silent, "timeout"), (trickle, "")])
def test_a_silent_or_trickling_server_is_cut_and_other_hosts_go_on(servers, archived, config, db_path,
                                                                   route, words):
    output, rows = fault_run(servers, archived, config, db_path, route)
    assert "17 unchanged, 0 removed, 1 failed" in output  # the 6 documents of 127.0.0.2 among them
    assert rows[-1]["outcome"] == "TransientError" and words in rows[-1]["reason"].lower()
    assert all(r["elapsed"] < 2.5 for r in rows)  # cut by the deadline (4 × timeout), not by patience


@pytest.mark.parametrize("route", [reset_mid_body, short_body])
def test_a_broken_body_is_recorded_and_nothing_half_stored(servers, archived, config, db_path, route):
    output, rows = fault_run(servers, archived, config, db_path, route)
    assert "1 failed" in output and rows[-1]["outcome"] == "TransientError"


@pytest.mark.parametrize("route", [endless, bomb])
def test_a_huge_body_or_gzip_bomb_is_cut_at_the_cap(servers, archived, config, db_path, route):
    bomb_body()  # built before: compressing 50 MB on the first request would look like a timeout
    output, rows = fault_run(servers, archived, config, db_path, route)
    assert "1 failed" in output
    assert rows[-1]["outcome"] == "TooLarge" and "300000" in rows[-1]["reason"]


@pytest.mark.parametrize("location, words", [
    ("/loop", "redirect"),
    ("http://www.example.com/elsewhere.html", "off-site"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
    ("file:///etc/passwd", "scheme"),
])
def test_bad_redirects_are_refused_and_never_followed(servers, archived, config, db_path, location, words):
    one, _ = servers
    one.routes["/loop"] = redirect("/loop")
    fault_run(servers, archived, config, db_path, redirect(location))
    refused = [r["reason"] for r in archived["fetches"].rows_where("outcome = 'Refused'")]
    assert len(refused) == 1 and words in refused[0]
    assert one.requests.count("/loop") <= 5


@pytest.mark.parametrize("route", [
    reply("412 Precondition Failed", b"<html><script>$_ts=window['$_ts']</script></html>"),
    reply(body=b"<html><head><script>document.cookie='acw_sc__v2=1';location.reload();</script>"
               b"</head><body></body></html>"),
])
def test_an_anti_bot_challenge_is_recorded_as_blocked_not_archived(servers, archived, config, db_path, route):
    output, rows = fault_run(servers, archived, config, db_path, route)
    # With browser = "auto" the browser tries too (and cannot pass these); without Chromium
    # installed the page fails as needing one.
    assert "1 failed" in output and rows[-1]["outcome"] in ("Blocked", "NeedsBrowser")


def test_a_soft_404_is_a_failure_never_a_version(servers, archived, config, db_path):
    """A 200 page that is what the site serves for any unknown URL is no version (issue 10, item 6),
    however it is worded; only a 404 or 410 says a document was removed."""
    one, _ = servers
    page = "<html><head><title>页面不存在</title></head><body><p>您访问的页面不存在或已被删除！</p></body></html>"
    one.routes[DOC] = reply(body=page.encode())
    one.fallback = reply(body=page.encode())  # the soft 404 of every unknown URL
    one.routes[LIST] = _file_route(servers, LIST)
    output, rows = fault_run(servers, archived, config, db_path, one.routes[DOC])
    assert "0 changed" in output and "0 removed" in output
    assert rows[-1]["outcome"] == "Unusable" and "unknown URLs" in rows[-1]["reason"]


def test_a_document_that_returns_is_recorded(servers, archived, config, db_path):
    one, _ = servers
    one.routes[DOC] = reply("404 Not Found")
    crawl(config, db_path, "--full")
    del one.routes[DOC]
    crawl(config, db_path, "--full")
    doc = next(archived["documents"].rows_where("url = ?", [one.url(DOC)]))
    events = [e["event"] for e in archived["events"].rows_where("document_id = ?", [doc["id"]], order_by="id")]
    assert events == ["new", "removed", "returned"] and doc["online"] == 1 and doc["versions"] == 1


@pytest.mark.parametrize("route, outcome", [
    (reply(body=b""), "empty"),                                                      # an empty 200
    (reply(body=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4), "Unusable"),  # undecodable
    (reply(body=b"<html><body></body></html>"), "empty"),                          # a page with no text
])
def test_an_empty_or_unreadable_page_never_wipes_a_good_body(servers, archived, config, db_path, route, outcome):
    output, rows = fault_run(servers, archived, config, db_path, route)
    assert "1 failed" in output and rows[-1]["outcome"] == outcome


def test_a_wrong_charset_declaration_is_decoded_best_effort(servers, archived, config, db_path, site):
    one, _ = servers
    page = (site / DOC.lstrip("/")).read_text(encoding="utf-8")
    page = page.replace("深入学习贯彻习近平法治思想", "深入学习贯彻习近平法治思想，王国镕")
    one.routes[DOC] = reply(body=page.encode("gb18030"), content_type="text/html; charset=utf-8")
    output = crawl(config, db_path, "--full")
    assert "1 changed" in output
    doc = next(archived["documents"].rows_where("url = ?", [one.url(DOC)]))
    assert "王国镕" in doc["body"] and "\ufffd" not in doc["body"]


def test_links_to_unsafe_addresses_and_other_schemes_are_never_requested(servers, archived, config, db_path,
                                                                        site):
    one, _ = servers
    listing = (site / LIST.lstrip("/")).read_text(encoding="utf-8").replace(
        '<ul class="list">', '<ul class="list"><li><a href="http://169.254.169.254/latest/t20240306_1.html">'
        '示范县关于元数据的通知</a><span>2024-03-06</span></li><li><a href="ftp://127.0.0.1/t20240306_2.html">'
        '示范县关于文件传输的通知</a><span>2024-03-06</span></li>')
    one.routes[LIST] = reply(body=listing.encode())
    crawl(config, db_path)
    reasons = [r["reason"] for r in archived["fetches"].rows_where("url like '%169.254%' or url like 'ftp:%'")]
    assert all("Refused" in r or "refused" in r or "not" in r for r in reasons)
    assert archived["documents"].count_where("url like '%169.254%' or url like 'ftp:%'") == 0


def test_the_failed_fetch_reason_is_kept_in_the_run(servers, archived, config, db_path):
    one, _ = servers
    one.routes[DOC] = reply("500 Internal Server Error")
    crawl(config, db_path, "--full")
    run = next(archived["runs"].rows_where("source = 'trs'", order_by="id desc", limit=1))
    assert run["failed"] == 1 and run["finished"]
    assert json.loads(json.dumps(run))  # a plain row Datasette can show


# --- failed pages never become versions (issue 10, item 6) -------------------------------------


def _file_route(servers, path: str):
    """The route that serves ``path`` from the site copy, as before any fault."""
    one, _ = servers
    return _file(one.root, path)


def _trs_documents(db: sqlite_utils.Database) -> dict[str, tuple]:
    return {d["url"]: (d["body"], d["versions"], d["online"])
            for d in db["documents"].rows_where("source = 'trs'")}


def _search_rows(db: sqlite_utils.Database) -> list[tuple]:
    return [tuple(r) for r in db.execute("select rowid, title, body from documents_fts order by rowid")]


@pytest.mark.parametrize("fault", ["maintenance page", "redirect to the home page", "redirect to one page",
                                   "undecodable bytes"])
def test_a_site_wide_failure_changes_no_document(servers, archived, config, db_path, fault):
    one, _ = servers
    before, search, versions = _trs_documents(archived), _search_rows(archived), archived["versions"].count
    last = archived.execute("select max(id) from fetches").fetchone()[0]
    maintenance = ("<html><head><title>系统维护中</title></head><body><div class=main><h1>系统维护中</h1>"
                   "<p>网站正在进行系统升级维护，请稍后访问。给您带来的不便，敬请谅解。</p></div></body></html>")
    one.fallback = {
        "maintenance page": reply(body=maintenance.encode()),
        "redirect to the home page": redirect("/"),
        "redirect to one page": redirect("/notice/maintenance.html"),
        "undecodable bytes": reply(body=b"<html><body><p>" + random.Random(6).randbytes(6000) + b"</p></body></html>"),
    }[fault]
    for path in (LIST, "/", "/notice/maintenance.html", "/robots.txt"):
        one.routes[path] = (reply(body=maintenance.encode()) if path == "/notice/maintenance.html"
                            else _file_route(servers, path))
    output = crawl(config, db_path, "--full")
    assert "0 changed" in output and "0 removed" in output
    assert _trs_documents(archived) == before and archived["versions"].count == versions
    assert _search_rows(archived) == search
    failed = list(archived["fetches"].rows_where("id > ? and document_id is not null and outcome not in "
                                                 "('ok', 'redirect', 'not_modified', 'retry')", [last]))
    assert len(failed) == len(before) and {r["outcome"] for r in failed} == {"Unusable"}
