"""Several processes writing one archive: two crawls, a crawl beside the scheduler, reextract
during a crawl, status racing to migrate, and kill -9 with two writers. Real processes, real file."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlite_utils
from test_crash import check_consistent

from crawler.config import load_config
from crawler.crawl import crawl_source
from crawler.store import Archive, migrations


def govarchive(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "crawler", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def slow(config_path: Path, delay: float = 0.03) -> Path:
    """Space requests so that a crawl lasts long enough for the others to overlap it."""
    config_path.write_text(config_path.read_text(encoding="utf-8").replace("delay = 0.0", f"delay = {delay}"),
                           encoding="utf-8")
    return config_path


def runs(db_path: Path) -> list[tuple[str, str | None, str]]:
    conn = sqlite3.connect(db_path)
    try:
        return [(s, f, e or "") for s, f, e in conn.execute("select source, finished, error from runs")]
    finally:
        conn.close()


def test_two_crawls_of_one_new_archive_neither_crashes_and_nothing_is_lost(config_path, db_path):
    slow(config_path)
    first = govarchive("crawl", "--config", config_path, "--db", db_path)
    second = govarchive("crawl", "--config", config_path, "--db", db_path)
    for process in (first, second):
        code, _, err = finish(process)
        assert code == 0, err
        assert "Traceback" not in err and "locked" not in err, err
    assert check_consistent(db_path)["documents"] == 18
    for source, finished, error in runs(db_path):
        assert finished, (source, error)
        assert error == "" or error.startswith("skipped: another process (pid "), (source, error)


def test_a_crawl_beside_the_scheduler_skips_the_source_it_is_crawling(config_path, db_path):
    slow(config_path, 0.2)
    env = {**os.environ, "GOVARCHIVE_STOP_GRACE": "1", "GOVARCHIVE_HEARTBEAT_INTERVAL": "0.2"}
    scheduler = govarchive("schedule", "--config", config_path, "--db", db_path, env=env)
    try:
        wait_until(lambda: len([r for r in runs_or_none(db_path) if not r[1]]) == 2, scheduler)
        code, _, err = finish(govarchive("crawl", "--config", config_path, "--db", db_path))
        assert code == 0, err
        assert "Traceback" not in err and "locked" not in err, err
        assert "demo-tzgg" in err and "another process (pid " in err  # one clear line per source
        assert scheduler.poll() is None
        scheduler.send_signal(signal.SIGTERM)
        code, _, err = finish(scheduler, 10)
        assert code == 0 and "Traceback" not in err, err
    finally:
        scheduler.kill()
    skipped = [r for r in runs(db_path) if r[2].startswith("skipped:")]
    assert {s for s, _, _ in skipped} == {"demo-tzgg", "demo-xxgk"}
    assert all(finished for _, finished, _ in runs(db_path))
    check_consistent(db_path)


def test_reextract_during_a_crawl_waits_its_turn(config_path, db_path):
    assert finish(govarchive("crawl", "--config", config_path, "--db", db_path))[0] == 0
    slow(config_path, 0.02)
    crawler = govarchive("crawl", "--full", "--config", config_path, "--db", db_path)
    try:
        wait_until(lambda: any(not f for _, f, _ in runs_or_none(db_path)), crawler)
        rounds = 0
        while crawler.poll() is None or rounds < 2:
            code, out, err = finish(govarchive("reextract", "--config", config_path, "--db", db_path))
            assert code == 0 and "Traceback" not in err, err
            assert out.startswith("18 documents re-extracted")
            rounds += 1
    finally:
        code, _, err = finish(crawler)
    assert code == 0 and "Traceback" not in err and "locked" not in err, err
    check_consistent(db_path)


def test_three_status_at_once_on_an_archive_that_needs_migrating(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="add_files_events_and_year")  # a govarchive 0.1 archive
    old.table("sources").insert({"name": "demo", "urls": "[]"})
    # Enough documents that migrating takes a while, so that the processes meet.
    old.table("documents").insert_all({"url": f"http://www.example.gov.cn/{i}.html", "source": "demo",
                                       "published": "2024-03-06"} for i in range(50_000))
    old.close()
    statuses = [govarchive("status", "--db", path) for _ in range(4)]
    for process in statuses:
        code, _, err = finish(process)
        assert "Traceback" not in err and "locked" not in err, err
        assert code == 1 and "without a successful run" in _  # demo was never crawled
    with Archive(path) as archive:
        assert [r[0] for r in archive.db.execute("select name from _sqlite_migrations order by id")] == \
            [m.name for m in migrations._migrations]


def test_kill_9_with_two_writers_at_once_loses_nothing(config_path, db_path):
    slow(config_path)
    rng = random.Random(20261129)
    seen = 0
    for _ in range(6):
        pair = [govarchive("crawl", "--config", config_path, "--db", db_path) for _ in range(2)]
        time.sleep(rng.uniform(0.3, 1.2))
        for process in pair if rng.random() < 0.5 else pair[:1]:
            os.kill(process.pid, signal.SIGKILL)
        for process in pair:
            _, _, err = finish(process)
            assert "Traceback" not in err and "locked" not in err, err
        if db_path.exists():
            documents = check_consistent(db_path)["documents"]
            assert documents >= seen, "a kill lost archived documents"
            seen = documents
    code, _, err = finish(govarchive("crawl", "--config", config_path, "--db", db_path))
    assert code == 0, err
    assert check_consistent(db_path)["documents"] == 18


def test_a_failed_run_leaves_no_worker_writing_after_its_end(config_path, db_path, monkeypatch):
    """A worker that fails ends the run; the other workers are cancelled and awaited first, so none
    records a fetch after the run's end (they used to, with 'client has been closed')."""
    source = load_config(config_path)[0]
    saves = 0
    real_save = Archive.save

    def failing_save(self: Archive, *args: object, **kwargs: object) -> object:
        nonlocal saves
        saves += 1
        if saves == 2:
            raise RuntimeError("a bug in one worker")
        return real_save(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Archive, "save", failing_save)

    async def crawl_and_look() -> tuple[str, set[asyncio.Task[object]]]:
        with Archive(db_path) as archive:
            archive.sync_sources([source])
            report = await crawl_source(source, archive)
            left = asyncio.all_tasks() - {asyncio.current_task()}
            return "; ".join(report.errors), left  # type: ignore[return-value]

    errors, left = asyncio.run(crawl_and_look())
    assert "a bug in one worker" in errors
    assert not left, f"{len(left)} workers still running after the run finished"
    conn = sqlite3.connect(db_path)
    finished = conn.execute("select finished from runs").fetchone()[0]
    late = conn.execute("select count(*) from fetches where started > ? or reason like '%closed%'",
                        [finished]).fetchone()[0]
    assert late == 0


