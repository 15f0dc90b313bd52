"""Fetch policy with mocked HTTP (pytest-httpx): headers, retries, limits, redirects, robots.txt,
status and page classification, the exception boundary, and the host limiter on a fake clock.

Nothing here sleeps: fetchers get a recording ``sleep`` and a limiter whose sleep returns at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import gzip
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock, IteratorStream

from crawler.config import Settings
from crawler.fetch import (
    Attempt,
    Blocked,
    Fetcher,
    FetchError,
    Gone,
    HostLimiter,
    PermanentError,
    Refused,
    RobotsCache,
    TooLarge,
    TransientError,
    Unusable,
)

pytestmark = pytest.mark.anyio

HOST = "www.example.gov.cn"
BASE = f"http://{HOST}"
PAGE = "<html><head><title>关于开展调查的通知</title></head><body><p>正文内容。</p></body></html>"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Sleeps(list[float]):
    """A fake ``sleep`` that records what it was asked to wait."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def _no_wait(seconds: float) -> None:
    return None


def make(sleeps: Sleeps | None = None, *, hosts: tuple[str, ...] = (HOST,),
         transport: httpx.AsyncBaseTransport | None = None, limiter: HostLimiter | None = None,
         robots: RobotsCache | None = None, **settings: object) -> Fetcher:
    """A fetcher that never sleeps, with its own robots.txt cache; robots.txt off, no delay and 3
    retries unless overridden."""
    options: dict[str, object] = {"delay": 0.0, "obey_robots": False, "retries": 3, "backoff": 2.0}
    options.update(settings)
    return Fetcher(Settings(**options), hosts, limiter=limiter or HostLimiter(sleep=_no_wait),  # type: ignore[arg-type]
                   transport=transport, sleep=sleeps if sleeps is not None else Sleeps(),
                   robots=robots or RobotsCache())


def outcomes(attempts: tuple[Attempt, ...]) -> list[str]:
    return [a.outcome for a in attempts]


# --- headers and results ----------------------------------------------------------------------


async def test_user_agent_and_accept_language_on_every_request(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/robots.txt", text="User-agent: *\nAllow: /\n")
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE)
    async with make(obey_robots=True, user_agent="govarchive-test/1.0") as f:
        await f.get(f"{BASE}/a.html")
    requests = httpx_mock.get_requests()
    assert [r.url.path for r in requests] == ["/robots.txt", "/a.html"]
    for r in requests:
        assert r.headers["User-Agent"] == "govarchive-test/1.0"
        assert r.headers["Accept-Language"] == "zh-CN,zh;q=0.9"


async def test_result_carries_headers_charset_and_utc_time(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", content=PAGE.encode("gbk"),
                            headers={"Content-Type": "text/html; charset=GBK", "ETag": '"v1"'})
    async with make() as f:
        result = await f.get(f"{BASE}/a.html")
    assert result.status == 200 and result.content == PAGE.encode("gbk")
    assert result.charset == "GBK"
    assert result.headers["etag"] == '"v1"' and "content-type" in result.headers
    assert result.fetched_at.tzinfo is not None and result.fetched_at.utcoffset() == dt.timedelta(0)
    assert result.url == result.final_url == f"{BASE}/a.html"
    assert outcomes(result.attempts) == ["ok"] and result.attempts[0].status == 200


async def test_empty_200_is_a_result(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/empty.html", content=b"", headers={"Content-Type": "text/html"})
    async with make() as f:
        result = await f.get(f"{BASE}/empty.html")
    assert result.status == 200 and result.content == b""


async def test_conditional_request_and_304(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", status_code=304, match_headers={
        "If-None-Match": '"v1"', "If-Modified-Since": "Tue, 01 Oct 2024 00:00:00 GMT"})
    async with make() as f:
        result = await f.get(f"{BASE}/a.html", etag='"v1"', last_modified="Tue, 01 Oct 2024 00:00:00 GMT")
    assert result.status == 304 and result.not_modified and result.content == b""
    assert outcomes(result.attempts) == ["not_modified"]


@pytest.mark.parametrize(("encoding", "compress"), [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
])
async def test_compressed_bodies_are_decoded(httpx_mock: HTTPXMock, encoding: str,
                                             compress: Callable[[bytes], bytes]) -> None:
    body = PAGE.encode() * 50
    httpx_mock.add_response(url=f"{BASE}/a.html", content=compress(body),
                            headers={"Content-Encoding": encoding, "Content-Type": "text/html"})
    async with make() as f:
        assert (await f.get(f"{BASE}/a.html")).content == body


