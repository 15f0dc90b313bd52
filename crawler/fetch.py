"""Fetching: polite, bounded HTTP GETs with httpx.

Exceptions (callers catch the level they need)::

    FetchError                 any fetch that produced no usable page
    ├── TransientError         may work later: timeout, connection error, 5xx, 429 (after retries)
    └── PermanentError         will not work by retrying
        ├── Gone               404/410, or a 200 that says 页面不存在 (soft 404)
        ├── Blocked            an anti-bot challenge (412, or a cookie-setting reload script)
        ├── TooLarge           body bigger than ``max_bytes``
        ├── NeedsBrowser       a page only a browser can fetch, and no browser could be started
        └── Refused            never requested: off-site, robots.txt, unsafe address, bad scheme,
                               redirect loop

One ``Fetcher.get`` is: check the URL (scheme, host, address) → robots.txt of its origin (fetched
once per Fetcher) → wait for the host's turn (``HostLimiter``) → one request, its body streamed
within ``max_bytes`` and a whole-attempt deadline → retry transient failures with backoff →
follow redirects by hand, each hop checked like the first URL → read the page for challenges
and soft 404s. Every request made is an :class:`Attempt`; httpx errors never leave this module.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import html
import ipaddress
import logging
import re
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

import httpx
from protego import Protego

from .config import Settings
from .encoding import charset_from_content_type, decode_html
from .text import clean
from .urls import Scope, canonical, has_credentials, host_key, origin

__all__ = [
    "Attempt",
    "Blocked",
    "FetchError",
    "FetchResult",
    "Fetcher",
    "Gone",
    "HostLimiter",
    "NeedsBrowser",
    "PermanentError",
    "Refused",
    "TooLarge",
    "TransientError",
]

log = logging.getLogger("govarchive")

ACCEPT_LANGUAGE = "zh-CN,zh;q=0.9"
#: Only encodings this module decodes itself, with bounded output (see ``_Inflater``).
ACCEPT_ENCODING = "gzip, deflate"
#: Redirect hops followed per fetch; one more is refused.
MAX_REDIRECTS = 5
#: An attempt, from connecting to the last body byte, may take this many times ``timeout``:
#: httpx's timeouts are per operation, so a server trickling a byte per second never trips them.
DEADLINE_FACTOR = 4
#: A host's spacing after consecutive transient errors doubles from max(delay, this) ...
MIN_BACKOFF_SPACING = 0.5
#: ... up to this many seconds.
MAX_SPACING = 60.0
#: robots.txt bodies read at most (RFC 9309 asks crawlers to parse at least 500 KiB).
ROBOTS_MAX_BYTES = 512 * 1024
#: How long a robots.txt is reused by the fetchers of a process (RFC 9309 §2.4: at most a day).
ROBOTS_TTL = 24 * 3600.0


# --- exceptions -------------------------------------------------------------------------------


class FetchError(Exception):
    """A fetch that produced no usable page; ``reason`` says why in a few words."""

    def __init__(self, url: str, reason: str, *, status: int | None = None,
                 attempts: tuple[Attempt, ...] = ()) -> None:
        super().__init__(url, reason)
        self.url = url
        self.reason = reason
        self.status = status
        #: Every request this fetch made (robots.txt, retries, redirect hops), in order.
        self.attempts = attempts

    def __str__(self) -> str:
        return f"{self.url}: {self.reason}"


class TransientError(FetchError):
    """May work later: timeout, connection error, truncated body, 5xx or 429 after every retry."""

    def __init__(self, url: str, reason: str, *, status: int | None = None,
                 attempts: tuple[Attempt, ...] = (), retry_after: float | None = None) -> None:
        super().__init__(url, reason, status=status, attempts=attempts)
        #: Seconds the server asked us to wait (Retry-After), if it said.
        self.retry_after = retry_after


class PermanentError(FetchError):
    """Will not work by sending the same request again (a 4xx other than those below)."""


class Gone(PermanentError):
    """The page is no longer there: 404, 410, or a small 200 page saying 页面不存在 (soft 404)."""


class Blocked(PermanentError):
    """An anti-bot challenge or WAF page came instead of the page (412, Ruishu ``$_ts`` …)."""


class TooLarge(PermanentError):
    """The body is bigger than ``max_bytes``, declared or as streamed (after decompression)."""


class NeedsBrowser(PermanentError):
    """The page needs a browser (a challenge, a scripted list) and none could be started."""


class Refused(PermanentError):
    """Never requested: off-site or unsafe address, bad scheme, robots.txt, redirect loop."""


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One HTTP request as sent: what came back, or why nothing did."""

    url: str
    started: dt.datetime
    elapsed: float
    status: int | None
    #: "ok", "not_modified", "redirect", "retry", or the name of the error class that ended
    #: the fetch. robots.txt requests are "ok" whenever they settled the rules (404 included).
    outcome: str
    reason: str = ""


