"""`govarchive schedule`: a job per source, no overlap, catch-up after downtime, a clean stop."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from crawler.config import Settings, Source, load_config
from crawler.crawl import RunReport
from crawler.cron import cron_period, cron_trigger
from crawler.schedule import (
    MISFIRE_GRACE,
    SourceScheduler,
    build_scheduler,
    due_at_start,
    healthcheck,
    heartbeat_path,
    main,
    serve,
)
from crawler.store import Archive, RunCounts

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
DAILY = "0 3 * * *"


def source(name: str, schedule: str = DAILY) -> Source:
    # Port 9 (discard): nothing here may reach the network; the crawl function is always a fake.
    return Source(name=name, urls=(f"http://127.0.0.1:9/{name}/",),
                  settings=Settings(schedule=schedule, jitter=0))


def report(s: Source) -> RunReport:
    return RunReport(s.name, 0, RunCounts())


def seed_run(archive: Archive, name: str, finished: dt.datetime | None, error: str = "") -> None:
    archive.db.table("runs").insert({"source": name, "started": (finished or NOW).isoformat(timespec="seconds"),
                               "finished": finished.isoformat(timespec="seconds") if finished else None,
                               "error": error})


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for ``condition`` on the event loop, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def fire_now(jobs: SourceScheduler, name: str) -> None:
    """Make the source's job due now, as if its cron time had come."""
    jobs.scheduler.modify_job(name, next_run_time=dt.datetime.now(jobs.scheduler.timezone))


@pytest.fixture
def events() -> Iterator[list[str]]:
    """Messages logged to "govarchive" (the CLI may have stopped it propagating to caplog)."""
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("govarchive")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)


# -- jobs from the configuration ----------------------------------------------------------------


def test_one_job_per_source_with_its_cron_and_jitter(tmp_path: Path) -> None:
    config = tmp_path / "sources.toml"
    config.write_text('[defaults]\nschedule = "30 2 * * *"\njitter = 60\n\n'
                      '[[sources]]\nname = "a"\nurls = ["http://127.0.0.1/a/"]\n\n'
                      '[[sources]]\nname = "b"\nurls = ["http://127.0.0.1/b/"]\n'
                      'schedule = "*/15 8-18 * * 1-5"\njitter = 0\n', encoding="utf-8")

    async def job(s: Source) -> None:
        pass

    scheduler = build_scheduler(load_config(config), job, timezone=UTC)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert sorted(jobs) == ["a", "b"]
    a, b = jobs["a"], jobs["b"]
    assert str(a.trigger) == "cron[month='*', day='*', day_of_week='*', hour='2', minute='30']"
    assert a.trigger.jitter == 60 and b.trigger.jitter is None
    assert str(b.trigger.fields[4]) == "mon,tue,wed,thu,fri"  # cron's 1-5, not APScheduler's Tue-Sat
    for j in (a, b):
        assert (j.max_instances, j.coalesce, j.misfire_grace_time) == (1, True, MISFIRE_GRACE)
        assert j.args[0].name == j.id


@pytest.mark.parametrize("weekday, expected", [("1", "Monday"), ("0", "Sunday"), ("7", "Sunday"),
                                               ("6", "Saturday"), ("mon-fri", "Monday"),
                                               ("5-7", "Friday"), ("*/3", "Wednesday"), ("2/2", "Tuesday")])
def test_cron_weekday_numbers_mean_what_they_mean_in_crontab(weekday: str, expected: str) -> None:
    # NOW is a Sunday at noon: the first 03:00 matching the weekday field comes after it.
    fire = cron_trigger(f"0 3 * * {weekday}", timezone=UTC).get_next_fire_time(None, NOW)
    assert fire.strftime("%A %H:%M") == f"{expected} 03:00"


@pytest.mark.parametrize("expression, period", [(DAILY, dt.timedelta(days=1)),
                                                ("*/15 * * * *", dt.timedelta(minutes=15)),
                                                ("0 3 * * 1", dt.timedelta(days=7))])
def test_cron_period_is_the_gap_between_two_fire_times(expression: str, period: dt.timedelta) -> None:
    assert cron_period(expression, NOW) == period


# -- catch-up after downtime --------------------------------------------------------------------


