"""The commands as a user runs them: real processes, real ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import httpx
import sqlite_utils
from click.testing import CliRunner

from crawler.cli import cli
from crawler.config import Source
from crawler.store import Archive


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_crawls_the_sample_site_with_no_internet(tmp_path):
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    first, second, where = result.stdout.splitlines()
    assert first.startswith("first crawl: 2 sources: 18 new, 0 changed, 0 unchanged, 0 removed, 0 failed")
    assert second.startswith("after editing a page and removing another: 2 sources: 0 new, 1 changed, "
                             "16 unchanged, 1 removed, 0 failed")
    assert where == f"The demo archive is {db}"


def archive_counts(db: Path) -> dict[str, object]:
    archive = sqlite_utils.Database(db)
    return {
        "documents": sorted((r["id"], r["url"], r["versions"], r["online"]) for r in archive.query(
            "select id, url, versions, online from documents")),
        "events": sorted((r["event"], r["n"]) for r in archive.query(
            "select event, count(*) as n from events group by event")),
        "versions": archive["versions"].count,
    }


def test_running_the_demo_twice_leaves_the_same_documents(tmp_path):
    db = tmp_path / "demo.db"
    outputs, counts = [], []
    for _ in range(2):
        result = CliRunner().invoke(cli, ["demo", "--no-serve", "--db", str(db)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append([line.rsplit(" in ", 1)[0] for line in result.stdout.splitlines()])
        counts.append(archive_counts(db))
    assert outputs[0] == outputs[1]
    # Document ids follow the order pages finish parsing in the worker pool, which may vary.
    for c in counts:
        c["documents"] = sorted((url, versions, online) for _, url, versions, online in c["documents"])
    assert counts[0] == counts[1]
    assert len(counts[0]["documents"]) == 18 and counts[0]["versions"] == 19
    assert dict(counts[0]["events"]) == {"new": 18, "changed": 1, "removed": 1}
    assert all(url.startswith("http://demo.govarchive.example/") for url, _, _ in counts[0]["documents"])


def test_the_demo_never_replaces_an_archive_of_other_sources(tmp_path):
    db = tmp_path / "govarchive.db"
    with Archive(db) as archive:
        archive.sync_sources([Source("hunchun-tzgg", ("http://www.hunchun.gov.cn/zw_1910/tzgg/",))])
    before = db.read_bytes()
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--db", str(db)])
    assert result.exit_code == 1
    assert "holds an archive of other sources (hunchun-tzgg)" in result.output and "--db" in result.output
    assert db.read_bytes() == before


def test_the_demo_writes_beside_the_configured_archive_as_in_the_container(tmp_path):
    """In the image GOVARCHIVE_DB is /data/govarchive.db and /app is not writable: demo.db goes to /data."""
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["demo", "--no-serve"], env={"GOVARCHIVE_DB": str(data / "govarchive.db")},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (data / "demo.db").exists()
    assert result.stdout.splitlines()[-1] == f"The demo archive is {data / 'demo.db'}"


def test_a_busy_port_is_one_line_naming_it(tmp_path):
    db = tmp_path / "govarchive.db"
    Archive(db).close()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for args in (["serve", "--db", str(db)], ["demo", "--db", str(tmp_path / "demo.db")]):
            result = subprocess.run([sys.executable, "-m", "crawler", *args, "--port", str(port)],
                                    capture_output=True, text=True, timeout=60, check=False)
            assert result.returncode == 1, result.stderr
            assert result.stderr.strip() == f"Error: port {port} is in use; try --port", args
    assert not (tmp_path / "demo.db").exists()  # found before crawling anything


def test_the_crawl_summary_names_the_main_failure_reason(tmp_path):
    config = tmp_path / "sources.toml"
    config.write_text("[defaults]\nretries = 0\ndelay = 0.0\n" + "".join(
        f'[[sources]]\nname = "offline-{i}"\nurls = ["http://site{i}.invalid/list/"]\n' for i in range(3)),
        encoding="utf-8")
    result = CliRunner().invoke(cli, ["crawl", "--config", str(config), "--db", str(tmp_path / "a.db"), "-v"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = result.stdout.splitlines()
    # No document failed (list pages are not documents, issue 10 item 19), but every source did.
    assert summary[0].startswith("3 sources: 0 new, 0 changed, 0 unchanged, 0 removed, 0 failed")
    assert summary[0].endswith("(3 sources flagged: see the runs table)")
    assert summary[1] == "3 requests failed: DNS lookup failed for 3 requests on 3 hosts (offline?)"
    failed = [line for line in result.stderr.splitlines() if "request failed" in line]
    assert len(failed) == 3 and all("Name or service not known" in line or "name resolution" in line
                                    for line in failed)
    assert "site0.invalid" in "\n".join(failed)


def test_python_dash_m_crawler_is_the_same_command():
    result = subprocess.run([sys.executable, "-m", "crawler", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and "govarchive" in result.stdout and "crawl" in result.stdout


def test_serve_answers_searches_over_http(tmp_path, config_path):
    db = tmp_path / "govarchive.db"
    CliRunner().invoke(cli, ["crawl", "--config", str(config_path), "--db", str(db)], catch_exceptions=False)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "crawler", "serve", "--db", str(db), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        url = f"http://127.0.0.1:{port}/govarchive/documents.json?_shape=array&_search=" + \
              urllib.parse.quote("行政复议")
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(url, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        titles = {row["title"] for row in response.json()}
        assert "示范县行政复议工作情况通报" in titles
        page = httpx.get(f"http://127.0.0.1:{port}/govarchive/documents", timeout=5).text
        assert "One row per document URL ever seen" in page  # the metadata is in use
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_status_shows_each_source_and_flags_stale_ones(tmp_path, config_path):
    db = tmp_path / "govarchive.db"
    runner = CliRunner()
    runner.invoke(cli, ["crawl", "--config", str(config_path), "--db", str(db)], catch_exceptions=False)
    result = runner.invoke(cli, ["status", "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("source") and len(lines) == 3
    assert lines[1].startswith("demo-tzgg") and lines[1].split()[3:5] == ["12", "0"] and "ok" in lines[1]
    sqlite_utils.Database(db).execute("update runs set finished = '2020-01-01T00:00:00+00:00', "
                                      "error = 'list page failed' where source = 'demo-xxgk'")
    result = runner.invoke(cli, ["status", "--db", str(db), "--stale-days", "2"])
    assert result.exit_code == 1
    assert "flagged: list page failed" in result.stdout
    assert result.stdout.splitlines()[-1] == "1 source without a successful run in 2 days: demo-xxgk"
