"""Killing the crawler at any moment leaves a consistent archive that the next crawl completes."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

KILLS = 20


def crawl_process(config_path: Path, db_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crawler", "crawl", "--config", str(config_path),
                             "--db", str(db_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def archived(db_path: Path) -> dict[str, int]:
    """Each archived document's URL and number of versions."""
    conn = sqlite3.connect(db_path)
    try:
        return dict(conn.execute("select url, versions from documents").fetchall())
    finally:
        conn.close()


def check_consistent(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
        assert conn.execute("pragma foreign_key_check").fetchall() == []
        orphans = {
            "documents without a version": "select count(*) from documents d where not exists"
                                           " (select 1 from versions v where v.document_id = d.id)",
            "versions without a capture": "select count(*) from versions v where not exists"
                                          " (select 1 from captures c where c.id = v.capture_id)",
            "documents whose count of versions is wrong": "select count(*) from documents d where d.versions"
                                                          " != (select count(*) from versions v where"
                                                          " v.document_id = d.id and merged_into is null)",
            "documents missing from the search index": "select count(*) from documents d where not exists"
                                                       " (select 1 from documents_fts f where f.rowid = d.id)",
        }
        for what, sql in orphans.items():
            assert conn.execute(sql).fetchone()[0] == 0, what
        return {"documents": conn.execute("select count(*) from documents").fetchone()[0]}
    finally:
        conn.close()


def test_kill_9_at_random_moments_loses_nothing(config_path, db_path):
    # A small delay stretches a crawl over about a second, so kills land in every phase of it.
    config_path.write_text(config_path.read_text(encoding="utf-8").replace("delay = 0.0", "delay = 0.03"),
                           encoding="utf-8")
    rng = random.Random(20261122)
    seen: dict[str, int] = {}
    for _ in range(KILLS):
        process = crawl_process(config_path, db_path)
        time.sleep(rng.uniform(0.3, 1.6))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if db_path.exists():
            check_consistent(db_path)
            now = archived(db_path)
            # What was committed stays, with its versions (synchronous = NORMAL loses no commit to a
            # kill); only what was not committed yet is missing.
            assert {url: now.get(url) for url in seen} == seen, "a kill lost committed documents"
            seen = now
    process = crawl_process(config_path, db_path)
    assert process.wait(timeout=120) == 0
    assert check_consistent(db_path)["documents"] == 18
    conn = sqlite3.connect(db_path)
    assert conn.execute("select count(*) from documents where body = '' or title = ''").fetchone()[0] == 0
    conn.close()


def test_a_kill_mid_crawl_loses_only_what_was_not_committed_and_the_next_run_fetches_it(config_path, db_path):
    config_path.write_text(config_path.read_text(encoding="utf-8").replace("delay = 0.0", "delay = 0.05"),
                           encoding="utf-8")
    process = crawl_process(config_path, db_path)
    committed: dict[str, int] = {}
    for _ in range(3000):  # until some documents are archived and others not yet, then kill
        if db_path.exists():
            try:
                committed = archived(db_path)
            except sqlite3.OperationalError:  # the schema is still being created
                committed = {}
            if 3 <= len(committed) <= 12:
                break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    check_consistent(db_path)
    kept = archived(db_path)
    assert {url: kept.get(url) for url in committed} == committed  # nothing committed was lost
    assert 3 <= len(kept) < 18, f"the kill did not land mid-crawl ({len(kept)} documents)"
    process = crawl_process(config_path, db_path)
    assert process.wait(timeout=120) == 0
    check_consistent(db_path)
    final = archived(db_path)
    assert len(final) == 18 and {url: final[url] for url in kept} == kept
    conn = sqlite3.connect(db_path)
    new_in_last_runs = {r[0] for r in conn.execute(
        "select d.url from events e join documents d on d.id = e.document_id where e.event = 'new'"
        " and e.run_id in (select max(id) from runs group by source)")}
    conn.close()
    assert new_in_last_runs == set(final) - set(kept)  # the next run fetched exactly what was lost