@dataclass(frozen=True)
class FetchResult:
    """A successful fetch (2xx, or 304 when a conditional request found the page unchanged)."""

    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    content: bytes
    charset: str | None
    fetched_at: dt.datetime
    attempts: tuple[Attempt, ...] = field(default=())
    #: Rendered by the browser (crawler.browser): ``content`` is the HTML the page ended with.
    rendered: bool = False

    @property
    def not_modified(self) -> bool:
        return self.status == 304


# --- page markers (rules are data) ------------------------------------------------------------

#: Pages bigger than this are real documents: never read for challenges or soft 404s.
SCAN_BYTES = 256 * 1024
#: At most this much visible text: the page says nothing, so a challenge script is the page.
BARE_TEXT = 200
#: At most this much visible text: a marker text in it speaks for the whole page.
SHORT_TEXT = 1000

#: Anti-bot scripts, searched in bare pages (real Ruishu-protected pages carry ``$_ts`` too).
CHALLENGE_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Ruishu $_ts", re.compile(r"\$_ts\s*=\s*window\[")),
    ("cookie-setting reload", re.compile(
        r"document\.cookie\s*=[\s\S]{0,2000}?"
        r"(?:location\.reload|location\.replace|location(?:\.href)?\s*=(?!=))")),
)
#: Texts of challenge and WAF block pages, searched (lower-cased) in short pages.
CHALLENGE_TEXTS = (
    "请开启javascript", "请启用javascript", "请打开javascript", "开启浏览器javascript",
    "please enable javascript", "安全验证", "访问验证", "人机验证", "滑动验证", "您的访问被拦截",
    "访问被拦截", "网站防火墙", "安全狗", "云锁", "疑似黑客攻击", "创宇盾", "access denied",
    "request rejected", "the requested url was rejected", "web application firewall",
)
#: Texts of "no such page" pages served with 200, searched (lower-cased) in short pages.
GONE_TEXTS = (
    "页面不存在", "页面已删除", "页面已被删除", "页面未找到", "页面找不到", "找不到页面",
    "文章不存在", "文章已删除", "404 not found", "page not found",
)
#: Title beginnings of soft 404 pages, however much navigation surrounds them.
GONE_TITLES = ("404", "页面不存在", "您访问的页面不存在", "页面未找到", "页面已删除", "not found",
               "page not found")

_HIDDEN = re.compile(r"<(script|style|template)\b[^>]*>.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_META_REFRESH = re.compile(r"<meta\b[^>]*http-equiv\s*=\s*[\"']?refresh\b[^>]*>", re.IGNORECASE)
_REFRESH_URL = re.compile(r"content\s*=\s*[\"']?\s*[\d.]*\s*(?:[;,]\s*(?:url\s*=\s*)?[\"']?([^\"'>\s]*))?",
                          re.IGNORECASE)

#: Addresses never requested, even when configured: cloud metadata services (AWS/GCP/Azure,
#: Alibaba Cloud, AWS IPv6). Other link-local, multicast and unspecified addresses are refused too.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254"))
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "0.x.y.z" reaches the local host on Linux

#: httpx errors → reason recorded; first match wins, so subclasses come first.
_TRANSIENT_REASONS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "connect timeout"),
    (httpx.ReadTimeout, "read timeout"),
    (httpx.WriteTimeout, "write timeout"),
    (httpx.PoolTimeout, "pool timeout"),
    (httpx.TimeoutException, "timeout"),
    (httpx.ConnectError, "connection failed"),
    (httpx.ReadError, "connection broken while reading"),
    (httpx.WriteError, "connection broken while sending"),
    (httpx.CloseError, "connection close failed"),
    (httpx.RemoteProtocolError, "incomplete or malformed response"),
    (httpx.ProxyError, "proxy error"),
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BAD_LOCATION = "Invalid URL in location header"  # httpx's RemoteProtocolError message


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- politeness -------------------------------------------------------------------------------