def test_due_at_start_after_downtime_or_when_never_crawled(tmp_path: Path) -> None:
    names = ["stale", "fresh", "never", "interrupted", "unfinished", "weekly"]
    sources = [source(n, "0 3 * * 1" if n == "weekly" else DAILY) for n in names]
    with Archive(tmp_path / "a.db") as archive:
        archive.sync_sources(sources)
        seed_run(archive, "stale", NOW - dt.timedelta(days=1, minutes=1))
        seed_run(archive, "stale", None)  # a run a killed process never finished does not count
        seed_run(archive, "fresh", NOW - dt.timedelta(days=2))
        seed_run(archive, "fresh", NOW - dt.timedelta(hours=23))
        seed_run(archive, "interrupted", NOW - dt.timedelta(hours=1), error="interrupted")
        seed_run(archive, "unfinished", None)
        seed_run(archive, "weekly", NOW - dt.timedelta(days=3))
        due = {s.name for s in sources if due_at_start(archive, s, NOW)}
    assert due == {"stale", "never", "interrupted", "unfinished"}


def test_at_start_only_the_due_sources_run(tmp_path: Path, events: list[str]) -> None:
    sources = [source("stale"), source("fresh"), source("never")]
    db = tmp_path / "a.db"
    with Archive(db) as archive:
        archive.sync_sources(sources)
        seed_run(archive, "stale", NOW - dt.timedelta(days=3))
        seed_run(archive, "fresh", NOW - dt.timedelta(hours=1))
    calls: list[str] = []

    async def body() -> None:
        stop = asyncio.Event()

        async def crawl(s: Source, archive: Archive, **options: object) -> RunReport:
            calls.append(s.name)
            if len(calls) == 2:
                await asyncio.sleep(0.1)  # time enough for a wrongly due third job to start too
                stop.set()
            return report(s)

        await asyncio.wait_for(serve(sources, db, crawl_fn=crawl, clock=lambda: NOW, stop=stop), 10)

    asyncio.run(body())
    assert sorted(calls) == ["never", "stale"]
    assert events.count("source scheduled") == 3 and events.count("scheduled run finished") == 2


# -- no overlap, failures, stopping -------------------------------------------------------------


def run_with(tmp_path: Path, crawl: Callable[..., Awaitable[RunReport]],
             body: Callable[[SourceScheduler], Awaitable[None]]) -> None:
    """Run ``body`` against a started scheduler of one never-crawled source "a" (so it runs at once)."""
    async def main_() -> None:
        with Archive(tmp_path / "a.db") as archive:
            archive.sync_sources([source("a")])
            jobs = SourceScheduler([source("a")], archive, crawl_fn=crawl)
            jobs.start()
            await body(jobs)

    asyncio.run(main_())


def test_a_slow_run_never_overlaps_itself(tmp_path: Path, events: list[str]) -> None:
    release = asyncio.Event()
    starts: list[float] = []

    async def slow(s: Source, archive: Archive, **options: object) -> RunReport:
        starts.append(time.monotonic())
        await release.wait()
        return report(s)

    async def body(jobs: SourceScheduler) -> None:
        await until(lambda: len(starts) == 1)
        fire_now(jobs, "a")  # its next cron time comes while the first run is still going
        await until(lambda: "scheduled run skipped: still running" in events)
        await asyncio.sleep(0.05)
        assert len(starts) == 1
        release.set()
        await until(lambda: "scheduled run finished" in events)
        fire_now(jobs, "a")  # once it has finished, the next fire time runs it again
        await until(lambda: len(starts) == 2)
        await jobs.stop(grace=1)

    run_with(tmp_path, slow, body)


def test_a_failing_run_is_logged_and_the_schedule_goes_on(tmp_path: Path, events: list[str]) -> None:
    calls: list[str] = []

    async def broken(s: Source, archive: Archive, **options: object) -> RunReport:
        calls.append(s.name)
        raise RuntimeError("a bug")

    async def body(jobs: SourceScheduler) -> None:
        await until(lambda: "scheduled run failed" in events)
        fire_now(jobs, "a")
        await until(lambda: len(calls) == 2)
        await jobs.stop(grace=1)

    run_with(tmp_path, broken, body)


