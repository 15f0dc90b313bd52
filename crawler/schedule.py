"""Unattended crawling: each source on its own cron schedule, until SIGTERM or Ctrl-C.

It runs on APScheduler 3's ``AsyncIOScheduler`` rather than a ``BackgroundScheduler``: crawl_source
is a coroutine, and running every scheduled crawl as a task on one event loop lets the sources share
one Archive connection (an SQLite connection belongs to its thread) and one HostLimiter (politeness
per host across sources), and lets shutdown cancel a crawl with ``Task.cancel()``, which crawl_source
records as an interrupted run.

While it runs, the scheduler touches a heartbeat file beside the database; ``healthcheck`` (and
``python -m crawler.schedule --check``, the Docker HEALTHCHECK) reports whether it is fresh.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from .browser import Browser
from .config import Source, resolve_db_path
from .crawl import RunReport, crawl_source
from .cron import cron_period, cron_trigger
from .fetch import HostLimiter
from .notify import notify_run_async
from .store import Archive, timestamp, utcnow
from .workers import WorkerPool

__all__ = [
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_MAX_AGE",
    "MISFIRE_GRACE",
    "STOP_GRACE",
    "CrawlFn",
    "SourceScheduler",
    "build_scheduler",
    "due_at_start",
    "healthcheck",
    "heartbeat_path",
    "main",
    "run_scheduler",
    "serve",
]

log = logging.getLogger("govarchive")

#: Seconds between two touches of the heartbeat file; $GOVARCHIVE_HEARTBEAT_INTERVAL overrides it.
HEARTBEAT_INTERVAL = 30.0
#: A heartbeat older than this many seconds (three missed beats) means the scheduler is stuck or gone.
HEARTBEAT_MAX_AGE = 90.0
#: Seconds running crawls may go on after SIGTERM before they are cancelled; $GOVARCHIVE_STOP_GRACE
#: overrides it. Kept well under Docker's 10 s stop timeout, so the cancelled runs are recorded.
STOP_GRACE = 5.0
#: A start delayed by up to this many seconds (a busy loop, a suspended host) still runs; a longer
#: outage is made up by the catch-up at the next start instead.
MISFIRE_GRACE = 3600

#: Called as ``crawl_fn(source, archive, limiter=..., browser=..., pool=...)``; :func:`crawl_source`
#: or a test's fake.
CrawlFn = Callable[..., Awaitable[RunReport]]
Clock = Callable[[], dt.datetime]

def due_at_start(archive: Archive, source: Source, now: dt.datetime) -> bool:
    """Whether to crawl ``source`` at once on start: it was never crawled to the end, or its last
    complete run is older than its period (downtime made it miss a scheduled run)."""
    last = archive.last_complete_run(source.name)
    return last is None or now - last > cron_period(source.settings.schedule, now)


def build_scheduler(sources: Collection[Source], job: Callable[[Source], Awaitable[None]], *,
                    run_now: Collection[str] = (), timezone: Any = None) -> AsyncIOScheduler:
    """A scheduler, not yet started, with one job per source: ``job(source)`` on the source's cron.

    A run never overlaps the same source's previous one (``max_instances=1``, a fire time reached
    while it runs is skipped), and starts missed while the process was busy are run once
    (``coalesce``). The sources named in ``run_now`` start as soon as the scheduler does.
    """
    scheduler = AsyncIOScheduler(timezone=timezone)
    now = dt.datetime.now(scheduler.timezone)
    for source in sources:
        s = source.settings
        first: dict[str, Any] = {"next_run_time": now} if source.name in run_now else {}
        scheduler.add_job(job, cron_trigger(s.schedule, jitter=s.jitter, timezone=scheduler.timezone),
                          args=[source], id=source.name, name=source.name, max_instances=1,
                          coalesce=True, misfire_grace_time=MISFIRE_GRACE, **first)
    scheduler.add_listener(_log_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    return scheduler


def _log_skipped(event: JobEvent) -> None:
    why = "still running" if event.code == EVENT_JOB_MAX_INSTANCES else "started too late"
    log.warning(f"scheduled run skipped: {why}", extra={"source": event.job_id})


class SourceScheduler:
    """The scheduled crawls of one archive, run as tasks on the running event loop."""

    def __init__(self, sources: Collection[Source], archive: Archive, *, crawl_fn: CrawlFn = crawl_source,
                 clock: Clock = utcnow, timezone: Any = None, pool: WorkerPool | None = None) -> None:
        self.archive, self.crawl_fn = archive, crawl_fn
        self.limiter = HostLimiter()
        #: One browser for every source, launched only when a page needs it; closed by :meth:`stop`.
        self.browser = Browser()
        #: Worker processes parsing the pages of every scheduled crawl (see crawler/workers.py).
        self.pool = pool or WorkerPool()
        #: Crawls in progress, so that stopping can wait for them and then cancel them.
        self.running: set[asyncio.Task[Any]] = set()
        now = clock()
        due = [s.name for s in sources if due_at_start(archive, s, now)]
        self.scheduler = build_scheduler(sources, self.run_source, run_now=due, timezone=timezone)

    def start(self) -> None:
        """Start the jobs (on the running event loop) and log when each source runs next."""
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            source: Source = job.args[0]
            log.info("source scheduled", extra={"source": job.id, "schedule": source.settings.schedule,
                                                "jitter": source.settings.jitter,
                                                "next_run": _iso(job.next_run_time)})

    async def run_source(self, source: Source) -> None:
        """One scheduled crawl of ``source``; the job APScheduler runs."""
        task = asyncio.current_task()
        assert task is not None
        self.running.add(task)
        log.info("scheduled run started", extra={"source": source.name})
        try:
            report = await self.crawl_fn(source, self.archive, limiter=self.limiter, browser=self.browser,
                                         pool=self.pool)
        except asyncio.CancelledError:
            # crawl_source has recorded the run as interrupted; ending quietly spares APScheduler's
            # traceback for a job that was stopped on purpose.
            log.warning("scheduled run interrupted", extra={"source": source.name})
            return
        except Exception:  # a failed run must not stop the schedule; the next fire time retries
            log.exception("scheduled run failed", extra={"source": source.name})
            return
        finally:
            self.running.discard(task)
        job = self.scheduler.get_job(source.name)
        log.info("scheduled run finished", extra={
            "source": source.name, "run": report.run_id, **vars(report.counts),
            "errors": "; ".join(report.errors), "next_run": _iso(job.next_run_time if job else None)})
        if source.settings.notify:
            await notify_run_async(self.archive, source, report)

    async def stop(self, grace: float) -> None:
        """Start nothing new; give running crawls ``grace`` seconds, then cancel them."""
        self.scheduler.pause()
        running = set(self.running)
        if running:
            log.info("waiting for running crawls", extra={"crawls": len(running), "grace": grace})
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=grace)
        self.scheduler.shutdown(wait=False)
        await self.browser.aclose()
        await asyncio.sleep(0)  # AsyncIOScheduler.shutdown runs on the loop's next turn


def _iso(when: dt.datetime | None) -> str | None:
    return when.isoformat(timespec="seconds") if when else None


def heartbeat_path(db_path: Path) -> Path:
    """The file a running scheduler touches: ``.<db name>.heartbeat`` beside the database."""
    return db_path.parent / f".{db_path.name}.heartbeat"


def healthcheck(path: Path, max_age: float = HEARTBEAT_MAX_AGE) -> bool:
    """Whether the heartbeat file exists and was touched within ``max_age`` seconds."""
    try:
        return time.time() - path.stat().st_mtime <= max_age
    except OSError:
        return False


async def _beat(path: Path, interval: float) -> None:
    while True:
        path.write_text(f"{os.getpid()} {timestamp()}\n", encoding="utf-8")
        await asyncio.sleep(interval)


@contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP set ``stop``; only the main thread can receive signals.

    SIGHUP (a closed terminal, or a service manager's reload) stops too: its default action would
    kill the process mid-run, leaving runs without an end."""
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    handled = threading.current_thread() is threading.main_thread()
    loop = asyncio.get_running_loop()
    for sig in signals if handled else ():
        loop.add_signal_handler(sig, _on_signal, sig, stop)
    try:
        yield
    finally:
        for sig in signals if handled else ():
            loop.remove_signal_handler(sig)


