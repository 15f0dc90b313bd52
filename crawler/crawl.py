"""The engine: one crawl of one source, wiring the stages together.

The data flow (docs/architecture.md numbers it):

1. the column's list pages are fetched (fetch) and read for document links and further pages
   (discover), until a page lists nothing new or ``max_pages`` is reached; the listed documents
   not yet archived join the frontier (store), which keeps them until a run archives them;
2. the frontier, then known documents whose revisit is due, are fetched (fetch), with conditional
   requests where the server supports them, within ``max_documents`` and ``run_budget``: the rest
   are deferred to the next run;
3. each page is reduced to its document (extract) and archived (store), as a new version only
   when its content changed; every HTTP attempt and the run itself are recorded (store).

Parsing (discover, extract) runs in worker processes (workers), with a deadline per page, so the
event loop keeps fetching, beating and answering signals whatever a page holds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import hashlib
import itertools
import logging
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from .browser import Browser, Pages
from .config import Settings, Source
from .discover import Listing, discover
from .extract import Document
from .fetch import (
    Attempt,
    Blocked,
    Fetcher,
    FetchError,
    FetchResult,
    Gone,
    HostLimiter,
    NeedsBrowser,
    TransientError,
)
from .filetext import TIME_LIMIT, FileText, file_document, file_name, file_text, is_file_response
from .reading import read_page
from .store import (
    BATCH_SECONDS,
    INTERRUPTED,
    Archive,
    ArchiveError,
    DocumentState,
    Outcome,
    Prepared,
    RunCounts,
    SourceBusy,
    StoredFile,
    timestamp,
    utcnow,
)
from .urls import origin
from .verdicts import SharedPages
from .workers import WorkerError, WorkerPool

__all__ = ["RunReport", "crawl", "crawl_source", "read_file", "reread_files", "revisit_interval"]

log = logging.getLogger("govarchive")

#: Documents of one source fetched at once; the per-host delay still spaces their requests.
DOCUMENT_WORKERS = 4
#: The most a revisit interval is shortened, by a share fixed per URL (see revisit_interval).
REVISIT_SPREAD = 0.2
#: Sources crawled at once by a single ``crawl``.
SOURCE_WORKERS = 8
#: Seconds discovery or extraction of one page may take in a worker process; a page that needs
#: longer (deeply nested markup) is a failure of that URL, and the crawl goes on meanwhile.
PARSE_TIMEOUT = 20.0
#: A document with less text than this may be a template (maintenance page, soft 404): the run
#: then asks its site, once, for a URL that cannot exist, and compares (verdicts.SharedPages).
PROBE_BELOW = 1000

Progress = Callable[[str, RunCounts], None]
T = TypeVar("T")


@dataclass(frozen=True)
class RunReport:
    """How one crawl of one source went (its ``runs`` row)."""

    source: str
    run_id: int
    counts: RunCounts
    errors: tuple[str, ...] = field(default=())


async def crawl(sources: Iterable[Source], archive: Archive, *, full: bool = False,
                limiter: HostLimiter | None = None, transport: httpx.AsyncBaseTransport | None = None,
                progress: Progress | None = None, browser: Browser | None = None,
                pool: WorkerPool | None = None) -> list[RunReport]:
    """Crawl several sources concurrently; requests to one host stay spaced by its ``delay``.

    Sources start in turns across hosts (see ``_by_host``); the reports come in the given order.
    They share ``browser`` (default: one of their own, launched only if a page needs it), and
    parse pages in ``pool`` (default: one of their own, closed after the crawl).
    """
    sources = list(sources)
    archive.sync_sources(sources)
    limiter = limiter or HostLimiter()
    slots = asyncio.Semaphore(SOURCE_WORKERS)
    async with contextlib.AsyncExitStack() as stack:
        shared = browser or await stack.enter_async_context(Browser())
        workers = pool or await stack.enter_async_context(WorkerPool())

        async def one(source: Source) -> RunReport:
            async with slots:
                return await crawl_source(source, archive, full=full, limiter=limiter,
                                          transport=transport, progress=progress, browser=shared,
                                          pool=workers)

        order = _by_host(sources)
        reports = await _all_or_none(one(sources[i]) for i in order)
    return [report for _, report in sorted(zip(order, reports, strict=True), key=lambda pair: pair[0])]


@contextlib.asynccontextmanager
async def _pool(pool: WorkerPool | None) -> AsyncIterator[WorkerPool]:
    """The caller's worker pool, or one of our own for the duration."""
    if pool is not None:
        yield pool
        return
    async with WorkerPool() as own:
        yield own