class HostLimiter:
    """Shared by all fetchers of a process: spaces requests to one host by ``delay``; backs off
    a host after errors.

    Each ``wait`` reserves the host's next start time before sleeping, so concurrent callers
    queue up ``delay`` apart without a lock held across the sleep; with delay 0 nobody waits.
    After ``failed`` the spacing doubles per consecutive error (from max(delay,
    MIN_BACKOFF_SPACING), up to MAX_SPACING); ``succeeded`` restores ``delay``.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._last: dict[str, float] = {}  # start granted to the latest request, per host
        self._failures: dict[str, int] = {}  # consecutive transient errors, per host
        self._lock = threading.Lock()  # crawls running in other threads may share one limiter
        self._robots: dict[str, tuple[float, Protego | None]] = {}  # per origin: (fetched, rules)
        self._robots_locks: dict[str, asyncio.Lock] = {}

    def robots_lock(self, origin: str) -> asyncio.Lock:
        """Held while an origin's robots.txt is looked up, so concurrent fetchers fetch it once."""
        return self._robots_locks.setdefault(origin, asyncio.Lock())

    def robots(self, origin: str) -> tuple[bool, Protego | None]:
        """``(known, rules)`` of an origin's robots.txt fetched within ROBOTS_TTL; None: all allowed."""
        fetched, rules = self._robots.get(origin, (float("-inf"), None))
        return self._clock() - fetched < ROBOTS_TTL, rules

    def remember_robots(self, origin: str, rules: Protego | None) -> None:
        """Keep an origin's robots.txt for the other fetchers of the process."""
        self._robots[origin] = (self._clock(), rules)

    async def wait(self, host: str, delay: float) -> None:
        """Return when the caller may send its request to ``host``."""
        with self._lock:
            now = self._clock()
            last = self._last.get(host)
            start = now if last is None else max(now, last + self.spacing(host, delay))
            self._last[host] = start
        if start > now:
            await self._sleep(start - now)

    def spacing(self, host: str, delay: float) -> float:
        """Seconds between two request starts to ``host`` now."""
        n = self._failures.get(host, 0)
        return delay if n == 0 else min(MAX_SPACING, max(delay, MIN_BACKOFF_SPACING) * 2**n)

    def failed(self, host: str) -> None:
        """A request to ``host`` failed transiently: space its requests further."""
        with self._lock:
            self._failures[host] = min(self._failures.get(host, 0) + 1, 16)

    def succeeded(self, host: str) -> None:
        """``host`` answered: back to its configured delay."""
        with self._lock:
            self._failures.pop(host, None)


# --- the fetcher ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Reply:
    """One response, its body read only when it is 2xx."""

    url: str
    status: int
    headers: dict[str, str]
    content: bytes
    started: dt.datetime
    elapsed: float
    #: Where a redirect points, absolute and without fragment, as httpx resolved its Location.
    location: str | None = None

    def attempt(self, outcome: str, reason: str = "") -> Attempt:
        return Attempt(self.url, self.started, self.elapsed, self.status, outcome, reason)


#: Per origin: robots.txt rules, None (no usable robots.txt: all allowed), or why it failed.
_Robots = Protego | None | TransientError


