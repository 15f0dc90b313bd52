"""The commands as a user runs them: real processes, real ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import httpx
import sqlite_utils
from click.testing import CliRunner

from crawler.cli import cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_crawls_the_sample_site_with_no_internet(tmp_path):
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 sources: 18 new, 0 changed, 0 unchanged, 0 removed, 0 failed")
    assert db.exists()


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
