"""Datasette reads while the crawler writes: WAL, short transactions and a busy timeout mean
neither ever sees "database is locked"."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from datasette.app import Datasette

from crawler.serve import load_metadata
from crawler.store import Archive


def test_datasette_reads_while_a_crawl_writes(config_path, db_path):
    config_path.write_text(config_path.read_text(encoding="utf-8").replace("delay = 0.0", "delay = 0.02"),
                           encoding="utf-8")
    Archive(db_path).close()  # an empty archive for Datasette to open before the crawl starts

    async def read_during(crawler: subprocess.Popen) -> list[int]:
        ds = Datasette([str(db_path)], metadata=load_metadata(db_path))
        statuses, reads = [], 0
        while crawler.poll() is None or reads < 20:
            for path in ("/test/documents.json?_search=%E5%A4%8D%E8%AE%AE", "/test/versions.json",
                         "/test/fetches.json?_sort_desc=id", "/test/runs.json"):
                response = await ds.client.get(path)
                statuses.append(response.status_code)
                assert "locked" not in response.text, response.text
            reads += 1
            await asyncio.sleep(0.01)
        return statuses

    crawler = subprocess.Popen([sys.executable, "-m", "crawler", "crawl", "--config", str(config_path),
                                "--db", str(db_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    statuses = asyncio.run(read_during(crawler))
    out, err = crawler.communicate(timeout=60)
    assert crawler.returncode == 0 and "locked" not in err, err
    assert out.startswith("2 sources: 18 new")
    assert set(statuses) == {200} and len(statuses) >= 80
