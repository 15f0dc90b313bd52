"""Pages only a browser can fetch: a cookie challenge and a script-built column, crawled for real.

The fixture site (browser_site.py) runs on 127.0.0.1; the browser tests drive the real Chromium
(one per module, on one event loop) and are marked ``browser``: skipped without Chromium unless
GOVARCHIVE_REQUIRE_BROWSER is set (CI sets it). The rest need no browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlite_utils
from browser_site import APP_DOCS, GATE_DOCS, serve
from click.testing import CliRunner

from crawler.browser import (
    NO_BROWSER,
    Browser,
    BrowserFetcher,
    Clearance,
    Clearances,
    Cookie,
    cookie_header,
    find_chromium,
)
from crawler.cli import cli
from crawler.config import ConfigError, Settings, Source, load_config
from crawler.crawl import crawl
from crawler.fetch import Fetcher, HostLimiter, TransientError
from crawler.store import Archive
from crawler.verdicts import builds_list_by_script

T = TypeVar("T")


def source(name: str, url: str, **settings: Any) -> Source:
    return Source(name=name, urls=(url,), settings=Settings(delay=0.0, retries=0, **settings))


# --- no browser needed ------------------------------------------------------------------------


def test_cookie_header_matches_domain_path_scheme_and_expiry():
    now = time.time()
    cookies = (Cookie("a", "1", "gov.cn"), Cookie("b", "2", ".www.gov.cn", "/zw"),
               Cookie("c", "3", "www.gov.cn", secure=True), Cookie("d", "4", "www.gov.cn", expires=now - 1),
               Cookie("e", "5", "other.cn"), Cookie("f", "6", "www.gov.cn", "/zwgk"))
    assert cookie_header(cookies, "http://www.gov.cn/zw/t1.html", now) == "a=1; b=2"
    assert cookie_header(cookies, "https://www.gov.cn/zwgk/", now) == "a=1; c=3; f=6"
    assert cookie_header(cookies, "http://evilgov.cn/", now) == ""


def test_a_clearance_adds_its_cookies_and_user_agent_to_plain_requests(httpx_mock):
    httpx_mock.add_response(url="http://www.gov.cn/robots.txt", status_code=404)
    httpx_mock.add_response(url="http://www.gov.cn/a.html", html="<html><body>" + "正文" * 300 + "</body></html>")
    clearances = Clearances()
    clearances.grant("www.gov.cn", Clearance((Cookie("gate_token", "g42", "www.gov.cn"),), "Chromium-UA"))

    async def go() -> None:
        async with Fetcher(Settings(delay=0), ["www.gov.cn"], extra_headers=clearances.headers) as f:
            await f.get("http://www.gov.cn/a.html")

    asyncio.run(go())
    page = httpx_mock.get_requests()[-1]
    assert page.headers["cookie"] == "gate_token=g42" and page.headers["user-agent"] == "Chromium-UA"
    assert clearances.revoke("WWW.gov.cn") and clearances.headers("http://www.gov.cn/a.html") == {}


def test_scripts_are_structure_not_words():
    assert builds_list_by_script(b'<ul id="list"></ul><SCRIPT src="/list.js"></SCRIPT>')
    assert not builds_list_by_script("<ul></ul><p>请开启JavaScript</p>".encode())


def test_chromium_is_found_on_path_or_as_configured():
    assert find_chromium({"GOVARCHIVE_CHROMIUM": "/opt/c/chrome"}) == "/opt/c/chrome"
    found = find_chromium({})
    assert found is None or Path(found).exists()


def test_the_browser_setting_takes_three_values(tmp_path):
    path = tmp_path / "sources.toml"
    path.write_text('[defaults]\nbrowser = "always"\n[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\n'
                    'browser = "never"\n', encoding="utf-8")
    assert load_config(path)[0].settings.browser == "never"
    path.write_text('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\nbrowser = "sometimes"\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="source 'a': key 'browser': must be \"auto\""):
        load_config(path)


def test_never_records_the_challenge_as_blocked_and_the_scripted_list_as_0_links(tmp_path):
    with serve() as (base, site, _), Archive(tmp_path / "a.db") as archive:
        browser = Browser("/nonexistent/chromium")  # never asked for, so never missed
        reports = asyncio.run(crawl([source("gate", base + "/gate/list/index.html", browser="never"),
                                     source("app", base + "/app/list.html", browser="never")],
                                    archive, browser=browser))
        db = archive.db
        assert browser.launches == 0 and browser.pages_loaded == 0
        assert site.browser("/") == []
        gate, app = reports
        # A list page is not a document (issue 10 item 19): it flags the run instead.
        assert gate.counts.failed == 0 and f"list page failed: {base}/gate/list/index.html" in gate.errors
        blocked = list(db.query("select status, outcome, reason from fetches where url like '%/gate/%'"))
        assert blocked == [{"status": 412, "outcome": "Blocked", "reason": "HTTP 412 (anti-bot challenge)"}]
        assert app.counts.links_found == 0 and f"0 links found on {base}/app/list.html" in app.errors
        assert db["documents"].count == 0


def test_no_browser_gives_the_clear_reason_in_fetches_runs_and_status(tmp_path):
    config, db = tmp_path / "sources.toml", tmp_path / "a.db"
    env = {"GOVARCHIVE_CHROMIUM": str(tmp_path / "no-such-chromium")}
    with serve() as (base, _, _):
        config.write_text(f'[defaults]\ndelay = 0.0\n[[sources]]\nname = "gate"\nurls = ["{base}/gate/list/"]\n'
                          f'[[sources]]\nname = "app"\nurls = ["{base}/app/list.html"]\n', encoding="utf-8")
        crawled = CliRunner().invoke(cli, ["crawl", "--config", str(config), "--db", str(db)], env=env,
                                     catch_exceptions=False)
    assert crawled.exit_code == 0, crawled.output
    assert "Traceback" not in crawled.output
    rows = sqlite_utils.Database(db)
    for name in ("gate", "app"):
        run = next(rows["runs"].rows_where("source = ?", [name]))
        assert NO_BROWSER in run["error"], run
        reasons = [r["reason"] for r in rows["fetches"].rows_where("source = ? and outcome = 'NeedsBrowser'",
                                                                   [name])]
        assert reasons and all(r.startswith(NO_BROWSER) for r in reasons)
    status = CliRunner().invoke(cli, ["status", "--db", str(db)])
    assert status.output.count(NO_BROWSER) == 2 and "Traceback" not in status.output


# --- with the real Chromium -------------------------------------------------------------------


def require_chromium() -> None:
    if find_chromium():
        return
    if os.environ.get("GOVARCHIVE_REQUIRE_BROWSER"):
        pytest.fail("no Chromium found and GOVARCHIVE_REQUIRE_BROWSER is set: apt-get install chromium")
    pytest.skip("no Chromium (apt-get install chromium); set GOVARCHIVE_REQUIRE_BROWSER=1 to make this a failure")


class Shared:
    """One event loop and one browser for the module's browser tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.browser = Browser()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)


