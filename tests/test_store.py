import datetime as dt
import sqlite3
import zlib

import pytest
import sqlite_utils

from crawler.config import Source
from crawler.extract import Attachment, Document
from crawler.fetch import FetchResult
from crawler.store import Archive, NotAnArchive, fingerprint, migrations, search_query, search_text

URL = "http://www.example.gov.cn/zwgk/202403/t20240306_1.html"
DOC = Document(title="示范县2023年法治政府建设工作报告", published=dt.date(2024, 3, 6),
               publisher="示范县司法局", body="一、主要工作\n深化行政复议体制改革。\n示范县人民政府",
               fields={"索引号": "115002242037431382/2024-00011"},
               attachments=(Attachment("http://www.example.gov.cn/a.pdf", "附件1"),))


def fetched(content: bytes = b"<html>page</html>", url: str = URL, **headers: str) -> FetchResult:
    return FetchResult(url=url, final_url=url, status=200, headers=dict(headers), content=content,
                       charset="utf-8", fetched_at=dt.datetime.now(dt.UTC))


@pytest.fixture
def archive(tmp_path):
    with Archive(tmp_path / "a.db") as a:
        a.sync_sources([Source("demo", ("http://www.example.gov.cn/zwgk/",))])
        yield a


def versions(archive):
    return archive.db["versions"].count


def test_first_save_is_new_with_one_version_and_its_raw_capture(archive):
    outcome, doc_id = archive.save("demo", fetched(b"<p>raw</p>"), DOC)
    assert outcome == "new"
    row = archive.db["documents"].get(doc_id)
    assert (row["title"], row["published"], row["online"], row["versions"]) == (DOC.title, "2024-03-06", 1, 1)
    capture = archive.db["captures"].get(archive.db["versions"].get(1)["capture_id"])
    assert zlib.decompress(capture["content"]) == b"<p>raw</p>"
    assert [r["url"] for r in archive.db["attachments"].rows] == ["http://www.example.gov.cn/a.pdf"]


def test_same_content_in_a_different_page_adds_no_version(archive):
    archive.save("demo", fetched(b"<p>one</p>"), DOC)
    outcome, _ = archive.save("demo", fetched(b"<p>one</p><!-- 12:00 --> hits=57"), DOC)
    assert outcome == "unchanged" and versions(archive) == 1 and archive.db["captures"].count == 1


@pytest.mark.parametrize("drift", [
    {"body": DOC.body.replace("\n", "\n\n  ")},            # whitespace
    {"body": DOC.body.replace("。", "。\u200b")},            # invisible characters
    {"title": DOC.title.replace("2023", "２０２３")},         # full-width digits
    {"fields": {"索引号 ": "115002242037431382/2024-00011"}},
])
def test_noise_in_the_extracted_text_adds_no_version(archive, drift):
    archive.save("demo", fetched(), DOC)
    noisy = Document(**{**vars(DOC), **drift})
    assert fingerprint(noisy) == fingerprint(DOC)
    assert archive.save("demo", fetched(), noisy)[0] == "unchanged"


@pytest.mark.parametrize("edit", [
    {"body": DOC.body.replace("深化", "持续深化")},
    {"title": "示范县2024年法治政府建设工作报告"},
    {"published": dt.date(2024, 3, 7)},
    {"fields": {"索引号": "115002242037431382/2024-00012"}},
    {"attachments": (Attachment("http://www.example.gov.cn/b.pdf", "附件1"),)},
])
def test_a_real_edit_adds_exactly_one_version(archive, edit):
    archive.save("demo", fetched(), DOC)
    outcome, doc_id = archive.save("demo", fetched(b"<p>edited</p>"), Document(**{**vars(DOC), **edit}))
    assert outcome == "changed" and versions(archive) == 2
    assert archive.db["documents"].get(doc_id)["versions"] == 2
    assert [v["version"] for v in archive.db["versions"].rows_where(order_by="id")] == [1, 2]