async def test_unsupported_content_encoding_is_permanent(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", content=b"\x8b\x00", headers={"Content-Encoding": "br"})
    async with make() as f:
        with pytest.raises(PermanentError, match="Content-Encoding"):
            await f.get(f"{BASE}/a.html")


# --- retries ----------------------------------------------------------------------------------


async def test_503_is_retried_then_succeeds(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", status_code=503)
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE)
    sleeps = Sleeps()
    async with make(sleeps) as f:
        result = await f.get(f"{BASE}/a.html")
    assert result.status == 200
    assert sleeps == [2.0]
    assert outcomes(result.attempts) == ["retry", "ok"]
    assert [a.status for a in result.attempts] == [503, 200]


async def test_retry_after_seconds_is_honoured(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE)
    sleeps = Sleeps()
    async with make(sleeps) as f:
        await f.get(f"{BASE}/a.html")
    assert sleeps == [7.0]


async def test_retry_after_http_date_is_honoured(httpx_mock: HTTPXMock) -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    httpx_mock.add_response(url=f"{BASE}/a.html", status_code=503,
                            headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)})
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE)
    sleeps = Sleeps()
    async with make(sleeps) as f:
        await f.get(f"{BASE}/a.html")
    assert len(sleeps) == 1 and 27.0 <= sleeps[0] <= 30.0