class Fetcher:
    """GETs the pages of one source's ``hosts``, politely and within the limits of ``settings``.

    ``limiter`` is shared between fetchers to space requests per host (default: a private one);
    ``transport`` replaces httpx's network transport (tests); ``sleep`` is awaited for retry
    backoff and, with the default limiter, for host spacing; ``extra_headers(url)`` adds headers
    to each request (the cookies and User-Agent a browser earned on a challenge, crawler.browser).
    """

    def __init__(self, settings: Settings, hosts: Collection[str], *, limiter: HostLimiter | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 extra_headers: Callable[[str], Mapping[str, str]] | None = None) -> None:
        self.settings = settings
        self._extra_headers = extra_headers
        self._scope = Scope(hosts)
        self._limiter = limiter or HostLimiter(sleep=sleep)
        self._sleep = sleep
        self._robots: dict[str, _Robots] = {}
        self._client = httpx.AsyncClient(
            transport=transport, follow_redirects=False, timeout=httpx.Timeout(settings.timeout),
            headers={"User-Agent": settings.user_agent, "Accept-Language": ACCEPT_LANGUAGE,
                     "Accept-Encoding": ACCEPT_ENCODING})

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, url: str, *, etag: str | None = None,
                  last_modified: str | None = None) -> FetchResult:
        """GET ``url`` (conditionally when ``etag``/``last_modified`` are given).

        Raises a :class:`FetchError` subclass, carrying every attempt; nothing else escapes.
        """
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempts: list[Attempt] = []
        try:
            return await self._get(url, headers, attempts)
        except FetchError as e:
            # Raised deep down with the URL of a hop; callers want the URL they asked for (never
            # with its credentials, which are refused, not sent).
            e.url, e.attempts = canonical(url) if has_credentials(url) else url, tuple(attempts)
            raise
        except Exception as e:  # a bug (say, in page classification) must not stop the crawl
            error = _unexpected(url, e)
            error.attempts = tuple(attempts)
            raise error from e

    # -- the rules, for the browser's requests too (crawler.browser) ---------------------------

    def refusal(self, url: str) -> str | None:
        """Why ``url`` must not be requested (scheme, unsafe address, off-site host), or None."""
        return _refusal(url, self._scope)

    async def check_robots(self, url: str, attempts: list[Attempt]) -> None:
        """Raise Refused if robots.txt disallows ``url`` (when ``obey_robots``); its fetch goes in ``attempts``."""
        if self.settings.obey_robots:
            await self._check_robots(url, attempts)

    async def wait_turn(self, url: str) -> None:
        """Return when a request to ``url``'s host may start (the host's spacing)."""
        await self._limiter.wait(host_key(urlsplit(url).hostname or ""), self.settings.delay)

    @staticmethod
    def verdict(url: str, status: int, headers: dict[str, str], content: bytes) -> None:
        """Raise the FetchError a final page means (404, challenge, soft 404); return for a real page."""
        _classify(_Reply(url, status, headers, content, _utcnow(), 0.0))

    async def _get(self, url: str, headers: dict[str, str], attempts: list[Attempt]) -> FetchResult:
        reply = await self._follow(url, headers, attempts, max_bytes=self.settings.max_bytes,
                                   robots=self.settings.obey_robots)
        try:
            _classify(reply)
        except FetchError as e:
            attempts.append(reply.attempt(type(e).__name__, e.reason))
            raise
        attempts.append(reply.attempt("not_modified" if reply.status == 304 else "ok"))
        return FetchResult(
            url=url, final_url=reply.url, status=reply.status, headers=reply.headers,
            content=reply.content, charset=charset_from_content_type(reply.headers.get("content-type")),
            fetched_at=reply.started + dt.timedelta(seconds=reply.elapsed), attempts=tuple(attempts))

    async def _follow(self, url: str, headers: dict[str, str], attempts: list[Attempt], *,
                      max_bytes: int, robots: bool) -> _Reply:
        """Request ``url``, following redirects; every hop is checked before it is requested."""
        problem = _refusal(url, self._scope)
        if problem:
            raise Refused(url, problem)
        seen, current = {url}, url
        for hop in range(MAX_REDIRECTS + 1):
            if robots:
                await self._check_robots(current, attempts)
            reply = await self._request(current, headers, attempts, max_bytes=max_bytes)
            location = reply.location
            if location is None:
                return reply
            if location in seen:
                problem = "redirect loop"
            elif hop == MAX_REDIRECTS:
                problem = f"more than {MAX_REDIRECTS} redirects"
            else:
                problem = _refusal(location, self._scope, prefix="redirect to ")
            if problem:
                attempts.append(reply.attempt("Refused", problem))
                raise Refused(url, problem, status=reply.status)
            attempts.append(reply.attempt("redirect", f"to {location}"))
            seen.add(location)
            current = location
        raise AssertionError("unreachable: the last hop either returns or is refused")

    async def _request(self, url: str, headers: dict[str, str], attempts: list[Attempt], *,
                       max_bytes: int) -> _Reply:
        """One GET, retried on transient failures with backoff; failed tries are recorded here."""
        s = self.settings
        host = host_key(urlsplit(url).hostname or "")
        tries = s.retries + 1
        for n in range(1, tries + 1):
            await self._limiter.wait(host, s.delay)
            started, t0 = _utcnow(), time.monotonic()
            try:
                reply = await self._exchange(url, headers, max_bytes, started, t0)
            except TransientError as e:
                failure = e
            except FetchError as e:
                attempts.append(Attempt(url, started, time.monotonic() - t0, e.status,
                                        type(e).__name__, e.reason))
                raise
            else:
                if not _retryable(reply.status):
                    self._limiter.succeeded(host)
                    return reply
                failure = TransientError(url, f"HTTP {reply.status}", status=reply.status,
                                         retry_after=_retry_after(reply.headers.get("retry-after")))
            self._limiter.failed(host)
            pause = self._pause(failure, n, tries)
            record = Attempt(url, started, time.monotonic() - t0, failure.status,
                             "retry" if pause is not None else "TransientError", failure.reason)
            attempts.append(record)
            if pause is None:
                raise failure
            await self._sleep(pause)
        raise AssertionError("unreachable: the last try either returns or raises")

    def _pause(self, failure: TransientError, n: int, tries: int) -> float | None:
        """Seconds before try ``n + 1``, or None to give up (``failure.reason`` then says why)."""
        wait = failure.retry_after
        if wait is not None and wait > self.settings.max_retry_after:
            failure.reason += f", Retry-After {wait:g} s exceeds {self.settings.max_retry_after:g} s"
            return None
        if n == tries:
            if n > 1:
                failure.reason += f" after {n} attempts"
            return None
        return max(self.settings.backoff * 2 ** (n - 1), wait or 0.0)

    async def _exchange(self, url: str, headers: dict[str, str], max_bytes: int,
                        started: dt.datetime, t0: float) -> _Reply:
        """Send one request and read its body, within the attempt deadline."""
        deadline = DEADLINE_FACTOR * self.settings.timeout
        if self._extra_headers:
            headers = {**headers, **self._extra_headers(url)}
        try:
            async with asyncio.timeout(deadline):
                async with self._client.stream("GET", url, headers=headers) as response:
                    status = response.status_code
                    content = b""
                    if 200 <= status < 300:
                        content = await _read_body(url, response, max_bytes)
        except FetchError:
            raise
        except TimeoutError:  # asyncio's deadline; httpx's own timeouts are httpx.TimeoutException
            raise TransientError(url, f"no complete response within {deadline:g} s") from None
        except httpx.InvalidURL as e:
            raise Refused(url, f"invalid URL: {e}") from e
        except httpx.HTTPError as e:
            raise _translate(url, e) from e
        except Exception as e:  # not an httpx error: a bug, or a transport raising raw errors
            raise _unexpected(url, e) from e
        fields = {k.lower(): v for k, v in response.headers.items()}
        target = response.next_request  # set for a redirect with a Location, followed or not
        location = str(target.url.copy_with(fragment=None)) if target else None
        return _Reply(url, status, fields, content, started, time.monotonic() - t0, location)

    async def _check_robots(self, url: str, attempts: list[Attempt]) -> None:
        """Refuse ``url`` if its origin's robots.txt disallows it (fetched once per origin and day)."""
        where = str(origin(url))
        async with self._limiter.robots_lock(where):
            if where not in self._robots:
                known, shared = self._limiter.robots(where)
                if known:
                    self._robots[where] = shared
                else:
                    rules = await self._load_robots(where, attempts)
                    self._robots[where] = rules
                    if not isinstance(rules, TransientError):  # a failure is retried by the next fetcher
                        self._limiter.remember_robots(where, rules)
        rules = self._robots[where]
        if isinstance(rules, TransientError):
            raise TransientError(url, rules.reason, status=rules.status, retry_after=rules.retry_after)
        if rules is not None and not rules.can_fetch(url, self.settings.user_agent):
            raise Refused(url, "disallowed by robots.txt")

    async def _load_robots(self, origin: str, attempts: list[Attempt]) -> _Robots:
        url = origin + "/robots.txt"
        try:
            reply = await self._follow(url, {}, attempts, max_bytes=ROBOTS_MAX_BYTES, robots=False)
        except TransientError as e:
            # RFC 9309 §2.3.1.4: an unreachable robots.txt (5xx, network) means "assume full
            # disallow". We say the host is temporarily unavailable for the rest of this crawl, so
            # its documents count as failed, not refused or removed, and are tried next time.
            return TransientError(url, f"robots.txt unavailable: {e.reason}", status=e.status,
                                  retry_after=e.retry_after)
        except PermanentError as e:
            # Off-site redirect, too big, undecodable: no usable rules; allow all, as for a 4xx.
            log.info("robots.txt unusable, all allowed", extra={"url": url, "reason": e.reason})
            return None
        ok = 200 <= reply.status < 300
        attempts.append(reply.attempt("ok", "robots.txt" if ok else "no robots.txt: all allowed"))
        # RFC 9309 §2.3.1.3: a 4xx robots.txt is "unavailable": any page may be crawled.
        return Protego.parse(reply.content.decode("utf-8", "replace")) if ok else None