def test_removed_documents_keep_their_versions_and_come_back(archive):
    archive.save("demo", fetched(), DOC)
    assert archive.mark_removed(URL, "HTTP 404") is True
    assert archive.mark_removed(URL, "HTTP 404") is False  # already removed: counted once
    row = archive.db["documents"].get(1)
    assert (row["online"], row["removed_reason"]) == (0, "HTTP 404") and versions(archive) == 1
    assert archive.save("demo", fetched(), DOC)[0] == "unchanged"
    row = archive.db["documents"].get(1)
    assert (row["online"], row["removed"]) == (1, None)


def test_chinese_search_finds_words_inside_longer_runs(archive):
    archive.save("demo", fetched(), DOC)
    other = Document(title="关于枫桥经验的通知", body="坚持和发展新时代“枫桥经验”。")
    archive.save("demo", fetched(url=URL + "?2"), other)

    def hits(query):
        return [r["rowid"] for r in archive.db.query(
            "select rowid from documents_fts where documents_fts match ?", [search_query(query)])]

    assert hits("复议") == [1]
    assert hits("行政复议") == [1]
    assert hits("法治政府") == [1]
    assert hits("枫桥经验") == [2]
    assert hits("复议 枫桥") == []  # every word is required
    assert hits("议复") == []       # a phrase, not a bag of characters
    assert hits('"枫桥') == [2]     # stray quotes don't break the query


def test_search_text_turns_chinese_into_bigrams():
    assert search_text("行政复议 law") == " 行政 政复 复议  law"
    assert search_query("行政复议") == '"行政 政复 复议"'


def test_a_database_of_something_else_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("create table customers (id integer primary key, name text)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(NotAnArchive, match="something else"):
        Archive(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("not a database " * 100)
    with pytest.raises(NotAnArchive):
        Archive(path)


def test_reopening_an_archive_keeps_its_data(tmp_path):
    with Archive(tmp_path / "a.db") as a:
        a.sync_sources([Source("demo", ("http://www.example.gov.cn/",))])
        a.save("demo", fetched(), DOC)
    with Archive(tmp_path / "a.db") as a:
        assert a.db["documents"].count == 1
        assert a.db.execute("pragma journal_mode").fetchone()[0] == "wal"
        # NORMAL (1): a commit is not flushed to the disk; see tests/test_crash.py for what it may cost.
        assert a.db.execute("pragma synchronous").fetchone()[0] == 1


def test_an_archive_from_an_older_govarchive_is_migrated_with_its_data(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="add_files_events_and_year")  # the 0.1 schema
    old.table("sources").insert({"name": "demo", "urls": "[]"})
    old.table("documents").insert({"id": 1, "url": URL, "source": "demo", "title": DOC.title,
                                   "published": "2024-03-06", "online": 1, "versions": 2, "body": DOC.body})
    old.table("captures").insert({"id": 1, "document_id": 1, "content": zlib.compress(b"<p>raw</p>")})
    for n in (1, 2):
        old.table("versions").insert({"document_id": 1, "version": n, "captured": f"2024-03-0{n + 5}",
                                      "capture_id": 1, "body": DOC.body})
    old.table("attachments").insert({"document_id": 1, "url": "http://www.example.gov.cn/a.pdf"})
    old.close()
    with Archive(path) as archive:
        assert archive.db.table("documents").get(1)["year"] == 2024
        assert [(e["event"], e["time"]) for e in archive.db.table("events").rows_where(order_by="id")] == \
            [("new", "2024-03-06"), ("changed", "2024-03-07")]
        assert "sha256" in archive.db.table("attachments").columns_dict
        assert archive.db.execute("pragma foreign_key_check").fetchall() == []
        assert archive.save("demo", fetched(), DOC)[0] == "changed"  # fingerprints were not stored in 0.1
        assert archive.db.table("documents").get(1)["versions"] == 3
    with Archive(path) as archive:  # opening again applies nothing twice
        assert archive.db.table("events").count == 3
