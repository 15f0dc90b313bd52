"""A second way to fetch: headless Chromium, for the pages a plain HTTP client cannot get.

Two families of sites need it (docs/configuration.md, "Sites that need a browser"): anti-bot
gateways whose challenge script computes a cookie and reloads, and columns whose list a script
builds from JSON. The ``browser`` setting chooses: ``"auto"`` (a page goes to the browser only when
the plain fetch met a challenge, or a list page has no links and has scripts), ``"always"`` or
``"never"``.

The pieces, outside in:

- :class:`Browser`: one Chromium per process, launched on first use and shared by every source;
  at most ``max_pages`` pages open at once, each reused for up to TAB_USES loads (blanked, its
  cookies cleared in between); relaunched after a crash or when its processes' memory grows past
  ``max_memory``. It also holds the :class:`Clearances`: once the browser has passed a
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
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
from .verdicts import builds_list_by_script

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
#: Relaunch the browser when its processes' memory (PSS, summed) exceeds this many bytes ...
MAX_BROWSER_MEMORY = 1024 * 1024 * 1024
#: ... measured every this many pages.
MEMORY_CHECK_EVERY = 20
#: A launch that failed is tried again after this many seconds (someone may install Chromium).
RELAUNCH_AFTER = 600.0
#: Loads a page (a renderer process) serves before it is closed and a fresh one started.
TAB_USES = 50
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
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, host: str) -> asyncio.Lock:
        """Held while a page of ``host`` goes to the browser for its challenge, so that pages
        challenged at the same time make one browser visit, not one each."""
        return self._locks.setdefault(host.lower(), asyncio.Lock())

    def grant(self, host: str, clearance: Clearance) -> None:
        self._by_host[host.lower()] = clearance

    def revoke(self, host: str, clearance: Clearance | None = None) -> bool:
        """Forget a host's clearance (its challenge came back); only if it is still ``clearance``
        when given. True if one was forgotten."""
        if clearance is not None and self._by_host.get(host.lower()) is not clearance:
            return False
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


class Tab:
    """A page of the browser, in its own context, reused for one load after another.

    Every request it makes is paused (DevTools ``Fetch`` domain) until ``admit`` (set by the
    fetcher using the tab) lets it go or fails it; with no fetcher, everything fails.
    """

    def __init__(self, context: BrowserContext, page: Page, cdp: CDPSession, user_agent: str,
                 launch: int) -> None:
        self.context, self.page, self.cdp = context, page, cdp
        self.user_agent, self.launch = user_agent, launch
        self.uses = 0
        self.admit: Callable[[dict[str, Any]], Awaitable[bool]] | None = None
        self.pending: set[asyncio.Task[None]] = set()

    def paused(self, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._decide(event))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _decide(self, event: dict[str, Any]) -> None:
        go = await self.admit(event) if self.admit else False
        with contextlib.suppress(Exception):  # the page may be gone by now
            if go:
                await self.cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
            else:
                await self.cdp.send("Fetch.failRequest", {"requestId": event["requestId"],
                                                          "errorReason": "BlockedByClient"})

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.context.close()


class Browser:
    """One headless Chromium for the process, shared by every source; launched on first use.

    ``executable``: the Chromium to run (default: :func:`find_chromium`; None there means
    Playwright's own download). Call :meth:`aclose` when done.
    """

    def __init__(self, executable: str | Path | None = "", *, max_pages: int = MAX_OPEN_PAGES,
                 max_memory: int = MAX_BROWSER_MEMORY, check_every: int = MEMORY_CHECK_EVERY) -> None:
        self.executable = find_chromium() if executable == "" else (str(executable) if executable else None)
        self.max_memory, self.check_every = max_memory, check_every
        self.clearances = Clearances()
        #: Pages loaded so far (each :meth:`tab` is one), and browser launches.
        self.pages_loaded = 0
        self.launches = 0
        self._slots = asyncio.Semaphore(max_pages)
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: PlaywrightBrowser | None = None
        self._failed: tuple[float, str] | None = None  # (when, why) the last launch failed
        self._open = 0
        self._since_check = 0
        self._driver: int | None = None  # pid of Playwright's driver process
        self._max_pages = max_pages
        self._idle: list[Tab] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @contextlib.asynccontextmanager
    async def tab(self, user_agent: str) -> AsyncIterator[Tab]:
        """A page to load one URL in, sending ``user_agent``, with no cookies; returned on exit.

        A renderer costs ~0.4 s of CPU to start and ~0.1 s to load a page in, so pages are reused:
        each is blanked (about:blank) and its cookies cleared between loads, and closed after
        TAB_USES loads, on an error, or when the browser restarts. At most ``max_pages`` exist.
        Raises :class:`NeedsBrowser` (for the URL ``""``) when no browser can be started.
        """
        async with self._slots:
            self._open += 1
            tab: Tab | None = None
            try:
                tab = await self._take(user_agent)
                yield tab
            finally:
                self._open -= 1
                if tab is not None:
                    self.pages_loaded += 1
                    self._since_check += 1
                    await self._give_back(tab)
                await self._maybe_restart()

    async def _take(self, user_agent: str) -> Tab:
        browser = await self._running()
        for tab in self._idle:
            if tab.user_agent == user_agent and tab.launch == self.launches:
                self._idle.remove(tab)
                await tab.context.clear_cookies()
                return tab
        if self._idle and len(self._idle) + self._open > self._max_pages:
            await self._idle.pop(0).close()  # another User-Agent's page: make room
        context = await browser.new_context(
            user_agent=user_agent, locale="zh-CN", service_workers="block", accept_downloads=False,
            extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
        try:
            await context.add_init_script(CLOSED_APIS)
            page = await context.new_page()
            tab = Tab(context, page, await context.new_cdp_session(page), user_agent, self.launches)
            tab.cdp.on("Fetch.requestPaused", tab.paused)
            await tab.cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]})
        except BaseException:
            with contextlib.suppress(Exception):
                await context.close()
            raise
        return tab

    async def _give_back(self, tab: Tab) -> None:
        tab.admit = None
        tab.uses += 1
        reusable = tab.uses < TAB_USES and tab.launch == self.launches and not tab.page.is_closed()
        if reusable:
            from playwright.async_api import Error as PlaywrightError

            try:
                await asyncio.wait_for(tab.page.goto("about:blank"), 5)
            except (PlaywrightError, TimeoutError):  # a page that cannot even go blank is not worth keeping
                reusable = False
        if reusable:
            self._idle.append(tab)
        else:
            await tab.close()

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
            before = set(_process_tree().get(os.getpid(), []))
            self._playwright = await async_playwright().start()
            # Playwright's driver is the child process that just appeared: what it starts is ours.
            started = set(_process_tree().get(os.getpid(), [])) - before
            self._driver = started.pop() if len(started) == 1 else None
        return await self._playwright.chromium.launch(
            executable_path=self.executable, headless=True, args=list(CHROMIUM_ARGS), timeout=60_000)

    async def _maybe_restart(self) -> None:
        """Between pages (none open), close a browser that grew past ``max_memory``; the next page
        launches a fresh one."""
        if self._open or self._since_check < self.check_every or self._browser is None:
            return
        self._since_check = 0
        used = self.pss()
        if used > self.max_memory:
            log.warning("browser restarted: too large", extra={"pss": used, "max_memory": self.max_memory})
            async with self._lock:
                await self._shutdown()

    async def _shutdown(self) -> None:
        idle, self._idle = self._idle, []
        for tab in idle:
            await tab.close()
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
        """The browser's processes: every process started by this Browser's Playwright driver."""
        if self._playwright is None or self._driver is None:
            return []
        children = _process_tree()
        found, todo = [], list(children.get(self._driver, []))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    def pss(self) -> int:
        """Proportional memory of the browser's processes, summed, in bytes: each shared page is
        split between the processes sharing it, so the sum is what the browser really costs."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError, ValueError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        return total

    def rss(self) -> int:
        """Resident memory of the browser's processes, summed, in bytes (shared pages count in each,
        so this overstates what they use together: see :meth:`pss`)."""
        total, page = 0, os.sysconf("SC_PAGE_SIZE")
        for pid in self.pids():
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        return total


def _process_tree() -> dict[int, list[int]]:
    """Each process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    return children


# --- one source's pages through the browser ---------------------------------------------------


@dataclass
class _Visit:
    """What one page load saw: its requests, its main document's responses, what was blocked."""

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



def _note(visit: _Visit, response: Response, page: Page) -> None:
    """Note the page's own document response, or a JSON response its scripts fetched."""
    request = response.request
    if request.resource_type == "document" and response.frame == page.main_frame:
        visit.document = response
        visit.document_attempt = len(visit.attempts)
    elif request.resource_type in ("xhr", "fetch") and "json" in response.headers.get("content-type", ""):
        visit.json_sources.append(response.url)

def _outcome(status: int) -> str:
    """The outcome recorded for a response the browser saw."""
    if status < 300 or status == 304:
        return "ok"
    if status < 400:
        return "redirect"
    if status in (404, 410):
        return "Gone"
    return "Blocked" if status == 412 else "PermanentError"

class BrowserFetcher:
    """Fetches one source's pages through the shared :class:`Browser`, under ``fetcher``'s rules
    (its allowed origins, unsafe addresses, robots.txt, host spacing and User-Agent)."""

    def __init__(self, browser: Browser, fetcher: Fetcher) -> None:
        self.browser = browser
        self.fetcher = fetcher
        self.settings = fetcher.settings

    async def get(self, url: str) -> FetchResult:
        """Load ``url`` in a page of the browser, let its scripts run, and return the HTML it ends with.

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
            async with self.browser.tab(clearance.user_agent if clearance else self.settings.user_agent) as tab:
                if clearance:
                    await tab.context.add_cookies([{"name": c.name, "value": c.value, "domain": c.domain,
                                                    "path": c.path, "secure": c.secure, "expires": c.expires}
                                                   for c in clearance.cookies])
                visit = _Visit()
                unwatch = self._watch(tab, visit)
                try:
                    async with asyncio.timeout(budget):
                        result = await self._load(tab.page, visit, url)
                    clearance = await _clearance(tab.context, tab.page, url)
                finally:
                    unwatch()
                if clearance.cookies:
                    self.browser.clearances.grant(host, clearance)
                return result
        except FetchError as e:
            raise _failed(e, url, visit) from None
        except TimeoutError:
            if visit and visit.navigations > 1:  # still reloading: a challenge it could not pass
                raise _failed(Blocked(url, f"browser: the page kept reloading for {budget:g} s "
                                           "(a challenge not passed)"), url, visit) from None
            raise _failed(TransientError(url, f"page not settled within {budget:g} s (browser)"),
                          url, visit) from None
        except Exception as e:  # Playwright: a crashed browser or page, a closed target
            log.warning("browser page failed", extra={"url": url, "reason": str(e)[:300]})
            why = str(e).splitlines()[0][:200] if str(e) else repr(e)
            raise _failed(TransientError(url, f"browser failed: {why}"), url, visit) from e

    async def _load(self, page: Page, visit: _Visit, url: str) -> FetchResult:
        from playwright.async_api import Error as PlaywrightError

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

    def _watch(self, tab: Tab, visit: _Visit) -> Callable[[], None]:
        """Record the page's requests, and pass each one through :meth:`_admit` before it is sent;
        returns the function that stops both."""
        page = tab.page

        def on_request(request: Request) -> None:
            visit.started[request] = (dt.datetime.now(dt.UTC), time.monotonic())
            visit.in_flight += 1
            visit.last_change = time.monotonic()

        def on_response(response: Response) -> None:
            request = response.request
            _note(visit, response, page)
            started, t0 = visit.started.get(request, (dt.datetime.now(dt.UTC), time.monotonic()))
            status = response.status
            visit.attempts.append(Attempt(response.url, started, time.monotonic() - t0, status, _outcome(status),
                                          f"browser {request.resource_type}"))

        def on_done(request: Request) -> None:
            if request in visit.started:
                visit.in_flight = max(0, visit.in_flight - 1)
                visit.last_change = time.monotonic()

        def on_navigated(frame: Any) -> None:
            if frame == page.main_frame:
                visit.navigations += 1

        async def admit(event: dict[str, Any]) -> bool:
            return await self._admit(visit, event)

        handlers: list[tuple[str, Callable[[Any], None]]] = [
            ("request", on_request), ("response", on_response), ("requestfinished", on_done),
            ("requestfailed", on_done), ("framenavigated", on_navigated)]
        for event, handler in handlers:
            page.on(event, handler)  # type: ignore[call-overload]  # the events are typed one by one
        tab.admit = admit
        visit.tasks = tab.pending

        def unwatch() -> None:
            tab.admit = None
            for event, handler in handlers:
                page.remove_listener(event, handler)

        return unwatch

    async def _admit(self, visit: _Visit, event: dict[str, Any]) -> bool:
        """Whether one request of the page may go out: the SSRF, origin and robots rules of the
        plain fetcher apply to every request, redirect hops included; then the host's spacing."""
        url, kind = event["request"]["url"], event.get("resourceType", "")
        if kind in BLOCKED_TYPES or urlsplit(url).path == "/favicon.ico":
            visit.blocked_types += 1
            return False
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
            return False
        await self.fetcher.wait_turn(url)
        return True

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


def _failed(e: FetchError, url: str, visit: _Visit | None) -> FetchError:
    """``e`` for ``url``, carrying the page's requests and, last, the failure itself (as the plain
    fetcher's last attempt carries its error), unless a refused request already says it."""
    seen = list(visit.attempts) if visit else []
    if not (seen and seen[-1].url == url and seen[-1].outcome == type(e).__name__):
        status = visit.document.status if visit and visit.document else e.status
        seen.append(Attempt(url, dt.datetime.now(dt.UTC), 0.0, status, type(e).__name__, e.reason))
    e.url, e.attempts = url, (*e.attempts, *seen)
    return e


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

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchResult:
        """A page (list or document): plain, or rendered as the setting says."""
        if self.mode == "always":
            return await self.render(url)
        clearances = self.rendering.browser.clearances if self.rendering else Clearances()
        host = (urlsplit(url).hostname or "").lower()
        used = clearances.get(host)
        try:
            return await self.fetcher.get(url, etag=etag, last_modified=last_modified)
        except Blocked as e:
            if self.mode == "never":
                raise
            blocked = e
        async with clearances.lock(host):
            current = clearances.get(host)
            if current is not None and current is not used:
                try:  # another page passed the challenge while this one waited: its cookies may do
                    result = await self.fetcher.get(url, etag=etag, last_modified=last_modified)
                    return _with_attempts(result, (*blocked.attempts, *result.attempts))
                except Blocked as again:
                    blocked.attempts, used = (*blocked.attempts, *again.attempts), current
            if clearances.revoke(host, used):
                log.info("challenge returned: back to the browser", extra={"url": url})
            try:
                result = await self.render(url)
            except FetchError as failed:
                failed.attempts = (*blocked.attempts, *failed.attempts)
                raise
            return _with_attempts(result, (*blocked.attempts, *result.attempts))

    def should_render(self, result: FetchResult, links: int) -> bool:
        """Whether a list page whose HTML gave ``links`` document links should be rendered."""
        return self.mode == "auto" and not result.rendered and links == 0 and builds_list_by_script(result.content)

    async def render(self, url: str) -> FetchResult:
        """``url`` through the browser; NeedsBrowser if there is none."""
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