@pytest.mark.parametrize("crawl_seconds, interrupted", [(0.1, False), (60, True)])
def test_stop_lets_a_short_run_finish_and_cancels_a_long_one(tmp_path: Path, crawl_seconds: float,
                                                             interrupted: bool) -> None:
    outcome: list[str] = []

    async def crawl(s: Source, archive: Archive, **options: object) -> RunReport:
        try:
            await asyncio.sleep(crawl_seconds)
        except asyncio.CancelledError:
            outcome.append("interrupted")  # crawl_source records its run here, then re-raises
            raise
        outcome.append("finished")
        return report(s)

    async def body(jobs: SourceScheduler) -> None:
        await until(lambda: bool(jobs.running))
        started = time.monotonic()
        await jobs.stop(grace=0.5)
        assert time.monotonic() - started < 1.5
        assert not jobs.scheduler.running

    run_with(tmp_path, crawl, body)
    assert outcome == ["interrupted" if interrupted else "finished"]


# -- heartbeat ------------------------------------------------------------------------------------


def test_heartbeat_is_fresh_while_running_and_gone_after(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    beat = heartbeat_path(db)
    seen: list[bool] = []

    async def body() -> None:
        stop = asyncio.Event()

        async def crawl(s: Source, archive: Archive, **options: object) -> RunReport:
            return report(s)

        async def watch() -> None:
            await until(beat.exists)
            first = beat.stat().st_mtime_ns
            await until(lambda: beat.stat().st_mtime_ns != first)  # touched again and again
            seen.append(healthcheck(beat, max_age=5))
            stop.set()

        await asyncio.gather(serve([source("a")], db, crawl_fn=crawl, stop=stop, heartbeat_interval=0.02),
                             watch())

    asyncio.run(body())
    assert seen == [True]
    assert not beat.exists() and not healthcheck(beat)


def test_healthcheck_fails_on_a_stale_or_missing_heartbeat(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "a.db"
    beat = heartbeat_path(db)
    assert main(["--check", "--db", str(db)]) == 1
    assert "unhealthy" in capsys.readouterr().err
    beat.write_text("1\n")
    assert main(["--check", "--db", str(db)]) == 0
    os.utime(beat, (time.time() - 100, time.time() - 100))
    assert not healthcheck(beat, max_age=90) and healthcheck(beat, max_age=120)
    assert main(["--check", "--db", str(db), "--max-age", "90"]) == 1


# -- the real command, stopped by a signal -------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_schedule_command_stops_cleanly_on_a_signal(config_path: Path, db_path: Path,
                                                    sig: signal.Signals) -> None:
    # Both sample sources are due at start (never crawled); a request delay stretches their crawls
    # well past the stop grace, so the signal lands mid-crawl.
    config_path.write_text(config_path.read_text(encoding="utf-8").replace("delay = 0.0", "delay = 0.3"),
                           encoding="utf-8")
    env = {**os.environ, "GOVARCHIVE_STOP_GRACE": "1", "GOVARCHIVE_HEARTBEAT_INTERVAL": "0.2"}
    process = subprocess.Popen([sys.executable, "-m", "crawler", "schedule", "--config", str(config_path),
                                "--db", str(db_path)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_run(db_path, process)
        assert healthcheck(heartbeat_path(db_path), max_age=5)
        process.send_signal(sig)
        stopped = time.monotonic()
        _, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert time.monotonic() - stopped < 5
    assert not heartbeat_path(db_path).exists()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        runs = conn.execute("select source, finished, error from runs").fetchall()
    finally:
        conn.close()
    assert runs and all(finished for _, finished, _ in runs), runs
    assert any("interrupted" in (error or "") for _, _, error in runs), runs
    assert "scheduler stopped" in stderr


def wait_for_run(db_path: Path, process: subprocess.Popen[str], timeout: float = 20) -> None:
    """Poll the database until a run has started; fail if the scheduler exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        if db_path.exists() and heartbeat_path(db_path).exists():
            conn = sqlite3.connect(db_path)
            try:
                if conn.execute("select count(*) from runs").fetchone()[0]:
                    return
            except sqlite3.OperationalError:
                pass  # the schema is being created
            finally:
                conn.close()
        time.sleep(0.05)
    raise AssertionError(f"no run started within {timeout}s")