# --- helpers ----------------------------------------------------------------------------------


def _refusal(url: str, scope: Scope, *, prefix: str = "") -> str | None:
    """Why ``url`` must not be requested, or None."""
    try:
        parts = urlsplit(url)
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as e:
        return f"{prefix}invalid URL ({e})"
    if parts.scheme not in ("http", "https"):
        return f"{prefix}unsupported scheme {parts.scheme or '(none)'}"
    if has_credentials(url):  # httpx would send them as an Authorization header
        return f"{prefix}URL with credentials (user:password@), never sent"
    host = host_key(parts.hostname or "")
    if not host:
        return f"{prefix}URL without a host"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and _unsafe(ip):
        return f"{prefix}unsafe address {host}"
    if not scope.allows(url):
        if host in scope.hosts:  # another port (another service) of an allowed host
            return f"{prefix}off-site origin {origin(url)}"
        return f"{prefix}off-site host {host}"
    return None


def _unsafe(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip in METADATA_ADDRESSES or ip.is_link_local or ip.is_unspecified or ip.is_multicast
            or ip.is_reserved or (ip.version == 4 and ip in _THIS_NETWORK))


def _unexpected(url: str, e: Exception) -> PermanentError:
    """An error nothing here expected; not retried, since it is most likely a bug."""
    log.exception("unexpected fetch error", extra={"url": url})
    return PermanentError(url, f"unexpected {type(e).__name__}: {e}")


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status < 600


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from delta-seconds or an HTTP-date; None if absent or unreadable."""
    value = (value or "").strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - _utcnow()).total_seconds())


def _translate(url: str, e: httpx.HTTPError) -> FetchError:
    """An httpx error as the FetchError it means."""
    if isinstance(e, httpx.UnsupportedProtocol):
        return Refused(url, f"unsupported URL: {e}")
    if isinstance(e, httpx.RemoteProtocolError) and _BAD_LOCATION in str(e):
        # httpx reads Location even when it does not follow redirects; retrying will not fix it.
        return Refused(url, f"redirect to invalid URL ({e})")
    for kind, reason in _TRANSIENT_REASONS:
        if isinstance(e, kind):
            detail = "" if isinstance(e, httpx.TimeoutException) or not str(e) else f": {e}"
            return TransientError(url, reason + detail)
    if isinstance(e, httpx.DecodingError):
        return PermanentError(url, f"undecodable body: {e}")
    # LocalProtocolError (a request httpx will not send), and errors httpx raises only on
    # paths we do not use (HTTPStatusError, TooManyRedirects).
    return PermanentError(url, f"{type(e).__name__}: {e}")


async def _read_body(url: str, response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, refused as soon as it is known to exceed ``max_bytes``."""
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(url, f"exceeds {max_bytes} bytes (Content-Length {declared})",
                       status=response.status_code)
    inflater = _Inflater.for_encoding(url, response.headers.get("content-encoding", ""))
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            # Never ask the decoder for more than one byte past the cap: a bomb stays small.
            body += inflater.decode(chunk, max_bytes - len(body) + 1) if inflater else chunk
            if len(body) > max_bytes:
                raise TooLarge(url, f"exceeds {max_bytes} bytes", status=response.status_code)
    except zlib.error as e:
        raise PermanentError(url, f"undecodable compressed body: {e}", status=response.status_code) from e
    if inflater and not inflater.complete:
        raise TransientError(url, "compressed body cut short", status=response.status_code)
    return bytes(body)