async def test_too_long_retry_after_fails_at_once(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", status_code=503, headers={"Retry-After": "3600"})
    sleeps = Sleeps()
    async with make(sleeps, max_retry_after=120.0) as f:
        with pytest.raises(TransientError) as caught:
            await f.get(f"{BASE}/a.html")
    assert caught.value.retry_after == 3600.0 and caught.value.status == 503
    assert "Retry-After" in caught.value.reason
    assert sleeps == [] and len(caught.value.attempts) == 1


async def test_retries_exhausted(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", status_code=503, is_reusable=True)
    sleeps = Sleeps()
    async with make(sleeps, retries=3, backoff=2.0) as f:
        with pytest.raises(TransientError) as caught:
            await f.get(f"{BASE}/a.html")
    e = caught.value
    assert e.status == 503 and e.reason == "HTTP 503 after 4 attempts" and e.url == f"{BASE}/a.html"
    assert outcomes(e.attempts) == ["retry", "retry", "retry", "TransientError"]
    assert sleeps == [2.0, 4.0, 8.0]
    assert len(httpx_mock.get_requests()) == 4


async def test_truncated_body_is_transient_and_retried() -> None:
    class Truncated(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"<html>half a page"
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, headers={"Content-Length": "1000"}, stream=Truncated())

    async with make(transport=httpx.MockTransport(handler), retries=1) as f:
        with pytest.raises(TransientError, match="incomplete") as caught:
            await f.get(f"{BASE}/a.html")
    assert len(calls) == 2 and outcomes(caught.value.attempts) == ["retry", "TransientError"]


# --- size limits ------------------------------------------------------------------------------


async def test_content_length_over_the_cap(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/big.pdf", content=b"x", headers={"Content-Length": "30000000"})
    async with make(max_bytes=20_000_000) as f:
        with pytest.raises(TooLarge, match="exceeds 20000000 bytes") as caught:
            await f.get(f"{BASE}/big.pdf")
    assert outcomes(caught.value.attempts) == ["TooLarge"]


async def test_streamed_body_over_the_cap(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/big.html", stream=IteratorStream([b"x" * 1000] * 20))
    async with make(max_bytes=5000) as f:
        with pytest.raises(TooLarge, match="exceeds 5000 bytes"):
            await f.get(f"{BASE}/big.html")


async def test_body_exactly_at_the_cap_is_kept(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.txt", stream=IteratorStream([b"x" * 1000] * 5))
    async with make(max_bytes=5000) as f:
        assert len((await f.get(f"{BASE}/a.txt")).content) == 5000


# --- redirects and addresses ------------------------------------------------------------------


async def test_redirect_is_followed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/old", status_code=301, headers={"Location": "/new#top"})
    httpx_mock.add_response(url=f"{BASE}/new", html=PAGE)
    async with make() as f:
        result = await f.get(f"{BASE}/old")
    assert result.url == f"{BASE}/old" and result.final_url == f"{BASE}/new"
    assert outcomes(result.attempts) == ["redirect", "ok"]


async def test_redirect_to_an_other_configured_host_is_followed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a", status_code=302, headers={"Location": "https://xxgk.example.gov.cn/a"})
    httpx_mock.add_response(url="https://xxgk.example.gov.cn/a", html=PAGE)
    async with make(hosts=(HOST, "XXGK.example.gov.cn")) as f:
        assert (await f.get(f"{BASE}/a")).final_url == "https://xxgk.example.gov.cn/a"


async def test_redirect_off_site_is_refused_unrequested(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a", status_code=302, headers={"Location": "http://evil.com/x"})
    async with make() as f:
        with pytest.raises(Refused) as caught:
            await f.get(f"{BASE}/a")
    assert caught.value.reason == "redirect to off-site host evil.com"
    assert outcomes(caught.value.attempts) == ["Refused"]
    assert [str(r.url) for r in httpx_mock.get_requests()] == [f"{BASE}/a"]


async def test_redirect_loop(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a", status_code=302, headers={"Location": f"{BASE}/b"})
    httpx_mock.add_response(url=f"{BASE}/b", status_code=302, headers={"Location": "/a"})
    async with make() as f:
        with pytest.raises(Refused, match="redirect loop") as caught:
            await f.get(f"{BASE}/a")
    assert outcomes(caught.value.attempts) == ["redirect", "Refused"]


async def test_more_than_five_redirects(httpx_mock: HTTPXMock) -> None:
    for i in range(6):
        httpx_mock.add_response(url=f"{BASE}/{i}", status_code=307, headers={"Location": f"/{i + 1}"})
    async with make() as f:
        with pytest.raises(Refused, match="more than 5 redirects"):
            await f.get(f"{BASE}/0")
    assert len(httpx_mock.get_requests()) == 6


@pytest.mark.parametrize(("location", "reason"), [
    ("http://169.254.169.254/latest/meta-data/", "redirect to unsafe address 169.254.169.254"),
    ("http://[::ffff:169.254.169.254]/", "redirect to unsafe address ::ffff:169.254.169.254"),
    ("http://100.100.100.200/latest/meta-data/", "redirect to unsafe address 100.100.100.200"),
    ("http://0.0.0.0:8080/", "redirect to unsafe address 0.0.0.0"),
    ("http://[fe80::1]/", "redirect to unsafe address fe80::1"),
    ("ftp://www.example.gov.cn/a.doc", "redirect to unsupported scheme ftp"),
    ("file:///etc/passwd", "redirect to unsupported scheme file"),
])
async def test_redirect_to_unsafe_target_is_refused(httpx_mock: HTTPXMock, location: str,
                                                    reason: str) -> None:
    httpx_mock.add_response(url=f"{BASE}/a", status_code=302, headers={"Location": location})
    # Configured or not, metadata and link-local addresses are never requested.
    hosts = (HOST, "169.254.169.254", "::ffff:169.254.169.254", "100.100.100.200", "0.0.0.0", "fe80::1")
    async with make(hosts=hosts) as f:
        with pytest.raises(Refused) as caught:
            await f.get(f"{BASE}/a")
    assert caught.value.reason == reason
    assert len(httpx_mock.get_requests()) == 1


@pytest.mark.parametrize(("url", "reason"), [
    ("http://evil.com/doc.html", "off-site host evil.com"),
    ("http://169.254.169.254/latest/meta-data/", "unsafe address 169.254.169.254"),
    ("ftp://www.example.gov.cn/a.doc", "unsupported scheme ftp"),
    ("javascript:void(0)", "unsupported scheme javascript"),
])
async def test_unsafe_initial_url_is_refused_unrequested(httpx_mock: HTTPXMock, url: str,
                                                         reason: str) -> None:
    async with make(obey_robots=True) as f:
        with pytest.raises(Refused) as caught:
            await f.get(url)
    assert caught.value.reason == reason and caught.value.attempts == ()
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize("url", ["http://[www.example.gov.cn/", "http://www.example.gov.cn/a\x00b"])
async def test_invalid_url_is_refused_unrequested(httpx_mock: HTTPXMock, url: str) -> None:
    async with make() as f:
        with pytest.raises(Refused) as caught:
            await f.get(url)
    assert caught.value.reason.startswith("invalid URL") and caught.value.attempts == ()


async def test_redirect_to_invalid_url_is_refused(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a", status_code=302, headers={"Location": "http://[::1/x"})
    async with make() as f:
        with pytest.raises(Refused) as caught:
            await f.get(f"{BASE}/a")
    assert caught.value.reason.startswith("redirect to invalid URL")
    assert outcomes(caught.value.attempts) == ["Refused"]


async def test_hosts_compare_case_and_idna_insensitively(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="http://xn--fiqs8s.cn/a", status_code=302, headers={"Location": "/b"})
    httpx_mock.add_response(url="http://xn--fiqs8s.cn/b", html=PAGE)
    async with make(hosts=("中国.CN.",)) as f:
        assert (await f.get("http://中国.cn/a")).status == 200


async def test_loopback_is_allowed_when_configured(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url="http://127.0.0.1:8000/a", html=PAGE)
    async with make(hosts=("http://127.0.0.1:8000",)) as f:
        assert (await f.get("http://127.0.0.1:8000/a")).status == 200


# --- robots.txt -------------------------------------------------------------------------------

# A group naming the crawler replaces the * group for it.
ROBOTS = ("User-agent: *\nDisallow: /no-bots/\n\n"
          "User-agent: govarchive\nDisallow: /private/\nDisallow: /no-archivers/\n")


async def test_robots_fetched_once_and_obeyed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/robots.txt", text=ROBOTS)
    paths = ("/a.html", "/b.html", "/no-bots/c.html")
    for path in paths:
        httpx_mock.add_response(url=BASE + path, html=PAGE)
    async with make(obey_robots=True) as f:
        results = await asyncio.gather(*(f.get(BASE + path) for path in paths))
        for path in ("/private/x.html", "/no-archivers/x.html"):
            with pytest.raises(Refused, match=r"disallowed by robots\.txt") as caught:
                await f.get(BASE + path)
            assert caught.value.attempts == ()
    assert all(r.status == 200 for r in results)
    assert [r.url.path for r in httpx_mock.get_requests()].count("/robots.txt") == 1
    robots_attempts = [a for r in results for a in r.attempts if a.url.endswith("/robots.txt")]
    assert len(robots_attempts) == 1 and robots_attempts[0].outcome == "ok"


async def test_robots_is_shared_by_the_fetchers_of_a_process_for_a_day(httpx_mock: HTTPXMock) -> None:
    now = [0.0]
    robots = RobotsCache(clock=lambda: now[0])
    httpx_mock.add_response(url=f"{BASE}/robots.txt", text=ROBOTS, is_reusable=True)
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE, is_reusable=True)
    for hours in (0, 1, 23, 25):  # e.g. two sources on one site, then later runs of the scheduler
        now[0] = hours * 3600.0
        async with make(obey_robots=True, robots=robots) as f:
            await f.get(f"{BASE}/a.html")
            with pytest.raises(Refused, match=r"robots\.txt"):
                await f.get(f"{BASE}/private/x.html")
    assert [r.url.path for r in httpx_mock.get_requests()].count("/robots.txt") == 2  # at 0 h and 25 h


async def test_concurrent_fetchers_of_one_origin_fetch_robots_once(httpx_mock: HTTPXMock) -> None:
    robots = RobotsCache()

    async def slow_robots(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)  # the other fetchers start while this one waits for robots.txt
        return httpx.Response(200, text=ROBOTS)

    httpx_mock.add_callback(slow_robots, url=f"{BASE}/robots.txt", is_reusable=True)
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE, is_reusable=True)

    async def one() -> None:
        async with make(obey_robots=True, robots=robots) as f:
            await f.get(f"{BASE}/a.html")

    await asyncio.gather(*(one() for _ in range(4)))  # four sources of one site starting together
    assert [r.url.path for r in httpx_mock.get_requests()].count("/robots.txt") == 1


async def test_robots_ignored_when_not_obeyed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/private/x.html", html=PAGE)
    async with make(obey_robots=False) as f:
        assert (await f.get(f"{BASE}/private/x.html")).status == 200


@pytest.mark.parametrize("status", [401, 403, 404, 410])
async def test_robots_4xx_allows_all(httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(url=f"{BASE}/robots.txt", status_code=status)
    httpx_mock.add_response(url=f"{BASE}/private/x.html", html=PAGE)
    async with make(obey_robots=True) as f:
        result = await f.get(f"{BASE}/private/x.html")
    assert result.status == 200 and outcomes(result.attempts) == ["ok", "ok"]


async def test_robots_5xx_makes_the_host_unavailable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/robots.txt", status_code=500, is_reusable=True)
    async with make(obey_robots=True, retries=1) as f:
        with pytest.raises(TransientError, match=r"robots\.txt unavailable") as first:
            await f.get(f"{BASE}/a.html")
        with pytest.raises(TransientError, match=r"robots\.txt unavailable") as second:
            await f.get(f"{BASE}/b.html")
    assert len(first.value.attempts) == 2 and second.value.attempts == ()
    assert [r.url.path for r in httpx_mock.get_requests()] == ["/robots.txt", "/robots.txt"]


# --- statuses and pages -----------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), [
    (404, Gone), (410, Gone), (412, Blocked), (403, PermanentError), (400, PermanentError),
])
async def test_status_classes(httpx_mock: HTTPXMock, status: int, kind: type[FetchError]) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", status_code=status)
    async with make() as f:
        with pytest.raises(kind) as caught:
            await f.get(f"{BASE}/a.html")
    assert type(caught.value) is kind and caught.value.status == status
    assert caught.value.reason.startswith(f"HTTP {status}")
    assert outcomes(caught.value.attempts) == [kind.__name__]


RUISHU = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">"
          "<meta id=\"9DhefwqGPrzGxEp9hPaoag\" content=\"qDeAj\" r='m'>"
          "<script type=\"text/javascript\" r='m'>$_ts=window['$_ts'];if(!$_ts)$_ts={};$_ts.nsd=34092;"
          "$_ts.cd=\"qDerAQory2QxmNNraJ3XKE6rAm3ETONqapFE1JCryZaWAVoJsAovkEqrkA\";</script>"
          "<script type=\"text/javascript\" charset=\"utf-8\" src=\"/4QbVtADbnLVIc/c.FxJzG50F.dfe1675.js\" "
          "r='m'></script></head><body></body></html>")
CHALLENGES = {
    "ruishu": RUISHU,
    "cookie reload": "<html><script>document.cookie='__jsl_clearance=1591; path=/';"
                     "location.href=location.pathname+location.search</script></html>",
    "cookie reload()": "<script>var x='abc';document.cookie=\"acw_sc__v2=\"+x;location.reload();</script>",
    "noscript": "<html><head><title>提示</title></head><body><noscript>请开启JavaScript并刷新该页</noscript>"
                "<script src=/check.js></script></body></html>",
    "meta refresh": "<html><head><meta http-equiv=\"refresh\" content=\"0\"></head><body></body></html>",
    "meta refresh url": "<html><head><meta content=\"1;url=/a.html\" http-equiv='Refresh'></head></html>",
    "cookie code, a word of text": "<html><body>Loading<script>document.cookie='t=1';location.reload()"
                                   "</script></body></html>",
}


@pytest.mark.parametrize("name", sorted(CHALLENGES))
async def test_challenge_page_is_blocked(httpx_mock: HTTPXMock, name: str) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", html=CHALLENGES[name])
    async with make() as f:
        with pytest.raises(Blocked) as caught:
            await f.get(f"{BASE}/a.html")
    assert caught.value.status == 200 and outcomes(caught.value.attempts) == ["Blocked"]


NAV = "".join(f"<li><a href='/c{i}/'>栏目名称{i}</a></li>" for i in range(120))  # ~1.5 KB of text
def _notice(title: str, body: str = "<p>特此通知。</p>") -> str:
    return (f"<html><head><title>{title}</title><script src=/stat.js></script></head>"
            f"<body><h1>{title}</h1>{body}<script>var _hmt = _hmt || [];</script></body></html>")


# Short real notices use every word an error page uses (issue 10, item 5): never Blocked or Gone.
NOTICES = {
    "安全验证": _notice("关于启用政务服务平台安全验证功能的通知"),
    "云锁": _notice("某某县政务云安全防护（云锁）采购项目中标公告"),
    "网站防火墙": _notice("网站防火墙设备采购结果公示"),
    "404": _notice("404名困难群众获得临时救助"),
    "页面不存在": _notice("页面不存在问题整改情况的说明", "<p>已整改。</p>"),
    "access denied": _notice("Access denied 提示页整改通知"),
    "title only": "<html><head><title>404名困难群众获得临时救助</title></head><body><p>略。</p></body></html>",
    # Pages that say what an error page says, with words only: a page of their own until the
    # run sees them shared by many URLs (crawler.verdicts.SharedPages).
    "waf words": "<html><head><title>网站防火墙</title></head><body>您的请求带有不合法参数，已被网站管理员设置拦截！"
                 "</body></html>",
    # A page a script is to fill is no challenge: it extracts empty (or the browser renders it).
    "script-built page": "<html><head><title>关于开展调查的通知</title><script src=/app.js></script></head>"
                         "<body><div id=app></div></body></html>",
    "soft 404 words": "<html><head><title>页面不存在</title></head><body><p>您访问的页面不存在！</p></body></html>",
    "nginx words": "<html><head><title>404 Not Found</title></head><body><center><h1>404 Not Found</h1>"
                   "</center><hr><center>nginx</center></body></html>",
}


@pytest.mark.parametrize("name", sorted(NOTICES))
async def test_words_alone_are_never_a_verdict(httpx_mock: HTTPXMock, name: str) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", html=NOTICES[name])
    async with make() as f:
        assert (await f.get(f"{BASE}/a.html")).status == 200


async def test_undecodable_bytes_are_unusable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", content=b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
                            headers={"Content-Type": "text/html"})
    async with make() as f:
        with pytest.raises(Unusable, match="undecodable"):
            await f.get(f"{BASE}/a.html")


async def test_a_redirect_to_the_site_root_is_unusable(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/col/a.html", status_code=302, headers={"Location": "/"})
    httpx_mock.add_response(url=f"{BASE}/", html=PAGE)
    async with make() as f:
        with pytest.raises(Unusable, match="site root") as caught:
            await f.get(f"{BASE}/col/a.html")
    assert outcomes(caught.value.attempts) == ["redirect", "Unusable"]


BODY = "".join(f"<p>第{i}条 本办法自发布之日起施行，各单位应当认真贯彻落实。</p>" for i in range(80))
REAL_PAGES = {
    # Ruishu-protected sites embed $_ts in their real pages too.
    "ruishu-protected document": RUISHU.replace("<body></body>", f"<body><h1>通知</h1>{BODY}</body>"),
    "document mentioning the markers": f"<html><head><title>关于网站改版的说明</title></head><body>{NAV}"
                                       f"<p>旧栏目链接可能显示页面不存在，或要求安全验证，请访问新栏目。</p>{BODY}</body></html>",
    "document setting a cookie": f"<html><script>document.cookie='lang=zh';location.href='#top'</script>"
                                 f"<body>{BODY}</body></html>",
    "redirect stub to another page": "<html><head><meta http-equiv=refresh content=\"0;url=/new/a.html\">"
                                     "</head></html>",
    "short notice": "<html><head><title>停电通知</title></head><body><p>明日停电。</p></body></html>",
}


@pytest.mark.parametrize("name", sorted(REAL_PAGES))
async def test_real_pages_are_not_flagged(httpx_mock: HTTPXMock, name: str) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", html=REAL_PAGES[name])
    async with make() as f:
        assert (await f.get(f"{BASE}/a.html")).status == 200


async def test_non_html_is_not_read_for_markers(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.txt", text="页面不存在",
                            headers={"Content-Type": "application/pdf"})
    async with make() as f:
        assert (await f.get(f"{BASE}/a.txt")).status == 200


# --- the exception boundary -------------------------------------------------------------------


def _httpx_exception_types() -> list[type[Exception]]:
    found = (getattr(httpx, name) for name in httpx.__all__)
    return sorted((t for t in found if isinstance(t, type) and issubclass(t, Exception)),
                  key=lambda t: t.__name__)


def _instance(kind: type[Exception]) -> Exception:
    request = httpx.Request("GET", f"{BASE}/a.html")
    if kind is httpx.HTTPStatusError:
        return kind("boom", request=request, response=httpx.Response(500, request=request))
    try:
        return kind("boom")
    except TypeError:
        return kind()


NOT_HTTPX = [OSError, ConnectionResetError, ValueError, RuntimeError, zlib.error]


@pytest.mark.parametrize("kind", _httpx_exception_types() + NOT_HTTPX, ids=lambda t: t.__name__)
@pytest.mark.parametrize("where", ["request", "body"])
async def test_no_exception_escapes_but_fetch_errors(kind: type[Exception], where: str) -> None:
    class Failing(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b"<html>"
            raise _instance(kind)

    def handler(request: httpx.Request) -> httpx.Response:
        if where == "request":
            raise _instance(kind)
        return httpx.Response(200, stream=Failing())

    async with make(transport=httpx.MockTransport(handler), retries=1) as f:
        with pytest.raises(FetchError) as caught:
            await f.get(f"{BASE}/a.html")
    assert not isinstance(caught.value, httpx.HTTPError | httpx.InvalidURL | httpx.StreamError)
    assert caught.value.url == f"{BASE}/a.html" and caught.value.reason
    assert caught.value.attempts or kind is httpx.InvalidURL


@pytest.mark.parametrize(("error", "kind", "reason"), [
    (httpx.ConnectTimeout("x"), TransientError, "connect timeout"),
    (httpx.ReadTimeout("x"), TransientError, "read timeout"),
    (httpx.ConnectError("[Errno 111] Connection refused"), TransientError,
     "connection failed: [Errno 111] Connection refused"),
    (httpx.ReadError("reset"), TransientError, "connection broken while reading: reset"),
    (httpx.RemoteProtocolError("bad"), TransientError, "incomplete or malformed response: bad"),
    (httpx.LocalProtocolError("bad header"), PermanentError, "LocalProtocolError: bad header"),
    (httpx.UnsupportedProtocol("no"), Refused, "unsupported URL: no"),
    (httpx.DecodingError("bad gzip"), PermanentError, "undecodable body: bad gzip"),
])
async def test_httpx_errors_are_translated(error: Exception, kind: type[FetchError], reason: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    async with make(transport=httpx.MockTransport(handler), retries=0) as f:
        with pytest.raises(kind) as caught:
            await f.get(f"{BASE}/a.html")
    assert type(caught.value) is kind and caught.value.reason == reason


# --- the host limiter -------------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when the limiter sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def _turns(limiter: HostLimiter, host: str, delay: float, n: int, t: FakeTime | None = None,
                 took: float = 0.0) -> None:
    for _ in range(n):
        async with limiter.turn(host, delay):
            if t is not None:
                t.now += took  # the request took this long


async def test_limiter_spaces_one_host_by_delay() -> None:
    t = FakeTime()
    limiter = HostLimiter(clock=t.clock, sleep=t.sleep)
    await _turns(limiter, HOST, 2.0, 3)
    t.now += 5.0  # a pause longer than the delay: no wait
    await _turns(limiter, HOST, 2.0, 1)
    assert t.sleeps == [2.0, 2.0]


async def test_limiter_spacing_counts_from_the_end_of_the_response() -> None:
    t = FakeTime()
    limiter = HostLimiter(clock=t.clock, sleep=t.sleep)
    await _turns(limiter, HOST, 1.0, 3, t, took=3.0)  # 3-second responses, delay 1
    assert t.sleeps == [1.0, 1.0]


async def test_one_request_in_flight_per_host(httpx_mock: HTTPXMock) -> None:
    """delay = 1 and 3-second responses: never two requests to the host at once (issue 10, item 11)."""
    in_flight, most = [0], [0]

    async def slow(request: httpx.Request) -> httpx.Response:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await asyncio.sleep(0.03)  # the response takes a while; other workers are waiting meanwhile
        in_flight[0] -= 1
        return httpx.Response(200, html=PAGE)

    httpx_mock.add_callback(slow, is_reusable=True)
    limiter = HostLimiter(sleep=_no_wait)  # real clock; spacing sleeps are skipped
    async with make(limiter=limiter, delay=1.0, hosts=(HOST, "other.gov.cn")) as f, \
            make(limiter=limiter, delay=1.0, hosts=(HOST,)) as g:
        await asyncio.gather(*(fetcher.get(f"{BASE}/{i}.html") for i in range(4) for fetcher in (f, g)),
                             f.get("http://other.gov.cn/a.html"))
    assert most[0] == 2  # HOST's one, and other.gov.cn's at the same time
    assert len(httpx_mock.get_requests()) == 9


async def test_limiter_hosts_are_independent_and_delay_zero_never_waits() -> None:
    t = FakeTime()
    limiter = HostLimiter(clock=t.clock, sleep=t.sleep)
    await _turns(limiter, "a.gov.cn", 3.0, 1)
    await _turns(limiter, "b.gov.cn", 3.0, 1)
    await _turns(limiter, "c.gov.cn", 0.0, 5)
    assert t.sleeps == []


async def test_limiter_backs_off_on_host_signals_and_recovers() -> None:
    t = FakeTime()
    limiter = HostLimiter(clock=t.clock, sleep=t.sleep)
    assert limiter.spacing(HOST, 1.0) == 1.0
    limiter.failed(HOST, f"{BASE}/a", "overload")
    limiter.failed(HOST, f"{BASE}/a", "overload")  # one URL's 503, retried: counted once
    assert limiter.spacing(HOST, 1.0) == 2.0
    spacings = []
    for path in "bcd":
        limiter.failed(HOST, f"{BASE}/{path}", "overload")
        spacings.append(limiter.spacing(HOST, 1.0))
    assert spacings == [4.0, 8.0, 16.0] and limiter.resting(HOST) is None
    limiter.failed(HOST, f"{BASE}/e", "overload")
    assert limiter.spacing(HOST, 1.0) == 32.0 and "resting" in (limiter.resting(HOST) or "")
    assert limiter.spacing("other.gov.cn", 1.0) == 1.0
    limiter.failed("zero.gov.cn", "http://zero.gov.cn/a", "overload")
    assert limiter.spacing("zero.gov.cn", 0.0) == 1.0  # even a host without delay backs off
    t.now += 600.0  # the rest is over: one request may try again
    assert limiter.resting(HOST) is None
    limiter.succeeded(HOST)
    assert limiter.spacing(HOST, 1.0) == 1.0


def test_one_urls_failure_is_not_the_hosts() -> None:
    limiter = HostLimiter()
    for _ in range(10):
        limiter.failed(HOST, f"{BASE}/b", "connection")  # one URL timing out again and again
    assert limiter.spacing(HOST, 1.0) == 1.0 and limiter.resting(HOST) is None
    limiter.failed(HOST, f"{BASE}/c", "connection")
    assert limiter.spacing(HOST, 1.0) == 1.0  # two URLs: still not the host
    limiter.failed(HOST, f"{BASE}/d", "connection")
    assert limiter.spacing(HOST, 1.0) == 8.0  # three different URLs: the host is in trouble


async def test_fetchers_share_the_limiter(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE, is_reusable=True)
    t = FakeTime()
    limiter = HostLimiter(clock=t.clock, sleep=t.sleep)
    async with make(limiter=limiter, delay=1.0) as f1, make(limiter=limiter, delay=1.0) as f2:
        for f in (f1, f2, f1, f2):
            await f.get(f"{BASE}/a.html")
    assert t.sleeps == [1.0, 1.0, 1.0]


async def test_503s_slow_the_host_down(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a.html", status_code=503)
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE)
    httpx_mock.add_response(url=f"{BASE}/b.html", status_code=503)
    httpx_mock.add_response(url=f"{BASE}/b.html", html=PAGE)
    t = FakeTime()
    limiter = HostLimiter(clock=t.clock, sleep=t.sleep)
    async with make(limiter=limiter, delay=1.0, backoff=0.0) as f:
        await f.get(f"{BASE}/a.html")
        assert limiter.spacing(HOST, 1.0) == 1.0  # the success restored it
        await f.get(f"{BASE}/b.html")
    assert t.sleeps == [2.0, 1.0, 2.0]  # 1 s delay doubled after each 503


async def test_a_urls_500_does_not_slow_the_host_down(httpx_mock: HTTPXMock) -> None:
    """Issue 10, item 12: one URL's 500 is retried, and the host's other URLs keep their pace."""
    httpx_mock.add_response(url=f"{BASE}/broken.html", status_code=500, is_reusable=True)
    httpx_mock.add_response(url=f"{BASE}/a.html", html=PAGE, is_reusable=True)
    t = FakeTime()
    limiter = HostLimiter(clock=t.clock, sleep=t.sleep)
    async with make(limiter=limiter, delay=1.0, backoff=0.0, retries=3) as f:
        for _ in range(5):
            with pytest.raises(TransientError, match="HTTP 500 after 4 attempts"):
                await f.get(f"{BASE}/broken.html")
        await f.get(f"{BASE}/a.html")
    assert set(t.sleeps) == {1.0} and limiter.spacing(HOST, 1.0) == 1.0


async def test_a_host_answering_every_request_with_503_rests_after_a_few(httpx_mock: HTTPXMock) -> None:
    """Issue 10, item 12: 20 documents all 503 cost the tries of REST_AFTER URLs and a few minutes
    of spacing, not hours; the rest fail at once, unrequested, and are tried on the next run."""
    httpx_mock.add_response(status_code=503, is_reusable=True)
    t = FakeTime()
    limiter = HostLimiter(clock=t.clock, sleep=t.sleep)
    sleeps = Sleeps()
    async with make(sleeps, limiter=limiter, delay=1.0, retries=3, backoff=2.0) as f:
        for i in range(20):
            with pytest.raises(TransientError) as caught:
                await f.get(f"{BASE}/{i}.html")
    assert "host resting" in caught.value.reason and caught.value.attempts[-1].status is None
    # The first URL is tried 4 times; once a second URL fails too, each URL gets one try; at the
    # fifth the host rests.
    assert len(httpx_mock.get_requests()) == 4 + 4
    assert sum(t.sleeps) < 300  # of spacing, while the old limiter spent 4500 s


async def test_connection_failures_across_urls_rest_the_host() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        raise httpx.ConnectError("[Errno 111] Connection refused")

    limiter = HostLimiter(sleep=_no_wait)
    async with make(transport=httpx.MockTransport(handler), limiter=limiter, retries=1) as f:
        for i in range(20):
            with pytest.raises(TransientError):
                await f.get(f"{BASE}/{i}.html")
    # 2 tries each for two URLs; from the third the failures are the host's (one try each), and
    # at the fifth it rests.
    assert len(calls) == 2 + 2 + 3 and limiter.resting(HOST)


# --- robustness -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(status=st.integers(200, 599), body=st.binary(max_size=2000),
       content_type=st.sampled_from(["", "text/html", "text/html; charset=gbk", "application/pdf", "text/x"]),
       encoding=st.sampled_from(["", "gzip", "deflate", "br", "identity", "gzip, gzip"]),
       location=st.text(max_size=30), retry_after=st.text(max_size=30))
def test_any_response_gives_a_result_or_a_fetch_error(
        status: int, body: bytes, content_type: str, encoding: str, location: str, retry_after: str) -> None:
    headers = {"Content-Type": content_type, "Content-Encoding": encoding, "Location": location,
               "Retry-After": retry_after}
    # Raw bytes, as a server may send them (UTF-8 Chinese in Location included).
    raw = [(k.encode(), v.encode("utf-8", "replace")) for k, v in headers.items() if v and v.isprintable()]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=raw, content=body)

    async def fetch() -> None:
        async with make(transport=httpx.MockTransport(handler), retries=1, max_retry_after=5.0) as f:
            try:
                result = await f.get(f"{BASE}/a.html")
            except FetchError as e:
                assert e.reason and e.url == f"{BASE}/a.html"
            else:
                assert 200 <= result.status < 300 or result.status == 304
                assert len(result.content) <= f.settings.max_bytes

    asyncio.run(fetch())


# --- origins and credentials (issue 10, items 4 and 17) ---------------------------------------


async def test_another_port_of_a_configured_host_is_refused_unrequested(httpx_mock: HTTPXMock) -> None:
    async with make() as f:
        with pytest.raises(Refused) as caught:
            await f.get(f"http://{HOST}:8080/a")
    assert caught.value.reason == f"off-site origin http://{HOST}:8080"
    assert httpx_mock.get_requests() == []


async def test_redirect_to_another_port_is_refused_unrequested(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a", status_code=302, headers={"Location": f"http://{HOST}:8080/b"})
    async with make() as f:
        with pytest.raises(Refused) as caught:
            await f.get(f"{BASE}/a")
    assert caught.value.reason == f"redirect to off-site origin http://{HOST}:8080"
    assert [str(r.url) for r in httpx_mock.get_requests()] == [f"{BASE}/a"]


async def test_the_site_moving_to_https_is_followed(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a", status_code=301, headers={"Location": f"https://{HOST}/a"})
    httpx_mock.add_response(url=f"https://{HOST}/a", html=PAGE)
    async with make(hosts=(BASE + "/col/",)) as f:
        assert (await f.get(f"{BASE}/a")).final_url == f"https://{HOST}/a"


async def test_credentials_in_a_url_are_never_sent(httpx_mock: HTTPXMock) -> None:
    async with make() as f:
        with pytest.raises(Refused) as caught:
            await f.get(f"http://user:secret@{HOST}/a")
    assert "credentials" in caught.value.reason and "secret" not in str(caught.value)
    assert httpx_mock.get_requests() == []


async def test_redirect_to_a_url_with_credentials_is_refused(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=f"{BASE}/a", status_code=302,
                            headers={"Location": f"http://user:secret@{HOST}/b"})
    async with make() as f:
        with pytest.raises(Refused) as caught:
            await f.get(f"{BASE}/a")
    assert caught.value.reason == "redirect to URL with credentials (user:password@), never sent"
    assert all("secret" not in f"{a.url} {a.reason}" for a in caught.value.attempts)
    assert [str(r.url) for r in httpx_mock.get_requests()] == [f"{BASE}/a"]
    assert all("authorization" not in r.headers for r in httpx_mock.get_requests())


@pytest.mark.parametrize("configured", ["政府.网络", "xn--mxtq1m.xn--io0a7i", "XN--MXTQ1M.XN--IO0A7I"])
@pytest.mark.parametrize("link", ["http://政府.网络/a", "http://xn--mxtq1m.xn--io0a7i/a",
                                  "http://XN--MXTQ1M.xn--io0a7i/a"])
async def test_idn_hosts_match_in_unicode_and_punycode(httpx_mock: HTTPXMock, configured: str,
                                                       link: str) -> None:
    httpx_mock.add_response(url="http://xn--mxtq1m.xn--io0a7i/a", html=PAGE)
    async with make(hosts=(configured,)) as f:
        assert (await f.get(link)).status == 200
