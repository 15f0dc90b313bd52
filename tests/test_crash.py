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
                                                          " v.document_id = d.id)",
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
    seen = 0
    for _ in range(KILLS):
        process = crawl_process(config_path, db_path)
        time.sleep(rng.uniform(0.3, 1.6))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        if db_path.exists():
            documents = check_consistent(db_path)["documents"]
            assert documents >= seen, "a kill lost archived documents"
            seen = documents
    process = crawl_process(config_path, db_path)
    assert process.wait(timeout=120) == 0
    assert check_consistent(db_path)["documents"] == 18
    conn = sqlite3.connect(db_path)
    assert conn.execute("select count(*) from documents where body = '' or title = ''").fetchone()[0] == 0
    conn.close()
