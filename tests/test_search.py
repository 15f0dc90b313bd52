"""Search results and fingerprints are pinned: changing how the index is built or stored (one
normalisation pass, an external-content table) must find exactly what it found before, and must not
change a single fingerprint (every archived document would look changed on its next crawl).

The expected ids and hashes below were computed by govarchive before those changes."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.config import Source
from crawler.extract import Attachment, Document
from crawler.fetch import FetchResult
from crawler.store import Archive, fingerprint, migrations, search_query, search_text

BASE = "http://www.example.gov.cn/zwgk/"
FILE = "http://www.example.gov.cn/f.pdf"

#: Our own texts, with what makes Chinese search hard: words inside longer runs, full-width
#: letters, digits and punctuation (NFKC folds them), circled and parenthesised numbers, Latin
#: words, mixed scripts without spaces, zero-width characters, one-character words.
DOCUMENTS = [
    Document(title="示范县2023年法治政府建设工作报告", published=dt.date(2024, 3, 6), publisher="示范县司法局",
             body="一、主要工作\n深化行政复议体制改革，全年共办理行政复议案件１２３件。\n示范县人民政府",
             fields={"索引号": "115002242037431382/2024-00011"}),
    Document(title="关于推进“枫桥经验”的实施意见", published=dt.date(2024, 1, 9), publisher="示范市人民政府",
             body="坚持和发展新时代“枫桥经验”，矛盾纠纷多元化解。"),
    Document(title="２０２４年政府信息公开工作年度报告", publisher="示范县人民政府办公室",
             body="本报告根据《中华人民共和国政府信息公开条例》编制。㈠主动公开情况：全年主动公开信息4521条。"
                  "㈡依申请公开情况：收到申请３６件。"),
    Document(title="Annual REPORT on the rule of law", body="The county published its annual report.\n"
                                                             "法治政府 annual review 2024."),
    Document(title="行政执法三项制度实施情况", publisher="县市场监督管理局",
             body="全面推行行政执法公示制度、执法全过程记录制度、重大执法决定法制审核制度。①公示；②记录；③审核。"),
    Document(title="关于印发《重大行政决策程序规定》的通知", fields={"文号": "示政办发〔2024〕12号"},
             body="各乡镇人民政府，县直各部门：现将《重大行政决策程序规定》印发给你们，请认真贯彻执行。",
             attachments=(Attachment(FILE, "附件：规定全文"),)),
    Document(title="政务公开\u200b标准化规范化", body="推进基层政务公开标准化\u200b规范化建设，Ｅ-mail：\uff47\uff4f\uff56\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45．\uff43\uff4e"),
    Document(title="复议", body="议复。复。"),
    Document(title="营商环境评价结果公告", body="优化营商环境，评价结果：优秀率达到９８\uff05。COVID-19防控常态化。"),
    Document(title="县卫生健康委员会2022年度部门决算", body="一般公共预算财政拨款支出１，２３４．５６万元。\n\n\n（单位：万元）"),
]

#: (query, ids of the documents found, in rowid order).
EXPECTED = [
    ("复议", [1, 8]),
    ("行政复议", [1]),
    ("法治政府", [1, 4]),
    ("枫桥经验", [2]),
    ("枫桥", [2]),
    ("复议 枫桥", []),
    ("议复", [8]),
    ('"枫桥', [2]),
    ("2024", [3, 4]),
    ("２０２４", [3, 4]),
    ("report", [4]),
    ("REPORT", [4]),
    ("annual report", [4]),
    ("公开", [3, 7]),
    ("复", [1, 8]),
    ("政", [1, 3, 4, 5, 6, 7, 10]),
    ("(一)", [1, 3]),
    ("一", [1, 3, 10]),
    ("执法 公示", [5]),
    ("重大行政决策", [6]),
    ("标准化规范化", [7]),
    ("gov", [7]),
    ("example", [7]),
    ("98%", [9]),
    ("covid", [9]),
    ("19", [9]),
    ("1,234.56", [10]),
    ("万元", [10]),
    ("部门决算 2022", [10]),
    ("不存在的词", []),
    ("示范", [1]),
]

#: fingerprint(DOCUMENTS[i], {FILE: "ab" * 32}) before the change.
FINGERPRINTS = [
    "548a9fc1b8ddfa48db1507f2ed6cbafabbfe192d6a2a7363ea97e170d24a0ae3",
    "92d7c930a35655a1da8d0a4f6ddd96d4a4d2cdbfda6ae86fb68710edda1bd07e",
    "511c40c6536e091d470a5105da402163c4baeeb119d236ccdd06d5455d689268",
    "8826b435a03dff17d5c6491c6fad0b5ea3039bcaefbb39499fca59ba6ac24fbe",
    "13d45afe84765668ef9de18a49589fce5eb15815053abe382cc13237a29303af",
    "26bccf62f2c30cfd9769e68dbec61495c1e86661b6175230ea8a4aff091033cf",
    "242f2d19f43a2ce66d105e4f5dbfd0cb9dbfd6276917c82538df2f5e3b0a88c2",
    "6cbfbec2f19685cfd3678d4a740468d4051ccb940956ecbebae7b7e6289e1a07",
    "750585b5760370ce4d3eb2d9b1e9c1d87bc2617356dd20692aa27ae8d41fcd74",
    "91b4560f36671f51fd10cf911ffad4ad8b632d09cc6d508dc0d71d0d0e97f390",
]


def fetched(n: int) -> FetchResult:
    url = f"{BASE}t{n}.html"
    return FetchResult(url=url, final_url=url, status=200, headers={}, content=f"<p>{n}</p>".encode(),
                       charset="utf-8", fetched_at=dt.datetime(2024, 3, 6, tzinfo=dt.UTC))


@contextlib.contextmanager
def archived(tmp: Path) -> Iterator[Archive]:
    with Archive(tmp / "search.db") as archive:
        archive.sync_sources([Source("demo", (BASE,))])
        for n, doc in enumerate(DOCUMENTS, 1):
            assert archive.save("demo", fetched(n), doc)[1] == n
        yield archive


def hits(archive: Archive, query: str) -> list[int]:
    return [r[0] for r in archive.db.execute(
        "select rowid from documents_fts where documents_fts match ? order by rowid", [search_query(query)])]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Archive]:
    with archived(tmp_path_factory.mktemp("search")) as a:
        yield a


@pytest.mark.parametrize("query, expected", EXPECTED)
def test_search_finds_what_it_found_before(archive, query, expected):
    assert hits(archive, query) == expected


@pytest.mark.parametrize("n", range(len(DOCUMENTS)))
def test_fingerprints_are_what_they_were(n):
    assert fingerprint(DOCUMENTS[n], {FILE: "ab" * 32}) == FINGERPRINTS[n]


def test_the_index_keeps_no_second_copy_of_the_text(archive):
    assert "content=''" in archive.db.execute("select sql from sqlite_master where name = 'documents_fts'").fetchone()[0]
    assert archive.db.execute("select count(*) from documents_fts where title is not null or body is not null"
                              ).fetchone()[0] == 0
    assert archive.db.execute("select count(*) from documents_fts").fetchone()[0] == len(DOCUMENTS)


def test_an_edit_takes_the_old_words_out_of_the_index(tmp_path):
    with archived(tmp_path) as archive:
        edited = Document(title="关于推进基层治理的实施意见（修订）", body="坚持和发展新时代基层治理，矛盾纠纷多元化解。")
        assert archive.save("demo", fetched(2), edited)[0] == "changed"
        assert hits(archive, "枫桥经验") == []  # gone from the title and the body
        assert hits(archive, "新时代") == [2]    # still there
        assert hits(archive, "基层治理") == [2]
        assert hits(archive, "修订") == [2]
        assert archive.save("demo", fetched(2), DOCUMENTS[1])[0] == "changed"  # and back
        assert hits(archive, "基层治理") == []
        assert [(q, hits(archive, q)) for q, _ in EXPECTED] == EXPECTED
        archive.db.execute("insert into documents_fts (documents_fts) values ('integrity-check')")


def test_a_row_of_the_index_is_removed_exactly_whatever_changed_since(tmp_path):
    with archived(tmp_path) as archive:
        # Something else rewrote what the index was built from (a later version of govarchive
        # indexing more, an attachment's text read since): the row still goes out as it went in.
        archive.db.execute("update documents set title = '别的标题', body = '别的正文' where id = 2")
        archive.save("demo", fetched(2), Document(title="新标题", body="基层治理。"))
        assert hits(archive, "枫桥经验") == [] and hits(archive, "别的") == [] and hits(archive, "基层治理") == [2]
        archive.db.execute("insert into documents_fts (documents_fts) values ('integrity-check')")


def test_an_archive_with_the_old_index_is_migrated_and_finds_the_same(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="contentless_search_index")  # the index with its text
    old.table("sources").insert({"name": "demo", "urls": "[]"})
    for n, doc in enumerate(DOCUMENTS, 1):
        old.table("documents").insert({"id": n, "url": f"{BASE}t{n}.html", "source": "demo", "title": doc.title,
                                       "body": doc.body, "online": 1, "versions": 1})
        old.execute("insert into documents_fts (rowid, title, body) values (?, ?, ?)",
                    [n, search_text(doc.title), search_text(doc.body)])
    old.conn.commit()
    old.close()
    with Archive(path) as archive:
        assert [(q, hits(archive, q)) for q, _ in EXPECTED] == EXPECTED
        assert archive.db.execute("select count(*) from documents_fts where body is not null").fetchone()[0] == 0
        edited = Document(title=DOCUMENTS[0].title, body="全年办理政府信息公开申请。")
        archive.save("demo", fetched(1), edited)
        assert hits(archive, "行政复议") == [] and hits(archive, "信息公开") == [1, 3]


def test_the_migration_indexes_the_text_of_each_documents_current_attachments(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="contentless_search_index")
    old.table("sources").insert({"name": "demo", "urls": "[]"})
    url = f"{BASE}t1.html"
    old.table("documents").insert({"id": 1, "url": url, "source": "demo", "title": "关于印发预算的通知",
                                   "body": "现将预算印发给你们。", "online": 1, "versions": 2})
    for sha, text in (("a" * 64, "养老保险缴费基数调整"), ("b" * 64, "旧附件的退役文字"), ("c" * 64, "")):
        old.table("files").insert({"sha256": sha, "size": 1, "text": text})
    listed = [{"url": f"{BASE}old.pdf", "text": "附件", "sha256": "b" * 64}]
    current = [{"url": f"{BASE}new.pdf", "text": "附件", "sha256": "a" * 64},
               {"url": f"{BASE}scan.pdf", "text": "扫描件", "sha256": "c" * 64}]
    for version, attachments in ((1, listed), (2, current)):
        old.table("versions").insert({"document_id": 1, "version": version, "body": "现将预算印发给你们。",
                                      "attachments": json.dumps(attachments, ensure_ascii=False)})
    old.conn.commit()
    old.close()
    with Archive(path) as archive:
        assert hits(archive, "缴费基数") == [1] and hits(archive, "预算") == [1]
        assert hits(archive, "退役") == []  # an earlier version's attachment is not the document's now
        archive.db.execute("insert into documents_fts (documents_fts) values ('integrity-check')")


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from("行政复议公开\U00020000\U00020001 ，。a1\n"),
                                  st.characters(codec="utf-8")), max_size=50))
def test_the_search_text_of_a_text_is_each_chinese_run_in_overlapping_pairs(text):
    from crawler.store import _CJK, _pairs

    def pairs(run: str) -> str:
        return f" {run} " if len(run) == 1 else " " + " ".join(run[i:i + 2] for i in range(len(run) - 1)) + " "

    assert _pairs(text) == _CJK.sub(lambda m: pairs(m.group()), text)
