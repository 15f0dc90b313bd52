"""Notifications: a real webhook receiver on 127.0.0.1, reached through Apprise's json:// service."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from test_crawl import crawl

from crawler.cli import cli
from crawler.config import load_config
from crawler.schedule import SourceScheduler
from crawler.store import Archive

EDITED = "zwgk/tzgg/202403/t20240306_451851.html"
EDITED_TITLE = "示范县2023年法治政府建设工作报告"
REMOVED = "zwgk/tzgg/202303/t20230315_451444.html"
REMOVED_TITLE = "示范县2022年法治政府建设工作报告"


class Receiver:
    """A webhook endpoint: records each JSON message; answers 500 while ``failing``."""

    def __init__(self) -> None:
        self.messages: list[dict[str, str]] = []
        self.failing = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if receiver.failing:
                    self.send_response(500)
                else:
                    receiver.messages.append(json.loads(body))
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"

    def titles(self) -> list[str]:
        return [m["title"] for m in self.messages]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    thread = threading.Thread(target=r.server.serve_forever, daemon=True)
    thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def notify_config(config_path: Path, receiver: Receiver) -> Path:
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(text.replace("[defaults]\n", f'[defaults]\nnotify = ["{receiver.url}"]\n', 1),
                           encoding="utf-8")
    return config_path


def edit(site: Path, path: str, old: str, new: str) -> None:
    page = site / path
    page.write_text(page.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")


def test_a_digest_names_the_changed_document_with_its_diff(notify_config, site, db_path, receiver):
    crawl(notify_config, db_path)
    assert sorted(receiver.titles()) == ["govarchive · demo-tzgg: 12 new", "govarchive · demo-xxgk: 6 new"]
    receiver.messages.clear()
    crawl(notify_config, db_path)  # nothing new: no message
    assert receiver.messages == []
    edit(site, EDITED, "深入学习贯彻习近平法治思想，", "深入学习贯彻习近平法治思想和述职评议制度，")
    (site / REMOVED).unlink()
    crawl(notify_config, db_path, "--full")
    [message] = receiver.messages
    assert message["title"] == "govarchive · demo-tzgg: 1 changed, 1 removed"
    body = message["message"]
    assert f"Removed (1):\n- {REMOVED_TITLE}: HTTP 404" in body
    assert "Failing" not in body  # a removal is no failure
    assert f"Changed (1):\n- {EDITED_TITLE}: changed: body (+1 −1 paragraphs)" in body
    assert EDITED in body  # its link
    assert "− 坚持以习近平新时代中国特色社会主义思想为指导，深入学习贯彻习近平法治思想，全面落实" in body
    assert "+ 坚持以习近平新时代中国特色社会主义思想为指导，深入学习贯彻习近平法治思想和述职评议制度，" in body


def test_a_failed_notification_is_kept_and_sent_after_the_next_run(notify_config, site, db_path, receiver):
    receiver.failing = True
    output = crawl(notify_config, db_path)  # the crawl itself succeeds
    assert output.startswith("2 sources: 18 new")
    pending = list(sqlite_utils.Database(db_path).query("select * from notifications where sent is null"))
    assert len(pending) == 2 and all(p["attempts"] == 1 and p["error"].startswith("not delivered")
                                     for p in pending)
    receiver.failing = False
    crawl(notify_config, db_path)
    assert sorted(receiver.titles()) == ["govarchive · demo-tzgg: 12 new", "govarchive · demo-xxgk: 6 new"]
    assert not list(sqlite_utils.Database(db_path).query("select * from notifications where sent is null"))
    dump = "\n".join(sqlite_utils.Database(db_path).iterdump())
    assert "json://" not in dump and receiver.url.split("//")[1] not in dump  # credentials are never stored


def test_alerts_for_a_list_with_no_links_and_a_stale_source(notify_config, site, db_path, receiver):
    crawl(notify_config, db_path)
    receiver.messages.clear()
    db = sqlite_utils.Database(db_path)
    with db.conn:
        db.execute("update runs set started = '2020-01-01T00:00:00+00:00', finished = '2020-01-01T00:05:00+00:00'")
    (site / "zwgk/tzgg/index.html").write_text("<html><body><p>网站改版中</p></body></html>", encoding="utf-8")
    crawl(notify_config, db_path, "--source", "demo-tzgg")
    [message] = receiver.messages
    assert "ALERT: the list yields no links: 0 links found on" in message["message"]
    assert "ALERT: stale: no successful run in 3 days (last success 2020-01-01T00:05:00+00:00)" in message["message"]
    receiver.messages.clear()
    crawl(notify_config, db_path, "--source", "demo-tzgg")
    [again] = receiver.messages
    assert "ALERT: the list yields no links" in again["message"] and "stale" not in again["message"]  # once


def test_the_scheduler_sends_the_digest_after_a_scheduled_run(notify_config, db_path, receiver):
    sources = load_config(notify_config)

    async def one_run() -> None:
        with Archive(db_path) as archive:
            archive.sync_sources(sources)
            jobs = SourceScheduler(sources, archive)
            await jobs.run_source(sources[1])

    asyncio.run(one_run())
    assert receiver.titles() == ["govarchive · demo-xxgk: 6 new"]


def test_notify_test_sends_to_each_service_and_never_prints_its_url(notify_config, receiver, tmp_path):
    result = CliRunner().invoke(cli, ["notify", "--test", "--config", str(notify_config), "--source", "demo-xxgk"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout == "demo-xxgk: notify[0] (json://): sent\n"
    assert receiver.titles() == ["govarchive · demo-xxgk: test notification"]
    receiver.failing = True
    result = CliRunner().invoke(cli, ["notify", "--test", "--config", str(notify_config)])
    assert result.exit_code == 1
    assert result.stdout.count("not delivered") == 2 and "127.0.0.1" not in result.stdout.replace(
        "A Connection error", "")
    bare = tmp_path / "bare.toml"
    bare.write_text('[[sources]]\nname = "a"\nurls = ["http://example.gov.cn/"]\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["notify", "--test", "--config", str(bare)])
    assert result.exit_code == 1 and "no source has a `notify` setting" in result.output


def test_a_blocked_source_raises_an_alert(notify_config, db_path, receiver):
    from crawler.crawl import RunReport
    from crawler.fetch import Attempt
    from crawler.notify import notify_run
    from crawler.store import RunCounts

    [source] = [s for s in load_config(notify_config) if s.name == "demo-xxgk"]
    with Archive(db_path) as archive:
        archive.sync_sources([source])
        run = archive.start_run(source.name)
        archive.record_attempts(run, source.name, [Attempt(
            source.urls[0], dt.datetime.now(dt.UTC), 0.1, 403, "Blocked", "HTTP 403 with a challenge page")])
        counts = RunCounts(failed=1)
        archive.finish_run(run, counts, f"list page failed: {source.urls[0]}")
        [delivery] = notify_run(archive, source, RunReport(source.name, run, counts,
                                                           (f"list page failed: {source.urls[0]}",)))
    assert delivery.error == ""
    [message] = receiver.messages
    assert message["title"] == "govarchive · demo-xxgk: 1 failed"
    assert "ALERT: blocked: 1 request refused as a bot or by a challenge page" in message["message"]
    assert "- 1 request blocked (1 host)" in message["message"]
