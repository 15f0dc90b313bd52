"""Fetching: polite, bounded HTTP GETs with httpx. HTTP only: what a page means is for
:mod:`crawler.verdicts`, which this module asks about each final response.

Exceptions (callers catch the level they need)::

    FetchError                 any fetch that produced no usable page
    ├── TransientError         may work later: timeout, connection error, 5xx, 429 (after retries),
    │                          a host resting after host-level failures
    └── PermanentError         will not work by retrying
        ├── Gone               404/410
        ├── Blocked            an anti-bot challenge (412, or scripts without content)
        ├── Unusable           a page came, but not the document: undecodable bytes, a redirect
        │                      to the site root
        ├── TooLarge           body bigger than ``max_bytes``
        ├── NeedsBrowser       a page only a browser can fetch, and no browser could be started
        └── Refused            never requested: off-site origin, credentials in the URL,
                               robots.txt, unsafe address, bad scheme, redirect loop

One ``Fetcher.get`` is: check the URL (scheme, origin, address, credentials) → robots.txt of its
origin (from the process's :class:`RobotsCache`, fetched at most once a day per origin) → the
host's turn (:class:`HostLimiter`: one request in flight per host, spaced from the end of the
previous response) → one request, its body streamed within ``max_bytes`` and a whole-attempt
deadline → quick failures retried with backoff → redirects followed by hand, each hop checked
like the first URL → the verdicts on the final response. Every request made is an
:class:`Attempt`; httpx errors never leave this module, and each error is built once, at the end,
with the URL asked for and every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import email.utils
import ipaddress
import logging
import math
import re
import ssl
import time
import weakref
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import TracebackType
from typing import Literal, Self
from urllib.parse import urlsplit

import httpx
from protego import Protego

from .config import Settings
from .encoding import charset_from_content_type
from .urls import Scope, canonical, has_credentials, host_key, origin
from .verdicts import Verdict, judge_page, judge_redirect, judge_status

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
    "RobotsCache",
    "TooLarge",
    "TransientError",
    "Unusable",
    "tls_context",
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
#: A host's spacing doubles, from max(delay, this), per URL with a host-level failure since the
#: host's last good answer ...
MIN_BACKOFF_SPACING = 0.5
#: ... up to this many seconds.
MAX_SPACING = 60.0
#: Connection failures (timeouts, refused or broken connections, 502/504) are the host's, not a
#: URL's, once this many different URLs of the host had them since its last good answer.
HOST_FAILURE_URLS = 3
#: A failed request is retried in place (``retries``) while at most this many URLs of its host
#: had host-level failures; beyond, each URL gets one try a run, and waits for the next run.
RETRY_UNTIL = 1
#: After host-level failures of this many URLs, with no good answer between, the host rests: it
#: is not requested ...
REST_AFTER = 5
#: ... for this many seconds (the rest of a run, usually); then one request may try again.
REST_SECONDS = 600.0
#: The body of an answer that is not a page (304, 404, a redirect) is read and dropped when it
#: is known to be this short and comes within DRAIN_SECONDS: httpx reuses a connection only once
#: its last answer was read to the end, and otherwise opens one per request.
DRAIN_BYTES = 64 * 1024
DRAIN_SECONDS = 1.0
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
    """May work later: timeout, connection error, truncated body, 5xx or 429 after every retry,
    or a host resting after repeated host-level failures."""

    def __init__(self, url: str, reason: str, *, status: int | None = None,
                 attempts: tuple[Attempt, ...] = (), retry_after: float | None = None) -> None:
        super().__init__(url, reason, status=status, attempts=attempts)
        #: Seconds the server asked us to wait (Retry-After), if it said.
        self.retry_after = retry_after


class PermanentError(FetchError):
    """Will not work by sending the same request again (a 4xx other than those below)."""


class Gone(PermanentError):
    """The page is no longer there: 404 or 410."""


class Blocked(PermanentError):
    """An anti-bot challenge came instead of the page (412, scripts without content)."""


class Unusable(PermanentError):
    """A page came, but not the document: undecodable bytes, a redirect to the site root."""


class TooLarge(PermanentError):
    """The body is bigger than ``max_bytes``, declared or as streamed (after decompression)."""


class NeedsBrowser(PermanentError):
    """The page needs a browser (a challenge, a scripted list) and none could be started."""


class Refused(PermanentError):
    """Never requested: off-site or unsafe address, credentials, bad scheme, robots.txt, loop."""


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


@dataclass(frozen=True)
class _Failure:
    """Why a fetch stops, before it is an exception: ``Fetcher.get`` builds the error once."""

    kind: type[FetchError]
    reason: str
    status: int | None = None
    retry_after: float | None = None
    #: It used up a whole timeout: not retried in place (the URL is tried on the next run).
    slow: bool = False

    def error(self, url: str, attempts: tuple[Attempt, ...]) -> FetchError:
        if issubclass(self.kind, TransientError):
            return self.kind(url, self.reason, status=self.status, attempts=attempts,
                             retry_after=self.retry_after)
        return self.kind(url, self.reason, status=self.status, attempts=attempts)


class _Stop(Exception):
    """Carries a :class:`_Failure` out of the fetch's inner steps; never leaves this module."""

    def __init__(self, kind: type[FetchError], reason: str, *, status: int | None = None,
                 retry_after: float | None = None, slow: bool = False) -> None:
        super().__init__(reason)
        self.failure = _Failure(kind, reason, status, retry_after, slow)