class _Inflater:
    """gzip/deflate decoding whose output per call is capped, unlike httpx's decoders, which
    inflate a 64 KiB network read of a bomb into ~64 MB at once."""

    def __init__(self, raw_fallback: bool) -> None:
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        self._raw_fallback = raw_fallback  # "deflate" is often sent without its zlib header
        self._started = False

    @classmethod
    def for_encoding(cls, url: str, header: str) -> _Inflater | None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip().lower() not in ("", "identity")]
        if not codings:
            return None
        if codings in (["gzip"], ["x-gzip"], ["deflate"]):
            return cls(raw_fallback=codings == ["deflate"])
        raise PermanentError(url, f"unsupported Content-Encoding {header!r}")

    def decode(self, data: bytes, limit: int) -> bytes:
        """Up to ``limit`` bytes decoded from ``data``; all of ``data`` is consumed unless the
        output reached ``limit`` (the caller then stops)."""
        try:
            out = self._z.decompress(data, limit)
        except zlib.error:
            if self._started or not self._raw_fallback:
                raise
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._z.decompress(data, limit)
        self._started = True
        return out

    @property
    def complete(self) -> bool:
        return self._z.eof or not self._started


def _classify(reply: _Reply) -> None:
    """Raise the FetchError a final (non-redirect) reply means; return for a usable page."""
    status = reply.status
    if status in (404, 410):
        raise Gone(reply.url, f"HTTP {status}", status=status)
    if status == 412:
        raise Blocked(reply.url, "HTTP 412 (anti-bot challenge)", status=status)
    if status == 304:
        return
    if status in _REDIRECTS:
        raise PermanentError(reply.url, f"HTTP {status} without a Location", status=status)
    if not 200 <= status < 300:
        raise PermanentError(reply.url, f"HTTP {status}", status=status)
    verdict = _read_page(reply)
    if verdict:
        kind, reason = verdict
        raise kind(reply.url, reason, status=status)


