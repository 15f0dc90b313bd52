"""Batched writes (Archive.batch): commits grouped, each write still whole, nothing held while waiting."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import time

import httpx
import pytest

from crawler.config import Settings, Source
from crawler.crawl import crawl_source
from crawler.extract import Document
from crawler.fetch import FetchResult
from crawler.store import Archive

BASE = "http://www.example.gov.cn/col/"


def fetched(n: int) -> FetchResult:
    url = f"{BASE}t{n}.html"
    return FetchResult(url=url, final_url=url, status=200, headers={}, content=f"<p>{n}</p>".encode(),
                       charset="utf-8", fetched_at=dt.datetime(2024, 3, 6, tzinfo=dt.UTC))


def doc(n: int) -> Document:
    return Document(title=f"第{n}号通知", body=f"关于第{n}项工作的通知正文。")


def committed(db_path) -> int:
    """Documents another connection sees (what a crash would keep)."""
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("select count(*) from documents").fetchone()[0]
    finally:
        conn.close()


def test_writes_in_a_batch_are_committed_together_and_each_stays_whole(tmp_path):
    db_path = tmp_path / "a.db"
    with Archive(db_path) as archive:
        archive.sync_sources([Source("demo", (BASE,))])
        with archive.batch(writes=3, seconds=3600):
            archive.save("demo", fetched(1), doc(1))
            archive.save("demo", fetched(2), doc(2))
            assert committed(db_path) == 0  # not yet: one commit for the batch
            with pytest.raises(sqlite3.IntegrityError):  # a failed write undoes itself only
                archive.save("no-such-source", fetched(9), doc(9))
            assert archive.db.execute("select count(*) from documents").fetchone()[0] == 2
            archive.save("demo", fetched(3), doc(3))
            assert committed(db_path) == 3  # the third write filled the batch
            archive.save("demo", fetched(4), doc(4))
            assert committed(db_path) == 3
        assert committed(db_path) == 4  # leaving the block commits the rest
        assert archive.db.execute("select count(*) from documents_fts_source").fetchone()[0] == 4


def test_a_batch_is_due_for_a_commit_once_its_oldest_write_is_old_enough(tmp_path):
    db_path = tmp_path / "a.db"
    with Archive(db_path) as archive:
        archive.sync_sources([Source("demo", (BASE,))])
        with archive.batch(writes=100, seconds=3600):
            assert not archive.flush_due()
            archive.save("demo", fetched(1), doc(1))
            assert not archive.flush_due()
        with archive.batch(writes=100, seconds=0.0):
            archive.save("demo", fetched(2), doc(2))  # committed at once: its batch is old enough
            assert committed(db_path) == 2 and not archive.flush_due()


def test_a_crawl_waiting_for_the_network_holds_no_uncommitted_writes(tmp_path):
    """While a document hangs, what the crawl saved before it is committed (within BATCH_SECONDS)
    and another process can write: a batch never holds the write lock while the crawl waits."""
    def listing(numbers: tuple[int, ...]) -> str:
        items = "".join(f'<li><a href="t{n}.html">关于做好第{n}项工作的通知</a><span>2024-03-0{n}</span></li>'
                        for n in numbers)
        return f"<html><body><ul class='list'>{items}</ul></body></html>"

    other = "http://www2.example.gov.cn/col/"  # a second host: one request in flight per host
    pages = {f"{BASE}index.html": listing((1, 2)), f"{other}index.html": listing((3,))}
    for n in (1, 2):
        pages[f"{BASE}t{n}.html"] = (f"<html><head><title>第{n}号通知</title></head><body><div class='content'>"
                                     f"<h1>第{n}号通知</h1><p>发布日期：2024-03-0{n}</p><p>{'关于工作的通知正文。' * 20}</p>"
                                     "</div></body></html>")
    hung = f"{other}t3.html"

    class Site(httpx.AsyncBaseTransport):
        def __init__(self) -> None:
            self.hanging = asyncio.Event()

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            url = str(request.url)
            if url == hung:
                self.hanging.set()
                await asyncio.Event().wait()
            if url in pages:
                return httpx.Response(200, headers={"content-type": "text/html; charset=utf-8"},
                                      stream=httpx.ByteStream(pages[url].encode()))
            return httpx.Response(404, stream=httpx.ByteStream(b""))

    db_path = tmp_path / "a.db"
    source = Source("col", (f"{BASE}index.html", f"{other}index.html"), Settings(delay=0.0, retries=0))

    async def main() -> int:
        site = Site()
        with Archive(db_path) as archive:
            archive.sync_sources([source])
            run = asyncio.create_task(crawl_source(source, archive, transport=site))
            hanging = asyncio.ensure_future(site.hanging.wait())
            await asyncio.wait([run, hanging], return_when=asyncio.FIRST_COMPLETED)
            assert not run.done(), (run.result(), archive.db.execute("select url, outcome, reason from fetches").fetchall())
            started = time.monotonic()
            while committed(db_path) < 2 and time.monotonic() - started < 30:
                await asyncio.sleep(0.05)
            seen = committed(db_path)
            other = sqlite3.connect(db_path, timeout=0.1)  # another writer is not kept waiting
            other.execute("BEGIN IMMEDIATE")
            other.rollback()
            other.close()
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
        return seen

    assert asyncio.run(main()) == 2  # t1 and t2, saved before, committed while t3 hangs
    assert committed(db_path) == 2


def test_a_write_that_fails_after_indexing_leaves_nothing_in_the_search_index(tmp_path, monkeypatch):
    from crawler.store import search_query

    db_path = tmp_path / "a.db"
    with Archive(db_path) as archive:
        archive.sync_sources([Source("demo", (BASE,))])
        real_event = Archive._event

        def failing_event(self, doc_id, *args):
            if doc_id == 3:
                raise RuntimeError("the disk hiccuped after the index row was made")
            return real_event(self, doc_id, *args)

        monkeypatch.setattr(Archive, "_event", failing_event)
        with archive.batch(writes=100, seconds=3600):
            archive.save("demo", fetched(1), doc(1))
            archive.save("demo", fetched(2), doc(2))
            with pytest.raises(RuntimeError):
                archive.save("demo", fetched(3), Document(title="失败的通知", body="枫桥经验推广。"))
        found = archive.db.execute("select rowid from documents_fts where documents_fts match ?",
                                   [search_query("枫桥经验")]).fetchall()
        assert found == []
        assert archive.db.execute("select count(*) from documents_fts_source").fetchone()[0] == 2
        assert len(archive.db.execute("select rowid from documents_fts where documents_fts match ?",
                                      [search_query("通知正文")]).fetchall()) == 2
        archive.db.execute("insert into documents_fts (documents_fts) values ('integrity-check')")


def test_a_batch_ended_by_a_full_disk_leaves_no_index_row_of_its_lost_documents(tmp_path):
    """A file error ends the batch's transaction: its documents are gone, and so must be the search
    index rows it was to write at its commit (they were written later, for documents not there)."""
    from crawler.store import ArchiveError, search_query

    db_path = tmp_path / "a.db"
    with Archive(db_path) as archive:
        archive.sync_sources([Source("demo", (BASE,))])
        archive.save("demo", fetched(1), doc(1))
        with archive.batch(writes=100, seconds=3600):
            archive.save("demo", fetched(2), Document(title="丢失的通知", body="枫桥经验推广。"))
            pages = archive.db.execute("pragma page_count").fetchone()[0]
            archive.db.execute(f"pragma max_page_count = {pages}")
            with pytest.raises(ArchiveError):
                archive.save("demo", fetched(3), Document(title="大通知", body="正文。" * 20000))
            archive.db.execute("pragma max_page_count = 1073741823")
        archive.save("demo", fetched(1), Document(title="第1号通知", body="改过的正文。"))
        assert archive.db.execute("select count(*) from documents").fetchone()[0] == 1
        assert archive.db.execute("select rowid from documents_fts where documents_fts match ?",
                                  [search_query("枫桥经验")]).fetchall() == []
        assert archive.db.execute("select count(*) from documents_fts_source").fetchone()[0] == 1
        archive.db.execute("insert into documents_fts (documents_fts) values ('integrity-check')")
