"""A second way to fetch: headless Chromium, for the pages a plain HTTP client cannot get.

Two families of sites need it (docs/configuration.md, "Sites that need a browser"): anti-bot
gateways whose challenge script computes a cookie and reloads, and columns whose list a script
builds from JSON. The ``browser`` setting chooses: ``"auto"`` (a page goes to the browser only when
the plain fetch met a challenge, or a list page has no links and has scripts), ``"always"`` or
``"never"``.

The pieces, outside in:

- :class:`Browser`: one Chromium per process, launched on first use and shared by every source;
  at most ``max_pages`` pages open at once; relaunched after a crash or when its processes' memory
  grows past ``max_rss``. It also holds the :class:`Clearances`: once the browser has passed a
  host's challenge, the plain fetcher sends that host its cookies and User-Agent, so one browser
  visit opens many fast fetches.
- :class:`BrowserFetcher`: one source's pages through the browser, under the source's rules:
  every request the page makes (redirect hops included) is checked by the source's
  :class:`~crawler.fetch.Fetcher` (scheme, unsafe addresses, off-site origins, robots.txt) and
  spaced like its own requests, through Chrome DevTools' ``Fetch`` interception; images, fonts
  and media are never requested. It returns the same :class:`~crawler.fetch.FetchResult`, marked
  ``rendered``, holding the HTML the page ended with.
- :class:`Pages`: the choice between the two for one source, the crawl's single entry point.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

from .fetch import (
    DEADLINE_FACTOR,
    Attempt,
    Blocked,
    Fetcher,
    FetchError,
    FetchResult,
    NeedsBrowser,
    Refused,
    TooLarge,
    TransientError,
)

if TYPE_CHECKING:
    from playwright.async_api import Browser as PlaywrightBrowser
    from playwright.async_api import BrowserContext, CDPSession, Page, Playwright, Request, Response

__all__ = [
    "BROWSER_MODES",
    "Browser",
    "BrowserFetcher",
    "Clearance",
    "Clearances",
    "Cookie",
    "Pages",
    "builds_list_by_script",
    "cookie_header",
    "find_chromium",
]

log = logging.getLogger("govarchive")

#: The values of the ``browser`` setting.
BROWSER_MODES = ("auto", "always", "never")
#: Environment variable naming the Chromium executable (otherwise found on PATH, then Playwright's).
CHROMIUM_ENV = "GOVARCHIVE_CHROMIUM"
#: Executables tried, in order, when $GOVARCHIVE_CHROMIUM is not set.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "/usr/bin/chromium", "/usr/lib/chromium/chromium")
#: Chromium's flags: no sandbox (root in a container), no GPU, and none of its own traffic (updates,
#: sync, QUIC); site isolation off, so cross-origin frames stay in the page's process, where the
#: request interception sees them.
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-breakpad", "--disable-crash-reporter",
    "--disable-site-isolation-trials",
    "--disable-features=IsolateOrigins,site-per-process,Translate,MediaRouter",
)
#: Pages open at once, over all sources (each page is a renderer process: ~50-100 MB).
MAX_OPEN_PAGES = 2
#: Relaunch the browser when its processes' resident memory (summed) exceeds this many bytes ...
MAX_BROWSER_RSS = 1536 * 1024 * 1024
#: ... measured every this many pages.
RSS_CHECK_EVERY = 20
#: A launch that failed is tried again after this many seconds (someone may install Chromium).
RELAUNCH_AFTER = 600.0
#: The page counts as settled when no request has been in flight for this many seconds.
QUIET_SECONDS = 0.25
#: Navigations a page may make to get past a challenge (each reload is one).
MAX_NAVIGATIONS = 6
#: What a page may not request: the archive keeps HTML, and these are the bulk of a page's bytes.
BLOCKED_TYPES = frozenset({"Image", "Media", "Font", "Manifest", "CSPViolationReport"})
#: Page APIs that open connections the request interception does not see; removed before any script runs.
CLOSED_APIS = "for (const n of ['WebSocket', 'WebTransport', 'RTCPeerConnection', 'webkitRTCPeerConnection'," \
    " 'Worker', 'SharedWorker']) { try { delete window[n]; } catch (e) {} }"
#: What a fetch error says when a page needs a browser and none can be started.
NO_BROWSER = "needs a browser: install chromium"
#: Marks a capture's headers as the browser's rendering (also ``FetchResult.rendered``).
RENDERED_HEADER = "x-govarchive-rendered"

_SCRIPT = re.compile(rb"<script\b", re.IGNORECASE)


# --- pure helpers -----------------------------------------------------------------------------


def find_chromium(env: Mapping[str, str] = os.environ) -> str | None:
    """The Chromium to launch: $GOVARCHIVE_CHROMIUM if set (even if missing: then none), else the
    first of CHROMIUM_NAMES found, else None (Playwright's own download, if installed)."""
    configured = env.get(CHROMIUM_ENV, "").strip()
    if configured:
        return configured
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def builds_list_by_script(raw: bytes) -> bool:
    """Whether a list page in which discovery found no links has scripts that may build them.

    Structure only (a ``<script>`` element), never words: the caller has already seen 0 links.
    """
    return bool(_SCRIPT.search(raw))


@dataclass(frozen=True)
class Cookie:
    """One cookie the browser holds, as much of it as deciding where to send it needs."""

    name: str
    value: str
    domain: str
    path: str = "/"
    secure: bool = False
    #: Seconds since the epoch; -1 for a session cookie.
    expires: float = -1


@dataclass(frozen=True)
class Clearance:
    """What passed a host's challenge in the browser: its cookies and the User-Agent they go with."""

    cookies: tuple[Cookie, ...]
    user_agent: str


def cookie_header(cookies: tuple[Cookie, ...], url: str, now: float) -> str:
    """The ``Cookie`` header a browser would send to ``url`` (RFC 6265 domain and path matching)."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path or "/"
    pairs = []
    for c in cookies:
        domain = c.domain.lower().lstrip(".")
        if not (host == domain or host.endswith("." + domain)):
            continue
        prefix = c.path or "/"
        if not (path == prefix or path.startswith(prefix.rstrip("/") + "/")):
            continue
        if (c.secure and parts.scheme != "https") or (c.expires != -1 and c.expires <= now):
            continue
        pairs.append(f"{c.name}={c.value}")
    return "; ".join(pairs)


class Clearances:
    """Per host, the clearance the browser obtained; the plain fetcher asks for its headers."""

    def __init__(self) -> None:
        self._by_host: dict[str, Clearance] = {}

    def grant(self, host: str, clearance: Clearance) -> None:
        self._by_host[host.lower()] = clearance

    def revoke(self, host: str) -> bool:
        """Forget a host's clearance (its challenge came back); True if there was one."""
        return self._by_host.pop(host.lower(), None) is not None

    def get(self, host: str) -> Clearance | None:
        return self._by_host.get(host.lower())

    def headers(self, url: str) -> dict[str, str]:
        """Headers for a plain request to ``url``: the clearance's Cookie and User-Agent, if any."""
        clearance = self._by_host.get((urlsplit(url).hostname or "").lower())
        if clearance is None:
            return {}
        found = {"User-Agent": clearance.user_agent}
        cookies = cookie_header(clearance.cookies, url, time.time())
        if cookies:
            found["Cookie"] = cookies
        return found


# --- the browser ------------------------------------------------------------------------------


class Browser:
    """One headless Chromium for the process, shared by every source; launched on first use.

    ``executable``: the Chromium to run (default: :func:`find_chromium`; None there means
    Playwright's own download). Call :meth:`aclose` when done.
    """

    def __init__(self, executable: str | None | Path = "", *, max_pages: int = MAX_OPEN_PAGES,
                 max_rss: int = MAX_BROWSER_RSS) -> None:
        self.executable = find_chromium() if executable == "" else (str(executable) if executable else None)
        self.max_rss = max_rss
        self.clearances = Clearances()
        #: Pages loaded so far (each :meth:`context` is one page), and browser launches.
        self.pages_loaded = 0
        self.launches = 0
        self._slots = asyncio.Semaphore(max_pages)
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: PlaywrightBrowser | None = None
        self._failed: tuple[float, str] | None = None  # (when, why) the last launch failed
        self._open = 0
        self._since_check = 0

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @contextlib.asynccontextmanager
    async def context(self, **options: Any) -> AsyncIterator[BrowserContext]:
        """A fresh browser context (its own cookies) for one page; closed on exit.

        Raises :class:`NeedsBrowser` (as a FetchError for ``""``) when no browser can be started.
        """
        async with self._slots:
            self._open += 1
            try:
                browser = await self._running()
                ctx = await browser.new_context(**options)
                try:
                    yield ctx
                finally:
                    with contextlib.suppress(Exception):
                        await ctx.close()
                    self.pages_loaded += 1
                    self._since_check += 1
            finally:
                self._open -= 1
                await self._maybe_restart()

    async def _running(self) -> PlaywrightBrowser:
        async with self._lock:
            if self._browser is not None and self._browser.is_connected():
                return self._browser
            if self._failed and time.monotonic() - self._failed[0] < RELAUNCH_AFTER:
                raise NeedsBrowser("", f"{NO_BROWSER} ({self._failed[1]})")
            await self._shutdown()
            try:
                self._browser = await self._launch()
            except Exception as e:  # ImportError, a missing executable, a launch that timed out
                why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                self._failed = (time.monotonic(), why[:200])
                log.error("browser unavailable", extra={"reason": why, "executable": self.executable})
                await self._shutdown()
                raise NeedsBrowser("", f"{NO_BROWSER} ({why[:200]})") from e
            self._failed = None
            self.launches += 1
            log.info("browser launched", extra={"executable": self.executable or "playwright's chromium"})
            return self._browser

    async def _launch(self) -> PlaywrightBrowser:
        if self.executable and not Path(self.executable).exists():
            raise FileNotFoundError(f"no Chromium at {self.executable}")
        from playwright.async_api import async_playwright  # imported here: most crawls never need it

        if self._playwright is None:
            self._playwright = await async_playwright().start()
        return await self._playwright.chromium.launch(
            executable_path=self.executable, headless=True, args=list(CHROMIUM_ARGS), timeout=60_000)

    async def _maybe_restart(self) -> None:
        """Between pages (none open), relaunch a browser that grew past ``max_rss``."""
        if self._open or self._since_check < RSS_CHECK_EVERY or self._browser is None:
            return
        self._since_check = 0
        rss = self.rss()
        if rss > self.max_rss:
            log.warning("browser restarted: too large", extra={"rss": rss, "max_rss": self.max_rss})
            async with self._lock:
                await self._shutdown()

    async def _shutdown(self) -> None:
        browser, self._browser = self._browser, None
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.close()
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            with contextlib.suppress(Exception):
                await playwright.stop()

    async def aclose(self) -> None:
        async with self._lock:
            await self._shutdown()

    def pids(self) -> list[int]:
        """The browser's processes: every process started by this process's Playwright driver."""
        children: dict[int, list[int]] = {}
        names: dict[int, str] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            head, _, rest = stat.rpartition(")")
            pid = int(entry.name)
            children.setdefault(int(rest.split()[1]), []).append(pid)
            names[pid] = head.partition("(")[2]
        drivers = [p for p in children.get(os.getpid(), []) if names.get(p, "").startswith("node")]
        found, todo = [], [c for d in drivers for c in children.get(d, [])]
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def rss(self) -> int:
        """Resident memory of the browser's processes, summed, in bytes (shared pages count in each)."""
        total, page = 0, os.sysconf("SC_PAGE_SIZE")
        for pid in self.pids():
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        return total


# --- one source's pages through the browser ---------------------------------------------------


@dataclass
class _Visit:
    """What one page load saw: its requests, its main document's responses, what was blocked."""

    page: Page
    started: dict[Request, tuple[dt.datetime, float]] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    document: Response | None = None
    document_attempt: int | None = None
    json_sources: list[str] = field(default_factory=list)
    blocked_types: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    in_flight: int = 0
    last_change: float = field(default_factory=time.monotonic)
    navigations: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class BrowserFetcher:
    """Fetches one source's pages through the shared :class:`Browser`, under ``fetcher``'s rules
    (its allowed origins, unsafe addresses, robots.txt, host spacing and User-Agent)."""

    def __init__(self, browser: Browser, fetcher: Fetcher) -> None:
        self.browser = browser
        self.fetcher = fetcher
        self.settings = fetcher.settings

    async def get(self, url: str) -> FetchResult:
        """Load ``url`` in a fresh page, let its scripts run, and return the HTML it ends with.

        Raises a :class:`~crawler.fetch.FetchError` subclass carrying the requests the page made:
        NeedsBrowser when no browser can be started, Blocked when the page is still a challenge,
        TransientError when the page's time budget ran out or the browser crashed.
        """
        problem = self.fetcher.refusal(url)
        if problem:
            raise Refused(url, problem)
        budget = DEADLINE_FACTOR * self.settings.timeout
        host = (urlsplit(url).hostname or "").lower()
        clearance = self.browser.clearances.get(host)
        visit: _Visit | None = None
        try:
            async with self.browser.context(
                    user_agent=clearance.user_agent if clearance else self.settings.user_agent,
                    locale="zh-CN", service_workers="block", accept_downloads=False,
                    extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"}) as ctx:
                if clearance:
                    await ctx.add_cookies([{"name": c.name, "value": c.value, "domain": c.domain,
                                            "path": c.path, "secure": c.secure, "expires": c.expires}
                                           for c in clearance.cookies])
                await ctx.add_init_script(CLOSED_APIS)
                page = await ctx.new_page()
                visit = _Visit(page)
                async with asyncio.timeout(budget):
                    result = await self._load(ctx, page, visit, url)
                clearance = await _clearance(ctx, page, url)
                if clearance.cookies:
                    self.browser.clearances.grant(host, clearance)
                return result
        except FetchError as e:
            e.url, e.attempts = url, (*e.attempts, *(visit.attempts if visit else ()))
            raise
        except TimeoutError:
            raise TransientError(url, f"page not settled within {budget:g} s (browser)",
                                 attempts=tuple(visit.attempts if visit else ())) from None
        except Exception as e:  # Playwright: a crashed browser or page, a closed target
            log.warning("browser page failed", extra={"url": url, "reason": str(e)[:300]})
            raise TransientError(url, f"browser failed: {str(e).splitlines()[0][:200] if str(e) else e!r}",
                                 attempts=tuple(visit.attempts if visit else ())) from e

    async def _load(self, ctx: BrowserContext, page: Page, visit: _Visit, url: str) -> FetchResult:
        from playwright.async_api import Error as PlaywrightError

        cdp = await ctx.new_cdp_session(page)
        self._watch(page, cdp, visit)
        await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]})
        try:
            await page.goto(url, wait_until="commit")
        except PlaywrightError as e:
            if url in visit.refused:
                raise Refused(url, visit.refused[url]) from None
            raise TransientError(url, f"browser: {str(e).splitlines()[0][:200]}") from None
        await self._settle(page, visit)
        document = visit.document
        if document is None:
            raise TransientError(url, "browser: no document loaded")
        html = await page.content()
        content = html.encode("utf-8")
        if len(content) > self.settings.max_bytes:
            raise TooLarge(url, f"rendered page exceeds {self.settings.max_bytes} bytes")
        headers = {k.lower(): v for k, v in (await document.all_headers()).items()
                   if k.lower() not in ("content-length", "content-encoding", "transfer-encoding", "set-cookie")}
        headers["content-type"] = "text/html; charset=utf-8"  # page.content() is the DOM, re-serialised
        headers[RENDERED_HEADER] = "chromium"
        final = page.url
        self.fetcher.verdict(final, document.status, headers, content)  # raises for a challenge, a 404 …
        self._summarise(visit)
        return FetchResult(url=url, final_url=final, status=document.status, headers=headers,
                           content=content, charset="utf-8", fetched_at=dt.datetime.now(dt.UTC),
                           attempts=tuple(visit.attempts), rendered=True)

    def _watch(self, page: Page, cdp: CDPSession, visit: _Visit) -> None:
        """Record the page's requests, and pass each one through :meth:`_admit` before it is sent."""

        def on_request(request: Request) -> None:
            visit.started[request] = (dt.datetime.now(dt.UTC), time.monotonic())
            visit.in_flight += 1
            visit.last_change = time.monotonic()

        def on_response(response: Response) -> None:
            request = response.request
            if request.resource_type == "document" and response.frame == page.main_frame:
                visit.document = response
                visit.document_attempt = len(visit.attempts)
            elif request.resource_type in ("xhr", "fetch") and "json" in response.headers.get("content-type", ""):
                visit.json_sources.append(response.url)
            started, t0 = visit.started.get(request, (dt.datetime.now(dt.UTC), time.monotonic()))
            status = response.status
            outcome = ("ok" if status < 300 or status == 304 else "redirect" if status < 400
                       else "Gone" if status in (404, 410) else "Blocked" if status == 412 else "PermanentError")
            visit.attempts.append(Attempt(response.url, started, time.monotonic() - t0, status, outcome,
                                          f"browser {request.resource_type}"))

        def on_done(request: Request) -> None:
            visit.in_flight = max(0, visit.in_flight - 1)
            visit.last_change = time.monotonic()

        def on_navigated(frame: Any) -> None:
            if frame == page.main_frame:
                visit.navigations += 1

        def on_paused(event: dict[str, Any]) -> None:
            task = asyncio.get_running_loop().create_task(self._admit(cdp, visit, event))
            visit.tasks.add(task)
            task.add_done_callback(visit.tasks.discard)

        page.on("request", on_request)
        page.on("response", on_response)
        page.on("requestfinished", on_done)
        page.on("requestfailed", on_done)
        page.on("framenavigated", on_navigated)
        cdp.on("Fetch.requestPaused", on_paused)

    async def _admit(self, cdp: CDPSession, visit: _Visit, event: dict[str, Any]) -> None:
        """Let one request of the page go out, or refuse it: the SSRF, origin and robots rules
        of the plain fetcher, and its host spacing, apply to every request, redirect hops included."""
        request_id, url = event["requestId"], event["request"]["url"]
        kind = event.get("resourceType", "")
        problem: str | None = None
        if kind in BLOCKED_TYPES or urlsplit(url).path == "/favicon.ico":
            kind = "Image"
            visit.blocked_types += 1
        else:
            problem = self.fetcher.refusal(url)
            if problem is None:
                robots: list[Attempt] = []
                try:
                    await self.fetcher.check_robots(url, robots)
                except FetchError as e:
                    problem = e.reason
                visit.attempts.extend(robots)
            if problem:
                visit.refused[url] = problem
                visit.attempts.append(Attempt(url, dt.datetime.now(dt.UTC), 0.0, None, "Refused",
                                              f"browser {kind.lower()}: {problem}"))
        with contextlib.suppress(Exception):  # the page may be closed by now
            if kind in BLOCKED_TYPES or problem:
                await cdp.send("Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"})
            else:
                await self.fetcher.wait_turn(url)
                await cdp.send("Fetch.continueRequest", {"requestId": request_id})

    async def _settle(self, page: Page, visit: _Visit) -> None:
        """Wait until the page stops loading and navigating: past a challenge's reloads, until the
        requests its scripts make (a JSON list) have been answered."""
        from playwright.async_api import Error as PlaywrightError

        while True:
            seen = visit.navigations
            with contextlib.suppress(PlaywrightError):
                await page.wait_for_load_state("load")
                # A page without scripts asks for nothing more once loaded.
                if not visit.in_flight and not await page.evaluate("document.scripts.length"):
                    return
            while visit.in_flight or visit.tasks or time.monotonic() - visit.last_change < QUIET_SECONDS:
                await asyncio.sleep(0.05)
            if visit.navigations == seen:
                return
            if visit.navigations > MAX_NAVIGATIONS:
                raise Blocked(page.url, f"browser: still navigating after {MAX_NAVIGATIONS} loads")

    def _summarise(self, visit: _Visit) -> None:
        """The page's own attempt says it was rendered, what was blocked and where its list came from."""
        if visit.document_attempt is None:
            return
        notes = ["rendered in browser"]
        if visit.blocked_types:
            notes.append(f"{visit.blocked_types} images/fonts/media not loaded")
        if visit.refused:
            notes.append(f"{len(visit.refused)} requests refused")
        if visit.json_sources:
            notes.append("list from JSON " + " ".join(dict.fromkeys(visit.json_sources)))
        i = visit.document_attempt
        a = visit.attempts[i]
        visit.attempts[i] = Attempt(a.url, a.started, a.elapsed, a.status, a.outcome, "; ".join(notes))