def _on_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    if not stop.is_set():
        log.info("stop requested", extra={"signal": sig.name})
        stop.set()


async def serve(sources: Collection[Source], db_path: Path, *, crawl_fn: CrawlFn = crawl_source,
                clock: Clock = utcnow, stop: asyncio.Event | None = None,
                heartbeat_interval: float = HEARTBEAT_INTERVAL, grace: float = STOP_GRACE,
                timezone: Any = None) -> None:
    """Run the schedule until ``stop`` is set or SIGTERM/SIGINT arrives, then stop cleanly."""
    stop = stop or asyncio.Event()
    heartbeat = heartbeat_path(db_path)
    with Archive(db_path) as archive, _stop_on_signals(stop):
        archive.sync_sources(sources)
        jobs = SourceScheduler(sources, archive, crawl_fn=crawl_fn, clock=clock, timezone=timezone)
        beat = asyncio.create_task(_beat(heartbeat, heartbeat_interval))
        try:
            jobs.start()
            await stop.wait()
            await jobs.stop(grace)
        finally:
            await jobs.pool.close()
            beat.cancel()
            with suppress(asyncio.CancelledError):
                await beat
            heartbeat.unlink(missing_ok=True)
    log.info("scheduler stopped")


def run_scheduler(sources: list[Source], db_path: Path, *, crawl_fn: CrawlFn = crawl_source,
                  clock: Clock | None = None, heartbeat_interval: float | None = None,
                  grace: float | None = None, timezone: Any = None) -> None:
    """Crawl each source on its schedule until SIGTERM or Ctrl-C (blocks; ``govarchive schedule``).

    Cron expressions are read in ``timezone`` (default: the host's local time zone). Heartbeat
    interval and stop grace default to $GOVARCHIVE_HEARTBEAT_INTERVAL and $GOVARCHIVE_STOP_GRACE,
    else to :data:`HEARTBEAT_INTERVAL` and :data:`STOP_GRACE`.
    """
    # Skipped and missed runs are logged through "govarchive"; APScheduler's own warnings would
    # repeat them unformatted on stderr.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    asyncio.run(serve(
        sources, db_path, crawl_fn=crawl_fn, clock=clock or utcnow, timezone=timezone,
        heartbeat_interval=heartbeat_interval or _env_seconds("GOVARCHIVE_HEARTBEAT_INTERVAL",
                                                              HEARTBEAT_INTERVAL),
        grace=grace if grace is not None else _env_seconds("GOVARCHIVE_STOP_GRACE", STOP_GRACE)))


def _env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError:
        raise SystemExit(f"error: ${name} must be a number of seconds, not {value!r}") from None


def main(argv: list[str] | None = None) -> int:
    """``python -m crawler.schedule --check``: exit 0 if the scheduler's heartbeat is fresh, else 1."""
    parser = argparse.ArgumentParser(prog="python -m crawler.schedule",
                                     description="Check that `govarchive schedule` is running.")
    parser.add_argument("--check", action="store_true", required=True,
                        help="Check the heartbeat file beside the database.")
    parser.add_argument("--db", help="Archive database (default: $GOVARCHIVE_DB, else archive/govarchive.db).")
    parser.add_argument("--max-age", type=float, default=HEARTBEAT_MAX_AGE,
                        help=f"Oldest acceptable heartbeat, in seconds (default {HEARTBEAT_MAX_AGE:g}).")
    args = parser.parse_args(argv)
    path = heartbeat_path(resolve_db_path(args.db))
    if healthcheck(path, args.max_age):
        return 0
    print(f"unhealthy: no heartbeat in {path} within {args.max_age:g}s: is `govarchive schedule` "
          "running?", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