def _read_page(reply: _Reply) -> tuple[type[FetchError], str] | None:
    """A challenge or soft 404 that a small 2xx page really is, or None for a real page."""
    ctype = reply.headers.get("content-type", "").lower()
    if len(reply.content) > SCAN_BYTES or (ctype and "html" not in ctype and not ctype.startswith("text/")):
        return None
    page, _ = decode_html(reply.content, charset_from_content_type(ctype))
    text = _text(_HIDDEN.sub(" ", page))
    m = _TITLE.search(page)
    title = _text(m.group(1)).lower() if m else ""
    if len(text) <= BARE_TEXT:
        for name, pattern in CHALLENGE_SCRIPTS:
            if pattern.search(page):
                return Blocked, f"anti-bot challenge ({name})"
        if _refreshes_itself(page, reply.url):
            return Blocked, "anti-bot challenge (page refreshes itself)"
    if len(text) <= SHORT_TEXT:
        said = f"{title} {text.lower()}"
        for marker in CHALLENGE_TEXTS:
            if marker in said:
                return Blocked, f"anti-bot or WAF page ({marker!r})"
        for marker in GONE_TEXTS:
            if marker in said:
                return Gone, f"soft 404 ({marker!r})"
    for marker in GONE_TITLES:
        if title.startswith(marker):
            return Gone, f"soft 404 (title {marker!r})"
    return None


def _text(fragment: str) -> str:
    return clean(html.unescape(_TAG.sub(" ", fragment)))


def _refreshes_itself(page: str, url: str) -> bool:
    """Whether a ``<meta http-equiv=refresh>`` reloads ``url`` itself (a cookie challenge)."""
    here = httpx.URL(url).copy_with(fragment=None)
    for tag in _META_REFRESH.findall(page):
        m = _REFRESH_URL.search(tag)
        target = html.unescape(m.group(1) or "") if m else ""
        try:
            if not target or here.join(target).copy_with(fragment=None) == here:
                return True
        except httpx.InvalidURL:
            continue
    return False