@pytest.fixture(scope="module")
def shared() -> Iterator[Shared]:
    require_chromium()
    s = Shared()
    yield s
    s.run(s.browser.aclose())
    s.loop.close()


def crawl_into(shared: Shared, db: Path, *sources: Source) -> list[Any]:
    shared.browser.clearances = Clearances()  # each test's site issues its own tokens
    with Archive(db) as archive:
        return shared.run(crawl(list(sources), archive, browser=shared.browser))


def archived(db: Path) -> dict[str, dict[str, Any]]:
    rows = sqlite_utils.Database(db).query(
        "select d.url, d.title, d.body, d.published, c.rendered, c.content from documents d"
        " join versions v on v.document_id = d.id join captures c on c.id = v.capture_id")
    return {r["url"]: r for r in rows}


@pytest.mark.browser
def test_challenge_column_is_archived_whole_and_one_browser_visit_opens_plain_fetches(shared, tmp_path):
    db = tmp_path / "a.db"
    with serve() as (base, site, _):
        loads = shared.browser.pages_loaded
        [report] = crawl_into(shared, db, source("gate", base + "/gate/list/index.html"))
        docs = archived(db)
        assert report.errors == () and report.counts.new == len(GATE_DOCS)
        assert sorted(docs) == sorted(base + p for p, _, _ in GATE_DOCS)
        for path, title, date in GATE_DOCS:
            doc = docs[base + path]
            assert doc["title"] == title and doc["published"] == date and "政府信息公开条例" in doc["body"]
        # One page in the browser (the challenge, its reload) opened every other page to httpx.
        assert shared.browser.pages_loaded - loads == 1
        assert [h.path for h in site.browser("/gate/") if h.navigation] == ["/gate/list/index.html"] * 2
        plain = site.plain("/gate/")
        assert len(plain) == 1 + 1 + len(GATE_DOCS)  # the challenged first request, list page 2, documents
        assert all("gate_token=" in h.cookie for h in plain[1:])
        assert {h.agent for h in site.hits} == {Settings().user_agent}  # the browser's too
        assert site.challenges == 2  # httpx's first request, the browser's first load
        fetches = list(sqlite_utils.Database(db).query(
            "select outcome, status, reason from fetches where url = ? order by id", [base + "/gate/list/index.html"]))
        assert [(f["outcome"], f["status"]) for f in fetches] == [("Blocked", 412), ("Blocked", 412), ("ok", 200)]
        assert fetches[-1]["reason"].startswith("rendered in browser")