async def _clearance(ctx: BrowserContext, page: Page, url: str) -> Clearance:
    """The cookies a rendered page left for its host, with the User-Agent that earned them."""
    agent = await page.evaluate("navigator.userAgent")
    cookies = tuple(Cookie(c["name"], c["value"], c["domain"], c.get("path", "/"), bool(c.get("secure")),
                           float(c.get("expires", -1))) for c in await ctx.cookies([url]))
    return Clearance(cookies, str(agent))


# --- the choice -------------------------------------------------------------------------------


class Pages:
    """Where one source's pages come from: the plain ``fetcher``, and the browser when the
    source's ``browser`` setting and the page call for it.

    - ``"never"``: the plain fetcher only; a challenge stays Blocked, a scripted list has 0 links.
    - ``"always"``: every page through the browser (files such as attachments stay plain).
    - ``"auto"``: plain first; a challenge (Blocked) goes to the browser, which leaves its cookies
      for the plain fetcher; a list page with 0 links and scripts is rendered (:meth:`should_render`).
    """

    def __init__(self, fetcher: Fetcher, browser: Browser | None, mode: str) -> None:
        self.fetcher = fetcher
        self.mode = mode
        self.rendering = BrowserFetcher(browser, fetcher) if browser is not None and mode != "never" else None
        #: Pages loaded in the browser, and plain fetches, for this source.
        self.rendered = 0
        self.plain = 0

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """A page (list or document): plain, or rendered as the setting says."""
        if self.mode == "always":
            return await self.render(url)
        try:
            self.plain += 1
            return await self.fetcher.get(url, etag=etag, last_modified=last_modified)
        except Blocked as e:
            if self.mode == "never":
                raise
            host = (urlsplit(url).hostname or "").lower()
            if self.rendering and self.rendering.browser.clearances.revoke(host):
                log.info("challenge returned: back to the browser", extra={"url": url})
            try:
                result = await self.render(url)
            except FetchError as failed:
                failed.attempts = (*e.attempts, *failed.attempts)
                raise
            return _with_attempts(result, (*e.attempts, *result.attempts))

    def should_render(self, result: FetchResult, links: int) -> bool:
        """Whether a list page whose HTML gave ``links`` document links should be rendered."""
        return self.mode == "auto" and not result.rendered and links == 0 and builds_list_by_script(result.content)

    async def render(self, url: str) -> FetchResult:
        """``url`` through the browser; NeedsBrowser if there is none."""
        self.rendered += 1
        try:
            if self.rendering is None:
                raise NeedsBrowser(url, NO_BROWSER)
            return await self.rendering.get(url)
        except NeedsBrowser as e:  # recorded as a request that could not be made, with the reason
            e.url = url
            e.attempts = (*e.attempts, Attempt(url, dt.datetime.now(dt.UTC), 0.0, None, "NeedsBrowser", e.reason))
            raise


def _with_attempts(result: FetchResult, attempts: tuple[Attempt, ...]) -> FetchResult:
    return dataclasses.replace(result, attempts=attempts)