def runs_or_none(db_path: Path) -> list[tuple[str, str | None, str]]:
    try:
        return runs(db_path) if db_path.exists() else []
    except sqlite3.OperationalError:
        return []  # the schema is being created


def wait_until(condition: object, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_crawl_stopped_by_a_signal_records_its_runs_and_requests_in_flight(config_path, db_path, sig):
    slow(config_path, 0.3)
    crawler = govarchive("crawl", "--config", config_path, "--db", db_path)
    try:
        wait_until(lambda: len(runs_or_none(db_path)) == 2, crawler)
        crawler.send_signal(sig)
        code, _, err = finish(crawler, 10)
    finally:
        crawler.kill()
    assert code == 128 + sig.value, err
    assert err.strip().splitlines()[-1] == f"Error: stopped by {sig.name}: the runs in progress are recorded" \
        " as interrupted" and "Traceback" not in err, err
    assert [(finished is not None, error) for _, finished, error in runs(db_path)] == [(True, "interrupted")] * 2
    check_consistent(db_path)


def test_a_request_in_flight_when_a_run_is_stopped_is_recorded(config_path, db_path):
    source = load_config(config_path)[0]

    class Hanging(httpx.AsyncBaseTransport):
        """A server that accepts every request and never answers."""

        def __init__(self) -> None:
            self.asked = asyncio.Event()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            self.asked.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    async def stop_mid_request() -> None:
        transport = Hanging()
        with Archive(db_path) as archive:
            archive.sync_sources([source])
            run = asyncio.create_task(crawl_source(source, archive, transport=transport))
            await transport.asked.wait()
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

    asyncio.run(stop_mid_request())
    conn = sqlite3.connect(db_path)
    assert conn.execute("select finished is not null, error from runs").fetchall() == [(1, "interrupted")]
    assert conn.execute("select outcome, reason from fetches").fetchall() == \
        [("interrupted", "the run was stopped while this request was in flight")]
    conn.close()