@pytest.mark.browser
def test_when_the_challenge_returns_the_browser_passes_it_again(shared, tmp_path):
    db = tmp_path / "a.db"
    with serve(token_uses=3) as (base, site, _):
        loads = shared.browser.pages_loaded
        [report] = crawl_into(shared, db, source("gate", base + "/gate/list/index.html"))
        docs = archived(db)
        assert report.errors == () and report.counts.new == len(GATE_DOCS)
        browser_loads = shared.browser.pages_loaded - loads
        # 7 pages, 3 requests per token: the challenge came back, and each time httpx met it, one
        # browser visit passed it (challenged once more itself) and httpx went on with its cookie;
        # pages challenged together waited for that one visit instead of making their own.
        plain_challenges = site.challenges - browser_loads
        assert 2 <= browser_loads <= plain_challenges
        rendered = [d for d in docs.values() if d["rendered"]]
        assert rendered and all(b"gate_token" not in d["content"] and "政府信息公开条例" in d["body"]
                                for d in rendered)
        assert len(rendered) < len(docs)  # the others came through httpx with the browser's cookie


@pytest.mark.browser
def test_script_built_column_is_archived_whole_through_the_same_discover(shared, tmp_path):
    db = tmp_path / "a.db"
    with serve() as (base, site, other):
        [report] = crawl_into(shared, db, source("app", base + "/app/list.html"))
        docs = archived(db)
        assert report.errors == () and report.counts.new == len(APP_DOCS) and report.counts.list_pages == 2
        assert sorted(docs) == sorted(base + p for p, _, _ in APP_DOCS)
        assert all(not d["rendered"] for d in docs.values())  # the documents need no browser
        lists = list(sqlite_utils.Database(db).query(
            "select url, reason from fetches where reason like 'rendered in browser%' order by id"))
        assert [r["url"] for r in lists] == [base + "/app/list.html", base + "/app/list.html?page=2"]
        assert f"list from JSON {base}/app/api/list?page=1" in lists[0]["reason"]
        # The analytics script on the other host and the image were never requested.
        assert other == [] and not [h for h in site.hits if h.path == "/app/logo.png"]