#: Verdict kinds → the error each raises.
_VERDICT_ERRORS: dict[str, type[PermanentError]] = {"blocked": Blocked, "gone": Gone, "unusable": Unusable}

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

#: What a failed request says about its host (see ``HostLimiter.failed``).
Signal = Literal["overload", "connection", "url"]


@dataclass
class _HostState:
    ended: float = -math.inf  # when the host's latest response ended
    not_before: float = -math.inf  # no request before this (Retry-After)
    rest_until: float = -math.inf  # resting: not requested at all before this
    overloaded: set[str] = field(default_factory=set)  # URLs answered 429/503 since a good answer
    unreachable: set[str] = field(default_factory=set)  # URLs with connection failures since then
    busy: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def failures(self) -> int:
        """Host-level failures since the host's last good answer, each URL counted once."""
        unreachable = len(self.unreachable) if len(self.unreachable) >= HOST_FAILURE_URLS else 0
        return len(self.overloaded) + unreachable


class HostLimiter:
    """Spaces the requests of a process to each host; shared by all its fetchers (``crawl`` and
    ``schedule`` make one), used on one event loop.

    One request is in flight per host at a time (``turn`` holds the host over the request), and
    the next starts ``delay`` seconds after the previous response ended. Host-level signals
    (:meth:`failed`) double the spacing per URL that had one, up to MAX_SPACING; after REST_AFTER
    such URLs without a good answer between, the host rests for REST_SECONDS (:meth:`resting`),
    so a site that answers every request with an error costs a few requests, not hours. One URL's
    own failure (a 500, or one URL timing out) does not touch the host.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _HostState] = {}

    def _state(self, host: str) -> _HostState:
        return self._hosts.setdefault(host, _HostState())

    @contextlib.asynccontextmanager
    async def turn(self, host: str, delay: float) -> AsyncIterator[None]:
        """Hold ``host`` for one request: wait for its spacing, then keep the others out.
        A resting host is not waited for: the caller checks :meth:`resting` in its turn."""
        state = self._state(host)
        async with state.busy:
            await self.wait(host, delay)
            try:
                yield
            finally:
                state.ended = self._clock()

    async def wait(self, host: str, delay: float) -> None:
        """Return when ``host``'s spacing since its latest answer has passed (at once for a
        resting host), and count a request as starting now. Without :meth:`turn` around it (the
        browser's requests, which Chromium sends), nothing keeps other requests out meanwhile."""
        state = self._state(host)
        start = max(state.ended + self.spacing(host, delay), state.not_before)
        if start > self._clock() and not self.resting(host):
            await self._sleep(start - self._clock())
        state.ended = max(state.ended, self._clock())

    def spacing(self, host: str, delay: float) -> float:
        """Seconds from the end of one response of ``host`` to the start of the next request."""
        n = min(self._state(host).failures, 16)
        return delay if n == 0 else min(MAX_SPACING, max(delay, MIN_BACKOFF_SPACING) * 2**n)

    def failures(self, host: str) -> int:
        """URLs of ``host`` with host-level failures since its last good answer."""
        return self._state(host).failures

    def resting(self, host: str) -> str | None:
        """Why ``host`` is not to be requested now, or None."""
        state = self._state(host)
        if self._clock() >= state.rest_until:
            return None
        return (f"host resting for {state.rest_until - self._clock():.0f} s after host-level failures "
                f"of {state.failures} URLs: not requested")

    def failed(self, host: str, url: str, signal: Signal, retry_after: float | None = None) -> None:
        """A request for ``url`` failed in a way that may be the host's: "overload" (429, 503) is
        the host's at once, "connection" (timeouts, refused or broken connections, 502, 504) once
        HOST_FAILURE_URLS different URLs had one. (A URL's own failure is :meth:`succeeded`: the
        host answered.) ``retry_after``: the host asked for that many seconds of quiet."""
        state = self._state(host)
        (state.overloaded if signal == "overload" else state.unreachable).add(url)
        if state.failures >= REST_AFTER and self.resting(host) is None:
            state.rest_until = self._clock() + REST_SECONDS
        if retry_after is not None:
            state.not_before = max(state.not_before, self._clock() + retry_after)

    def succeeded(self, host: str) -> None:
        """``host`` answered well (or the failure was the URL's own): back to its delay."""
        state = self._state(host)
        state.overloaded, state.unreachable = set(), set()
        state.not_before = state.rest_until = -math.inf


class RobotsCache:
    """The robots.txt rules of each origin, shared by every fetcher of a process for ROBOTS_TTL.

    Fetchers look an origin up under its lock (:meth:`lock`), so concurrent fetchers fetch it once.
    Locks are kept per event loop: a cache outlives the loops of successive ``asyncio.run``.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rules: dict[str, tuple[float, Protego | None]] = {}  # per origin: (fetched, rules)
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
            weakref.WeakKeyDictionary())

    def lock(self, origin: str) -> asyncio.Lock:
        """Held while an origin's robots.txt is looked up and, if need be, fetched."""
        locks = self._locks.setdefault(asyncio.get_running_loop(), {})
        return locks.setdefault(origin, asyncio.Lock())

    def get(self, origin: str) -> tuple[bool, Protego | None]:
        """``(known, rules)`` of an origin's robots.txt fetched within ROBOTS_TTL; None: all allowed."""
        fetched, rules = self._rules.get(origin, (-math.inf, None))
        return self._clock() - fetched < ROBOTS_TTL, rules

    def put(self, origin: str, rules: Protego | None) -> None:
        """Keep an origin's robots.txt for the other fetchers of the process."""
        self._rules[origin] = (self._clock(), rules)


#: The process's robots.txt cache, used by fetchers not given their own.
ROBOTS = RobotsCache()


@cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS settings, shared by every fetcher's client: httpx's default context
    (certificates and host names verified against certifi's bundle, or $SSL_CERT_FILE /
    $SSL_CERT_DIR). Building one loads the CA bundle, about 20 ms of CPU and 0.8 MB, which each
    source's client did while it ran: 400 MB for 500 sources crawled at once."""
    return httpx.create_ssl_context()


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
_Robots = Protego | None | _Failure


class Fetcher:
    """GETs the pages of one source's ``hosts``, politely and within the limits of ``settings``.

    ``hosts`` are :class:`crawler.urls.Scope` entries (URLs or origins, host names for ports 80
    and 443). ``limiter`` is shared between fetchers to space requests per host (default: a
    private one); ``robots`` caches robots.txt (default: the process's); ``transport`` replaces
    httpx's network transport (tests); ``sleep`` is awaited for retry backoff and, with the
    default limiter, for host spacing; ``extra_headers(url)`` adds headers to each request (the
    cookies and User-Agent a browser earned on a challenge, crawler.browser).
    """

    def __init__(self, settings: Settings, hosts: Collection[str], *, limiter: HostLimiter | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 robots: RobotsCache | None = None,
                 extra_headers: Callable[[str], Mapping[str, str]] | None = None) -> None:
        self.settings = settings
        self._extra_headers = extra_headers
        self._scope = Scope(hosts)
        self._limiter = limiter or HostLimiter(sleep=sleep)
        self._robots_cache = robots or ROBOTS
        self._sleep = sleep
        self._robots: dict[str, _Robots] = {}
        self._client = httpx.AsyncClient(
            transport=transport, verify=tls_context(), follow_redirects=False,
            timeout=httpx.Timeout(settings.timeout),
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
        # Errors name the URL asked for (not a hop's), never with its credentials.
        shown = canonical(url) if has_credentials(url) else url
        try:
            return await self._get(url, headers, attempts)
        except _Stop as stop:
            raise stop.failure.error(shown, tuple(attempts)) from None
        except Exception as e:  # a bug must not stop the crawl
            log.exception("unexpected fetch error", extra={"url": shown})
            raise PermanentError(shown, f"unexpected {type(e).__name__}: {e}",
                                 attempts=tuple(attempts)) from e

    # -- the rules, for the browser's requests too (crawler.browser) ---------------------------

    def refusal(self, url: str) -> str | None:
        """Why ``url`` must not be requested (scheme, unsafe address, off-site origin), or None."""
        return _refusal(url, self._scope)

    async def check_robots(self, url: str, attempts: list[Attempt]) -> None:
        """Raise Refused if robots.txt disallows ``url`` (when ``obey_robots``); its fetch goes in ``attempts``."""
        if self.settings.obey_robots:
            try:
                await self._check_robots(url, attempts)
            except _Stop as stop:
                raise stop.failure.error(url, tuple(attempts)) from None

    async def wait_turn(self, url: str) -> None:
        """Return when a request to ``url``'s host may start: the host's spacing since its latest
        answer. (Chromium sends the browser's requests: the host cannot be held over them.)"""
        await self._limiter.wait(host_key(urlsplit(url).hostname or ""), self.settings.delay)

    @staticmethod
    def verdict(url: str, status: int, headers: dict[str, str], content: bytes) -> None:
        """Raise the FetchError a final page means (404, a challenge, undecodable bytes); return
        for a real page."""
        found = _verdict(url, _Reply(url, status, headers, content, _utcnow(), 0.0))
        if found:
            raise _VERDICT_ERRORS[found.kind](url, found.reason, status=status)
        if status in _REDIRECTS or not (200 <= status < 300 or status == 304):
            raise PermanentError(url, f"HTTP {status}", status=status)

    async def _get(self, url: str, headers: dict[str, str], attempts: list[Attempt]) -> FetchResult:
        reply = await self._follow(url, headers, attempts, max_bytes=self.settings.max_bytes,
                                   robots=self.settings.obey_robots)
        verdict = _verdict(url, reply)
        if verdict:
            kind = _VERDICT_ERRORS[verdict.kind]
            attempts.append(reply.attempt(kind.__name__, verdict.reason))
            raise _Stop(kind, verdict.reason, status=reply.status)
        if reply.status in _REDIRECTS or not (200 <= reply.status < 300 or reply.status == 304):
            reason = f"HTTP {reply.status}" + (" without a Location" if reply.status in _REDIRECTS else "")
            attempts.append(reply.attempt("PermanentError", reason))
            raise _Stop(PermanentError, reason, status=reply.status)
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
            raise _Stop(Refused, problem)
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
                raise _Stop(Refused, problem, status=reply.status)
            # A Location with credentials was refused above: this one is safe to record.
            attempts.append(reply.attempt("redirect", f"to {location}"))
            seen.add(location)
            current = location
        raise AssertionError("unreachable: the last hop either returns or is refused")

    async def _request(self, url: str, headers: dict[str, str], attempts: list[Attempt], *,
                       max_bytes: int) -> _Reply:
        """One GET in the host's turn, retried on quick transient failures with backoff; failed
        tries are recorded here."""
        host = host_key(urlsplit(url).hostname or "")
        tries = self.settings.retries + 1
        for n in range(1, tries + 1):
            tried = await self._try(url, host, headers, max_bytes, attempts)
            if isinstance(tried, _Reply):
                return tried
            failure, started, elapsed = tried
            pause, reason = self._pause(failure, n, tries, self._limiter.failures(host))
            attempts.append(Attempt(url, started, elapsed, failure.status,
                                    "retry" if pause is not None else "TransientError", reason))
            if pause is None:
                raise _Stop(TransientError, reason, status=failure.status, retry_after=failure.retry_after)
            await self._sleep(pause)
        raise AssertionError("unreachable: the last try either returns or raises")

    async def _try(self, url: str, host: str, headers: dict[str, str], max_bytes: int,
                   attempts: list[Attempt]) -> _Reply | tuple[_Failure, dt.datetime, float]:
        """One request in the host's turn: the reply, or a transient failure (with when it started
        and how long it took) to retry or report. Permanent failures are recorded and raised.
        The limiter hears what each outcome says about the host."""
        async with self._limiter.turn(host, self.settings.delay):
            resting = self._limiter.resting(host)  # checked in the turn: others may have just failed
            if resting:
                attempts.append(Attempt(url, _utcnow(), 0.0, None, "TransientError", resting))
                raise _Stop(TransientError, resting)
            started, t0 = _utcnow(), time.monotonic()
            failure: _Failure | None
            try:
                reply = await self._exchange(url, headers, max_bytes, started, t0)
            except _Stop as stop:
                failure = stop.failure
            else:
                failure = None if not _retryable(reply.status) else _Failure(
                    TransientError, f"HTTP {reply.status}", reply.status,
                    _retry_after(reply.headers.get("retry-after")))
            elapsed = time.monotonic() - t0
        if failure is None:
            self._limiter.succeeded(host)
            return reply
        if not issubclass(failure.kind, TransientError):
            if failure.status is not None:  # the host answered; the URL is the problem
                self._limiter.succeeded(host)
            attempts.append(Attempt(url, started, elapsed, failure.status, failure.kind.__name__,
                                    failure.reason))
            raise _Stop(failure.kind, failure.reason, status=failure.status)
        signal = _signal(failure)
        if signal == "url":  # the host answered; the URL is the problem
            self._limiter.succeeded(host)
        else:
            retry_after = failure.retry_after
            if retry_after is not None and retry_after > self.settings.max_retry_after:
                retry_after = None  # not honoured: this fetch fails now (see _pause)
            self._limiter.failed(host, url, signal, retry_after)
        return failure, started, elapsed

    def _pause(self, failure: _Failure, n: int, tries: int, host_failures: int) -> tuple[float | None, str]:
        """Seconds before try ``n + 1`` (None: give up), and the reason to record."""
        wait = failure.retry_after
        if wait is not None and wait > self.settings.max_retry_after:
            return None, f"{failure.reason}, Retry-After {wait:g} s exceeds {self.settings.max_retry_after:g} s"
        if failure.slow:
            return None, failure.reason  # it took a whole timeout: tried again on the next run
        if host_failures > RETRY_UNTIL:
            return None, f"{failure.reason} (not retried now: {host_failures} URLs of the host failing)"
        if n == tries:
            return None, failure.reason + (f" after {n} attempts" if n > 1 else "")
        return max(self.settings.backoff * 2 ** (n - 1), wait or 0.0), failure.reason

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
                        content = await _read_body(response, max_bytes)
                    else:  # keep the connection for the next request (a new one per 304 otherwise)
                        await _drain(response)
        except _Stop:
            raise
        except TimeoutError:  # asyncio's deadline; httpx's own timeouts are httpx.TimeoutException
            raise _Stop(TransientError, f"no complete response within {deadline:g} s", slow=True) from None
        except httpx.InvalidURL as e:
            raise _Stop(Refused, f"invalid URL: {e}") from e
        except httpx.HTTPError as e:
            raise _translate(e) from e
        except Exception as e:  # not an httpx error: a bug, or a transport raising raw errors
            log.exception("unexpected fetch error", extra={"url": url})
            raise _Stop(PermanentError, f"unexpected {type(e).__name__}: {e}") from e
        fields = {k.lower(): v for k, v in response.headers.items()}
        target = response.next_request  # set for a redirect with a Location, followed or not
        location = str(target.url.copy_with(fragment=None)) if target else None
        return _Reply(url, status, fields, content, started, time.monotonic() - t0, location)

    async def _check_robots(self, url: str, attempts: list[Attempt]) -> None:
        """Refuse ``url`` if its origin's robots.txt disallows it (fetched once per origin and day)."""
        where = str(origin(url))
        cache = self._robots_cache
        async with cache.lock(where):
            if where not in self._robots:
                known, shared = cache.get(where)
                if known:
                    self._robots[where] = shared
                else:
                    rules = await self._load_robots(where, attempts)
                    self._robots[where] = rules
                    if not isinstance(rules, _Failure):  # a failure is retried by the next fetcher
                        cache.put(where, rules)
        rules = self._robots[where]
        if isinstance(rules, _Failure):
            raise _Stop(rules.kind, rules.reason, status=rules.status, retry_after=rules.retry_after)
        if rules is not None and not rules.can_fetch(url, self.settings.user_agent):
            raise _Stop(Refused, "disallowed by robots.txt")

    async def _load_robots(self, where: str, attempts: list[Attempt]) -> _Robots:
        url = where + "/robots.txt"
        try:
            reply = await self._follow(url, {}, attempts, max_bytes=ROBOTS_MAX_BYTES, robots=False)
        except _Stop as stop:
            failure = stop.failure
            if issubclass(failure.kind, TransientError):
                # RFC 9309 §2.3.1.4: an unreachable robots.txt (5xx, network) means "assume full
                # disallow". We say the host is temporarily unavailable for the rest of this crawl,
                # so its documents count as failed, not refused or removed, and are tried next time.
                return _Failure(TransientError, f"robots.txt unavailable: {failure.reason}",
                                failure.status, failure.retry_after)
            # Off-site redirect, too big, undecodable: no usable rules; allow all, as for a 4xx.
            log.info("robots.txt unusable, all allowed", extra={"url": url, "reason": failure.reason})
            return None
        ok = 200 <= reply.status < 300
        attempts.append(reply.attempt("ok", "robots.txt" if ok else "no robots.txt: all allowed"))
        # RFC 9309 §2.3.1.3: a 4xx robots.txt is "unavailable": any page may be crawled.
        return Protego.parse(reply.content.decode("utf-8", "replace")) if ok else None


# --- helpers ----------------------------------------------------------------------------------


def _verdict(url: str, reply: _Reply) -> Verdict | None:
    """What the final reply is instead of the document, if anything (see crawler.verdicts)."""
    if reply.status == 304:
        return None
    if 200 <= reply.status < 300:
        return judge_redirect(url, reply.url) or judge_page(
            reply.content, reply.url, reply.headers.get("content-type", ""),
            charset_from_content_type(reply.headers.get("content-type")))
    return judge_status(reply.status)


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


def _retryable(status: int) -> bool:
    return status == 429 or 500 <= status < 600


def _signal(failure: _Failure) -> Signal:
    """What a transient failure says about its host (see ``HostLimiter.failed``)."""
    if failure.status in (429, 503):
        return "overload"
    if failure.status is None or failure.status in (502, 504):
        return "connection"
    return "url"


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


def _translate(e: httpx.HTTPError) -> _Stop:
    """An httpx error as the failure it means."""
    if isinstance(e, httpx.UnsupportedProtocol):
        return _Stop(Refused, f"unsupported URL: {e}")
    if isinstance(e, httpx.RemoteProtocolError) and _BAD_LOCATION in str(e):
        # httpx reads Location even when it does not follow redirects; retrying will not fix it.
        return _Stop(Refused, f"redirect to invalid URL ({e})")
    for kind, reason in _TRANSIENT_REASONS:
        if isinstance(e, kind):
            slow = isinstance(e, httpx.TimeoutException)
            return _Stop(TransientError, reason + ("" if slow or not str(e) else f": {e}"), slow=slow)
    if isinstance(e, httpx.DecodingError):
        return _Stop(PermanentError, f"undecodable body: {e}")
    # LocalProtocolError (a request httpx will not send), and errors httpx raises only on
    # paths we do not use (HTTPStatusError, TooManyRedirects).
    return _Stop(PermanentError, f"{type(e).__name__}: {e}")


async def _drain(response: httpx.Response) -> None:
    """Read and drop the body of an answer that is not a page, if it is short (see DRAIN_BYTES).

    Never fails: when the body cannot be read, the connection is closed instead, as before."""
    declared = response.headers.get("content-length", "").strip()
    if response.status_code != 304 and not (declared.isdigit() and int(declared) <= DRAIN_BYTES):
        return
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in response.aiter_raw():
                pass
    except (httpx.HTTPError, TimeoutError):
        pass


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, refused as soon as it is known to exceed ``max_bytes``."""
    status = response.status_code
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise _Stop(TooLarge, f"exceeds {max_bytes} bytes (Content-Length {declared})", status=status)
    inflater = _Inflater.for_encoding(response.headers.get("content-encoding", ""))
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            # Never ask the decoder for more than one byte past the cap: a bomb stays small.
            body += inflater.decode(chunk, max_bytes - len(body) + 1) if inflater else chunk
            if len(body) > max_bytes:
                raise _Stop(TooLarge, f"exceeds {max_bytes} bytes", status=status)
    except zlib.error as e:
        raise _Stop(PermanentError, f"undecodable compressed body: {e}", status=status) from e
    if inflater and not inflater.complete:
        raise _Stop(TransientError, "compressed body cut short", status=status)
    return bytes(body)


class _Inflater:
    """gzip/deflate decoding whose output per call is capped, unlike httpx's decoders, which
    inflate a 64 KiB network read of a bomb into ~64 MB at once."""

    def __init__(self, raw_fallback: bool) -> None:
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
        self._raw_fallback = raw_fallback  # "deflate" is often sent without its zlib header
        self._started = False

    @classmethod
    def for_encoding(cls, header: str) -> _Inflater | None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip().lower() not in ("", "identity")]
        if not codings:
            return None
        if codings in (["gzip"], ["x-gzip"], ["deflate"]):
            return cls(raw_fallback=codings == ["deflate"])
        raise _Stop(PermanentError, f"unsupported Content-Encoding {header!r}")

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