async def read_file(pool: WorkerPool, content: bytes, name: str, content_type: str, *,
                    timeout: float = TIME_LIMIT) -> FileText:
    """The text of a downloaded file, read in a worker process within ``timeout`` seconds: a file
    that hangs or crashes its parser fails alone, with the reason."""
    try:
        return await pool.run(file_text, content, name, content_type, timeout=timeout)
    except WorkerError as e:
        return FileText("", status="failed", reason=str(e))


async def reread_files(archive: Archive, pool: WorkerPool, sources: Iterable[str] = ()) -> int:
    """Read the text of every archived file (of ``sources``' documents) again; return how many."""
    done = 0
    for sha, name, content_type in archive.stored_files(sources):
        content = archive.file_content(sha)
        if content is not None:
            archive.set_file_text(sha, await read_file(pool, content, name, content_type))
            done += 1
    return done


async def _all_or_none(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coros`` concurrently; if one fails or this is cancelled, cancel the others and wait for
    them to end before raising, so that none goes on writing after its run is recorded as ended."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _by_host(sources: list[Source]) -> list[int]:
    """Indexes of ``sources`` in turns across their hosts: the first source of each host, then the
    second of each … A host answers one request per ``delay`` however many of its sources run, so
    SOURCE_WORKERS sources of one site (listed together in sources.toml) would crawl at the pace of
    one; taken in turns, the sources running at once are on different hosts whenever possible."""
    queues: dict[str, list[int]] = {}
    for i, source in enumerate(sources):
        first = (source.urls or source.pages or ("",))[0]
        queues.setdefault(urlsplit(first).hostname or "", []).append(i)
    return [i for turn in itertools.zip_longest(*queues.values()) for i in turn if i is not None]


async def crawl_source(source: Source, archive: Archive, *, full: bool = False,
                       limiter: HostLimiter | None = None,
                       transport: httpx.AsyncBaseTransport | None = None,
                       progress: Progress | None = None, browser: Browser | None = None,
                       pool: WorkerPool | None = None) -> RunReport:
    """One pass over a source: its list pages, then its frontier and due documents.

    ``browser`` renders the pages that need one (the ``browser`` setting); without it, such a
    page fails with the reason "needs a browser". Pages are parsed in ``pool`` (default: one of
    its own for the run).
    """
    previous = archive.last_run(source.name)
    # Paging stops at a page of archived documents only if the last run saw the whole column
    # and nothing listed waits in the frontier: after a crash or failed fetches, older pages may
    # hold documents never archived.
    stop_early = not full and bool(previous and previous.finished and not previous.error
                                   and not previous.failed) and not archive.backlog(source.name)
    async with _batched(archive):
        return await _crawl_source(source, archive, stop_early, full=full, limiter=limiter, transport=transport,
                                   progress=progress, browser=browser, pool=pool)


async def _crawl_source(source: Source, archive: Archive, stop_early: bool, *, full: bool,
                        limiter: HostLimiter | None, transport: httpx.AsyncBaseTransport | None,
                        progress: Progress | None, browser: Browser | None,
                        pool: WorkerPool | None) -> RunReport:
    try:
        run = _Run(source, archive, archive.start_run(source.name, full=full), full, progress)
    except SourceBusy as e:  # another process is crawling it: that crawl will do
        log.warning(str(e), extra={"source": source.name, "run": e.run_id})
        return RunReport(source.name, e.run_id, RunCounts(), (str(e),))
    run.stop_early = stop_early
    log.info("crawl started", extra={"source": source.name, "run": run.id})
    try:
        async with _pool(pool) as workers, Fetcher(
                source.settings, source.origins, limiter=limiter, transport=transport,
                extra_headers=browser.clearances.headers if browser else None) as fetcher:
            run.pool, run.fetcher = workers, fetcher
            run.pages = Pages(fetcher, browser, source.settings.browser)
            listed = await run.walk_lists()
            await run.fetch_documents(listed)
            archive.record_listing(source.name, run.listed, whole=run.whole_columns, run_id=run.id)
    except asyncio.CancelledError:
        run.errors.append(INTERRUPTED)
        raise
    except (ArchiveError, sqlite3.DatabaseError) as e:  # the archive itself failed: stop the crawl
        run.errors.append(f"stopped: {e}")
        raise
    except Exception as e:  # a bug in one run must not stop the others or lose its record
        log.exception("crawl failed", extra={"source": source.name})
        run.errors.append(f"crashed: {e!r}")
    finally:
        archive.finish_run(run.id, run.counts, "; ".join(run.errors))
    log.info("crawl finished", extra={"source": source.name, "run": run.id, **vars(run.counts)})
    return RunReport(source.name, run.id, run.counts, tuple(run.errors))


@contextlib.asynccontextmanager
async def _batched(archive: Archive) -> AsyncIterator[None]:
    """Write in batches (``Archive.batch``): a commit per document cost more than saving it. While
    the crawl waits for the network, what was written is committed once BATCH_SECONDS old."""

    async def flush() -> None:
        while True:
            await asyncio.sleep(BATCH_SECONDS / 4)
            if archive.flush_due():
                try:
                    archive.flush()
                except ArchiveError as e:  # the next write fails the same way and stops the crawl
                    log.error(str(e))
                    return

    with archive.batch():
        flusher = asyncio.ensure_future(flush())
        try:
            yield
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher


def revisit_interval(settings: Settings, url: str, published: dt.date | None,
                     today: dt.date) -> dt.timedelta:
    """How long until a document is fetched again: fresh ones often, old ones rarely.

    A quarter of its age, within ``revisit_min_days`` and ``revisit_max_days``: a week-old
    document is seen again in 1.75 days, a four-month-old one every 30 days (the defaults).
    Each URL's interval is then shortened by a fixed share of up to ``REVISIT_SPREAD``, so the
    documents archived on one day don't all fall due again on one day.
    """
    age = (today - published).days if published else 0
    days = min(max(age / 4, settings.revisit_min_days), settings.revisit_max_days)
    share = int.from_bytes(hashlib.blake2b(url.encode(), digest_size=2).digest(), "big") / 65536
    return dt.timedelta(days=days * (1 - REVISIT_SPREAD * share))


class _Run:
    """State of one crawl of one source; its methods are the steps of the data flow."""

    def __init__(self, source: Source, archive: Archive, run_id: int, full: bool,
                 progress: Progress | None) -> None:
        self.source, self.archive, self.id, self.full = source, archive, run_id, full
        self.progress = progress
        self.counts = RunCounts()
        self.errors: list[str] = []
        self.fetcher: Fetcher
        self.pages: Pages
        self.pool: WorkerPool
        self.titles: dict[str, str] = {}
        self.stop_early = False
        self.listed: list[str] = []
        self.whole_columns = False
        #: When the run's time budget (``run_budget``) runs out, on the monotonic clock.
        self.deadline = time.monotonic() + source.settings.run_budget
        #: Documents that failed transiently once, tried again at the end of the run.
        self.retry: list[str] = []
        #: Pages documents got in this run, to tell templates from documents (issue 10, item 6).
        self.shared = SharedPages()
        self.probes: dict[str, asyncio.Task[None]] = {}

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def count(self, outcome: Outcome, n: int = 1) -> None:
        self.counts += RunCounts.of(outcome, n)

    async def walk_lists(self) -> list[str]:
        """Step 1: the watched pages, then the documents the columns list, in list order, each once."""
        self.archive.enqueue(self.source.name, self.source.pages, run_id=self.id)
        columns: dict[str, None] = {}
        self.whole_columns = True
        for url in self.source.urls:
            docs, whole = await self._walk_column(url)
            columns.update(dict.fromkeys(docs))
            self.whole_columns &= whole
        self.listed = list(columns)
        return list(dict.fromkeys([*self.source.pages, *columns]))

    async def _walk_column(self, start: str) -> tuple[list[str], bool]:
        """The documents a column lists, and whether the walk saw the whole column. What a page
        lists goes to the frontier at once, so it is remembered whatever happens next."""
        queue, seen, docs, pages = [start], set[str](), list[str](), 0
        while queue and pages < self.source.settings.max_pages:
            if self.out_of_time():
                return docs, False
            page = queue.pop(0)
            if page in seen:
                continue
            seen.add(page)
            result = await self._get(page)
            listing = await self._discover(result) if result else None
            if result and listing and self.pages.should_render(result, len(listing.documents)):
                # Links written by script: the same page, rendered, through the same discover.
                result = await self._get(page, render=True)
                listing = await self._discover(result) if result else None
            if result is None or listing is None:
                self.errors.append(f"list page failed: {page}")
                return docs, False
            if listing.problem:
                self.errors.append(f"list page unreadable: {page}: {listing.problem}")
                return docs, False
            self.counts += RunCounts(list_pages=1, links_found=len(listing.documents))
            self.titles.update(listing.titles)
            self.archive.enqueue(self.source.name, listing.documents, run_id=self.id)
            pages += 1
            docs.extend(listing.documents)
            if not listing.documents:
                # A redesigned column yields nothing: flag the run; nothing is removed for it.
                self.errors.append(f"0 links found on {page}")
                return docs, False
            if self.stop_early and not set(listing.documents) - self.archive.known(listing.documents):
                return docs, False  # a whole page of archived documents: the rest is older
            queue.extend(p for p in listing.next_pages if p not in seen)
        return docs, not set(queue) - seen

    async def _discover(self, result: FetchResult) -> Listing:
        s = self.source.settings
        try:
            return await self.pool.run(
                discover, result.content, result.final_url, timeout=PARSE_TIMEOUT,
                allowed_hosts=self.source.origins, list_selector=s.list_selector,
                link_pattern=s.link_pattern, exclude_pattern=s.exclude_pattern, encoding=result.charset)
        except WorkerError as e:
            return Listing(problem=str(e))

    async def fetch_documents(self, listed: list[str]) -> None:
        """Step 2 and 3: the frontier (listed, never archived; this run's listing order first), then
        the known documents whose revisit is due; within ``max_documents`` and the time budget.
        A transient failure is tried once more at the end; what is left over waits (deferred)."""
        frontier = self.archive.frontier(self.source.name)
        waiting = set(frontier)
        todo = [u for u in listed if u in waiting] + frontier
        todo += self.archive.due(self.source.name, None if self.full else timestamp())
        todo = list(dict.fromkeys(todo))
        cap = self.source.settings.max_documents
        self.count(Outcome.DEFERRED, len(todo[cap:]))
        await self._work(todo[:cap], last_try=False)
        retry, self.retry = self.retry, []
        await self._work(retry, last_try=True)

    async def _work(self, urls: list[str], *, last_try: bool) -> None:
        queue = collections.deque(urls)

        async def worker() -> None:
            while queue and not self.out_of_time():
                await self._document(queue.popleft(), last_try=last_try)
                if self.progress:
                    self.progress(self.source.name, self.counts)

        await _all_or_none(worker() for _ in range(min(DOCUMENT_WORKERS, len(queue))))
        self.count(Outcome.DEFERRED, len(queue))

    async def _document(self, url: str, *, last_try: bool) -> None:
        state = self.archive.state(url)
        try:
            result = await self._fetch(url, self.pages.get(url, etag=state.etag if state else None,
                                                            last_modified=state.last_modified if state else None))
        except Gone as e:
            self._record(e.attempts, state)
            if state and self.archive.mark_removed(url, e.reason, run_id=self.id):
                self.count(Outcome.REMOVED)
            elif not state:
                self._failed(url, e.reason, permanent=True)
            return
        except FetchError as e:
            self._record(e.attempts, state)
            self._needs_browser(e)
            if isinstance(e, TransientError) and not last_try and self._may_retry(e):
                self.retry.append(url)  # its host may answer again before the run ends
            else:
                self._failed(url, e.reason, permanent=not isinstance(e, TransientError | Blocked))
            return
        await self._archive(result, state)

    def _may_retry(self, error: TransientError) -> bool:
        """Whether a URL is worth one more try at the end of this run: not if the server asked
        for a longer wait than we honour."""
        return error.retry_after is None or error.retry_after <= self.source.settings.max_retry_after

    def _failed(self, url: str, reason: str, *, permanent: bool) -> None:
        self.count(Outcome.FAILED)
        self.archive.frontier_failed(url, reason, permanent=permanent)

    async def _archive(self, result: FetchResult, state: DocumentState | None) -> None:
        today = result.fetched_at.date()
        if result.not_modified and state:
            self._record(result.attempts, state)
            self.archive.touch(state, result.fetched_at, run_id=self.id,
                               next_visit=self._next_visit(result.url, state.published, result.fetched_at))
            self.count(Outcome.UNCHANGED)
            return
        prepared: Prepared | None = None
        capture: bytes | None = None
        if is_file_response(result.content[:512], result.headers):
            doc, downloads, texts = await self._file_document(result)
        else:
            try:
                read = await self.pool.run(read_page, result.content, result.final_url, timeout=PARSE_TIMEOUT,
                                           body_selector=self.source.settings.body_selector,
                                           encoding=result.charset, today=today,
                                           title=self.titles.get(result.url, ""))
            except WorkerError as e:
                # Too slow or too big to parse (say, deeply nested markup): a failure of this URL only.
                self._record(result.attempts, state, failure=f"unreadable: {e}", outcome="unreadable")
                self._failed(result.url, str(e), permanent=True)
                return
            doc, prepared, capture = read.doc, read.prepared, read.capture
            if prepared is None:
                # An empty or unreadable page never replaces what the archive holds.
                self._record(result.attempts, state, failure=f"empty: {doc.problem or 'no text'}")
                self._failed(result.url, doc.problem or "no text", permanent=True)
                return
            if read.body_chars < PROBE_BELOW:
                await self._probe(result.final_url)
            verdict = self.shared.judge(result.url, result.final_url, read.said)
            if verdict:
                # A template many URLs get (maintenance page, WAF block, soft 404) is not a version.
                self._record(result.attempts, state, failure=verdict.reason, outcome="Unusable")
                self._failed(result.url, verdict.reason, permanent=False)
                return
            downloads, texts = await self._download(doc) if self.source.settings.attachments else ({}, {})
        outcome, doc_id = self.archive.save(
            self.source.name, result, doc, downloads=downloads, run_id=self.id, texts=texts,
            prepared=prepared, capture=capture,
            next_visit=self._next_visit(result.url, doc.published or today, result.fetched_at))
        self._record(result.attempts, None, document_id=doc_id)
        self.count(outcome)

    async def _file_document(self, result: FetchResult) -> tuple[Document, dict[str, StoredFile | str],
                                                                 dict[str, FileText]]:
        """A column that lists a file (….pdf): the file is the document, titled as listed, its
        text the body; with the file (its own attachment) and its text if newly read."""
        title = (self.titles.get(result.url) or self.archive.title(result.url)
                 or file_name(result.final_url, result.headers))
        stored, texts = await self._keep_file(result, title)
        known = texts.get(stored.sha256) or self.archive.file_texts([stored.sha256]).get(stored.sha256) or ""
        return file_document(result.url, title, known), {result.url: stored}, texts

    async def _keep_file(self, got: FetchResult, link_text: str) -> tuple[StoredFile, dict[str, FileText]]:
        """Store a downloaded file, and read its text in the worker pool if the archive has not yet."""
        name = file_name(got.final_url, got.headers, link_text)
        content_type = got.headers.get("content-type", "")
        stored = self.archive.store_file(got.content, content_type, got.fetched_at.isoformat(timespec="seconds"),
                                         name=name)
        if self.archive.file_texts([stored.sha256]):
            return stored, {}
        return stored, {stored.sha256: await read_file(self.pool, got.content, name, content_type)}

    async def _download(self, doc: Document) -> tuple[dict[str, StoredFile | str], dict[str, FileText]]:
        """Fetch a document's attachments one at a time, each kept in the archive as it arrives,
        so one file at most is held in memory; a failure is kept as its reason, never as a change.
        Past ``max_attachment_bytes`` for the document, the rest are skipped. Also returns the
        text of the files read now (by SHA-256)."""
        files: dict[str, StoredFile | str] = {}
        texts: dict[str, FileText] = {}
        room = self.source.settings.max_attachment_bytes
        for a in doc.attachments:
            if room <= 0:
                files[a.url] = f"skipped: the document's attachments exceed max_attachment_bytes " \
                               f"({self.source.settings.max_attachment_bytes})"
                continue
            try:
                got = await self._fetch(a.url, self.fetcher.get(a.url))
            except FetchError as e:
                self._record(e.attempts, None)
                files[a.url] = e.reason
                continue
            self._record(got.attempts, None)
            room -= len(got.content)
            if room < 0:
                files[a.url] = f"skipped: the document's attachments exceed max_attachment_bytes " \
                               f"({self.source.settings.max_attachment_bytes})"
            elif not is_file_response(got.content[:512], got.headers):
                # A link that only says it is a file (/download?fileId=…) is one if the answer is.
                files[a.url] = f"not a file: {got.headers.get('content-type') or 'a web page'}"
            else:
                files[a.url], read = await self._keep_file(got, a.text)
                texts.update(read)
            del got  # before the next download arrives
        return files, texts

    async def _probe(self, url: str) -> None:
        """What the site of ``url`` serves for a URL that cannot exist, once per origin and run."""
        where = str(origin(url))
        if where not in self.probes:
            self.probes[where] = asyncio.ensure_future(self._unknown(f"{where}/govarchive-probe-"
                                                                     f"{secrets.token_hex(8)}.html"))
        await self.probes[where]

    async def _unknown(self, url: str) -> None:
        try:
            result = await self.fetcher.get(url)
        except FetchError as e:  # a 404 as it should be, or nothing to compare with
            self._record(_probing(e.attempts), None)
            return
        self._record(_probing(result.attempts), None)
        try:
            read = await self.pool.run(read_page, result.content, result.final_url, timeout=PARSE_TIMEOUT,
                                       body_selector=self.source.settings.body_selector,
                                       encoding=result.charset)
        except WorkerError:  # nothing to compare with
            return
        self.shared.unknown(url, result.final_url, read.said)

    async def _get(self, url: str, *, render: bool = False) -> FetchResult | None:
        try:
            result = await self._fetch(url, self.pages.render(url) if render else self.pages.get(url))
        except FetchError as e:
            self._record(e.attempts, None)
            self._needs_browser(e)
            return None
        self._record(result.attempts, None)
        return result

    def _needs_browser(self, e: FetchError) -> None:
        """A page that needs a browser, with none to be had, says so in the run (once)."""
        if isinstance(e, NeedsBrowser) and e.reason not in self.errors:
            self.errors.append(e.reason)

    async def _fetch(self, url: str, request: Awaitable[FetchResult]) -> FetchResult:
        """Await ``request`` for ``url``; one cut short by the run's stop is recorded as interrupted."""
        started, t0 = utcnow(), time.monotonic()
        try:
            return await request
        except asyncio.CancelledError:
            self._record([Attempt(url, started, time.monotonic() - t0, None, INTERRUPTED,
                                  "the run was stopped while this request was in flight")], None)
            raise

    def _record(self, attempts: Iterable[Attempt], state: DocumentState | None, *,
                document_id: int | None = None, failure: str = "", outcome: str = "empty") -> None:
        attempts = list(attempts)
        if failure and attempts:
            attempts[-1] = dataclasses.replace(attempts[-1], outcome=outcome, reason=failure)
        for a in attempts:  # shown with -v
            failed = a.outcome not in ("ok", "not_modified", "redirect", "probe")
            log.debug("request failed" if failed else "request", extra={
                "source": self.source.name, "url": a.url, "status": a.status, "outcome": a.outcome,
                **({"reason": a.reason} if failed else {})})
        self.archive.record_attempts(self.id, self.source.name, attempts,
                                     document_id=document_id or (state.id if state else None))

    def _next_visit(self, url: str, published: dt.date | None, fetched: dt.datetime) -> str:
        when = fetched + revisit_interval(self.source.settings, url, published, fetched.date())
        return when.isoformat(timespec="seconds")


def _probing(attempts: Iterable[Attempt]) -> list[Attempt]:
    """The attempts of a probe, recorded as such: a probe's 404 is no failure."""
    return [dataclasses.replace(a, outcome="probe", reason=f"URL that cannot exist: {a.outcome}"
                                f"{' (' + a.reason + ')' if a.reason else ''}") for a in attempts]