@pytest.mark.browser
def test_a_page_script_cannot_reach_the_metadata_address_or_another_host(shared, tmp_path):
    class Turns(HostLimiter):
        """Counts the requests that waited for their host's turn."""

        def __init__(self) -> None:
            super().__init__()
            self.turns: list[str] = []

        async def wait(self, host: str, delay: float) -> None:
            self.turns.append(host)
            await super().wait(host, delay)

    limiter = Turns()
    with serve() as (base, site, other):
        async def go() -> Any:
            async with Fetcher(Settings(delay=0.0), [base], limiter=limiter) as fetcher:
                return await BrowserFetcher(shared.browser, fetcher).get(base + "/app/probe.html")

        result = shared.run(go())
        assert result.rendered and "云主机元数据" in result.content.decode()
        refused = {a.url.split("?")[0]: a.reason for a in result.attempts if a.outcome == "Refused"}
        assert refused == {
            "http://169.254.169.254/latest/meta-data/": "browser xhr: unsafe address 169.254.169.254",
            site.other + "/steal": "browser xhr: off-site host localhost",
            site.other + "/redirected": "browser xhr: off-site host localhost",  # a redirect hop
            base + "/private/data.json": "browser xhr: disallowed by robots.txt",
        }
        assert other == []  # nothing reached the other host, the pixel included
        # Every request that went out waited for its host's turn: robots.txt, the page, /app/out.
        sent = [h.path for h in site.hits]
        assert sent == ["/robots.txt", "/app/probe.html", "/app/out"] and len(limiter.turns) == len(sent)


def test_fixture_challenge_really_needs_a_script():
    """The gate answers httpx with a challenge whatever it sends, until a script's cookie comes."""
    with serve() as (base, _, _):
        first = httpx.get(base + "/gate/list/index.html")
        assert first.status_code == 412 and b"Function(String.fromCharCode" in first.content
        again = httpx.get(base + "/gate/list/index.html", cookies={"gate_token": "g1"})
        assert again.status_code == 200 and b"location.reload()" in again.content and b"<li>" not in again.content
        assert json.loads(httpx.get(base + "/app/api/list?page=2").content)["items"][0]["url"] == APP_DOCS[3][0]


@pytest.mark.browser
def test_a_browser_grown_too_large_is_closed_between_pages(shared):
    with serve() as (base, _, _):
        async def go() -> None:
            async with Browser(max_memory=1, check_every=1) as browser, \
                    Fetcher(Settings(delay=0.0), [base]) as fetcher:
                await BrowserFetcher(browser, fetcher).get(base + APP_DOCS[0][0])
                assert browser.launches == 1 and browser.pids() == []  # the next page launches a new one

        shared.run(go())


@pytest.mark.browser
def test_a_crashed_browser_is_relaunched(shared):
    with serve() as (base, _, _):
        urls = [base + p for p, _, _ in APP_DOCS]

        async def go() -> None:
            async with Fetcher(Settings(delay=0.0), [base]) as fetcher:
                pages = BrowserFetcher(shared.browser, fetcher)
                await pages.get(urls[0])
                launches = shared.browser.launches
                main = next(p for p in shared.browser.pids()
                            if b"--type=" not in Path(f"/proc/{p}/cmdline").read_bytes())
                os.kill(main, signal.SIGKILL)
                with contextlib.suppress(TransientError):  # a page met the crash, or the crash was seen first
                    await pages.get(urls[1])
                result = await pages.get(urls[2])
                assert result.rendered and "第3号公告" in result.content.decode()
                assert shared.browser.launches == launches + 1

        shared.run(go())


@pytest.mark.browser
def test_a_page_that_never_settles_is_cut_at_its_time_budget(shared):
    with serve() as (base, _, _):
        async def go() -> None:
            async with Fetcher(Settings(delay=0.0, timeout=0.3), [base]) as fetcher:
                started = time.monotonic()
                with pytest.raises(TransientError, match=r"page not settled within 1.2 s") as caught:
                    await BrowserFetcher(shared.browser, fetcher).get(base + "/app/slow.html")
                assert time.monotonic() - started < 4
                assert caught.value.attempts[-1].outcome == "TransientError"
                # The page it was on is blanked and reused: the next load works.
                assert (await BrowserFetcher(shared.browser, fetcher).get(base + APP_DOCS[0][0])).rendered

        shared.run(go())
