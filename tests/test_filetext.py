"""crawler.filetext: the text of each attachment format, and the limits on untrusted files."""

from __future__ import annotations

import asyncio
import io
import zipfile

import filemaker
import pytest

from crawler import filetext
from crawler.crawl import read_file
from crawler.filetext import disposition_filename, file_name, file_text, is_file_response
from crawler.workers import WorkerPool

LINES = ["关于开展2024年度安全生产检查的通知", "各乡镇人民政府：", "现将有关事项通知如下。"]


@pytest.mark.parametrize("name, make, expected", [
    ("a.pdf", lambda: filemaker.pdf([LINES[:2], LINES[2:]]), "\n".join(LINES)),
    ("a.docx", lambda: filemaker.docx(LINES[:2], [["序号", "项目"], ["1", "水利工程"]]),
     "\n".join(LINES[:2]) + "\n序号\t项目\n1\t水利工程"),
    ("a.xlsx", lambda: filemaker.xlsx([["序号", "金额"], [1, 12.5]]), "统计表\n序号\t金额\n1\t12.5"),
    ("a.xls", lambda: filemaker.xls([["序号", "项目"], [1, "养老保险"]]), "统计表\n序号\t项目\n1\t养老保险"),
    ("a.doc", lambda: (filemaker.FIXTURES / "notice.doc").read_bytes(),
     "关于做好农村饮水安全工作的通知\n各乡镇：请落实饮水工程维护责任。\n序号\t项目\n1\t水源保护"),
    ("a.ofd", lambda: filemaker.ofd([LINES[:2], LINES[2:]]), "\n".join(LINES)),
    ("a.rtf", lambda: filemaker.rtf(LINES), "\n".join(LINES)),
    ("a.txt", lambda: "\n".join(LINES).encode("gb18030"), "\n".join(LINES)),
    ("a.html", lambda: ("<html><head><title>通知</title></head><body><div class='TRS_Editor'><p>"
                        + "各乡镇人民政府：现将有关事项通知如下，请认真贯彻执行。" * 3
                        + "</p></div></body></html>").encode(), None),
])
def test_each_format_gives_its_text_paragraph_by_paragraph(name, make, expected):
    got = file_text(make(), name)
    assert got.status == "ok", got
    if expected is None:
        assert got.kind == "html" and got.text.startswith("通知\n各乡镇人民政府")
    else:
        assert got.text == expected


def test_a_wps_file_is_read_as_the_word_97_file_it_is():
    got = file_text((filemaker.FIXTURES / "notice.doc").read_bytes(), "")  # no name: by its streams
    assert got.kind == "doc" and "水源保护" in got.text


def test_a_path_reads_like_bytes(tmp_path):
    path = tmp_path / "plan.pdf"
    path.write_bytes(filemaker.pdf([LINES]))
    assert file_text(path) == file_text(path.read_bytes())


def test_a_scan_without_a_text_layer_needs_ocr():
    got = file_text(filemaker.blank_pdf(3), "scan.pdf")
    assert (got.status, got.pages, got.reason) == ("needs-ocr", 3, "no text layer (a scan?)")


def test_a_long_pdf_is_read_up_to_the_page_cap(monkeypatch):
    monkeypatch.setattr(filetext, "MAX_PAGES", 3)
    got = file_text(filemaker.pdf([[f"第{i}页"] for i in range(1, 8)]))
    assert got.text == "第1页\n第2页\n第3页" and got.pages == 7 and got.reason == "first 3 of 7 pages"


def test_a_pdf_of_10000_pages_is_read_up_to_the_cap_and_quickly():
    got = file_text(filemaker.empty_pdf(10_000), "huge.pdf")
    assert (got.pages, got.reason) == (10_000, f"first {filetext.MAX_PAGES} of 10000 pages")


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    got = file_text(filemaker.docx_bomb(210 * 1024 * 1024), "bomb.docx")
    assert got.status == "too-large" and got.reason == "unpacks to 220200968 bytes, over 209715200"


def test_a_zip_whose_directory_lies_about_sizes_is_still_bounded(monkeypatch):
    monkeypatch.setattr(filetext, "MAX_UNZIPPED_BYTES", 1000)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", "<w:document/>" + " " * 5000)
    raw = bytearray(out.getvalue())
    central = raw.rindex(b"PK\x01\x02")
    raw[central + 24:central + 28] = (10).to_bytes(4, "little")  # claims 10 bytes unpacked
    local = raw.index(b"PK\x03\x04")
    raw[local + 22:local + 26] = (10).to_bytes(4, "little")
    got = file_text(bytes(raw), "liar.docx")
    assert got.status in ("too-large", "failed") and got.text == ""


def test_a_file_over_the_size_cap_is_not_read(monkeypatch):
    monkeypatch.setattr(filetext, "MAX_FILE_BYTES", 100)
    got = file_text(filemaker.pdf([LINES]), "big.pdf")
    assert got.status == "too-large" and "over 100" in got.reason


@pytest.mark.parametrize("name, raw, reason", [
    ("broken.pdf", b"%PDF-1.7\ngarbage", "not a readable PDF"),
    ("cut.docx", filemaker.docx(["正文"])[:600], "damaged zip"),
    ("cut.doc", (filemaker.FIXTURES / "notice.doc").read_bytes()[:700], "damaged OLE file"),
    ("x.bin", b"\x00\x01\x02binary", "no text reader"),
])
def test_a_corrupt_file_fails_with_a_reason_and_never_raises(name, raw, reason):
    got = file_text(raw, name)
    assert got.status in ("failed", "unsupported") and reason in got.reason and got.text == ""


def test_a_parser_that_overruns_its_deadline_fails_that_file_alone():
    async def run() -> tuple:
        async with WorkerPool(1) as pool:
            slow = await read_file(pool, filemaker.pdf([LINES]), "a.pdf", "", timeout=0.001)
            after = await read_file(pool, filemaker.pdf([LINES]), "a.pdf", "")
        return slow, after

    slow, after = asyncio.run(run())
    assert slow.status == "failed" and "took longer than" in slow.reason
    assert after.status == "ok" and after.text == "\n".join(LINES)


@pytest.mark.parametrize("header, name", [
    ('attachment; filename="' + "审计报告.docx".encode("gbk").decode("latin-1") + '"', "审计报告.docx"),
    ('attachment; filename="' + "审计报告.docx".encode().decode("latin-1") + '"', "审计报告.docx"),
    ("attachment; filename*=UTF-8''%E9%80%9A%E7%9F%A5.wps", "通知.wps"),
    ('inline; filename="report.pdf"', "report.pdf"),
    ("attachment", ""),
])
def test_content_disposition_names_the_file(header, name):
    assert disposition_filename(header) == name


def test_a_download_is_named_by_its_headers_its_url_or_its_link_text():
    assert file_name("http://h/jpaas/download?fileName=x.wps", {}) == "x.wps"
    assert file_name("http://h/download?fileId=1", {}, "报告.pdf") == "报告.pdf"
    assert file_name("http://h/a/b.pdf", {"content-disposition": 'attachment; filename="c.pdf"'}) == "c.pdf"


@pytest.mark.parametrize("head, headers, expected", [
    (b"%PDF-1.4", {"content-type": "text/html"}, True),        # magic bytes win over a wrong type
    (b"<html>", {"content-type": "text/html; charset=utf-8"}, False),
    (b"<html>", {"content-type": "text/html", "content-disposition": 'attachment; filename="a.doc"'}, False),
    (b"\x00\x01", {"content-disposition": 'attachment; filename="a.et"'}, True),
    (b"abc", {"content-type": "application/msword"}, True),
    (b"abc", {"content-type": "text/plain"}, True),
    (b"<html>", {}, False),
])
def test_a_file_response_is_told_from_a_page(head, headers, expected):
    assert is_file_response(head, headers) is expected


def test_an_html_page_mislabelled_as_a_file_type_is_still_a_page():
    page = b"\xef\xbb\xbf\n<!DOCTYPE html><html><body>\xe9\x80\x9a\xe7\x9f\xa5</body></html>"
    assert not is_file_response(page, {"content-type": "application/octet-stream"})
    assert not is_file_response(page, {"content-type": "text/plain"})


def test_an_upgraded_archives_files_get_their_text_on_the_next_crawl(tmp_path):
    """Files archived before text was read (text_status null) are read, and the document re-indexed."""
    import datetime as dt

    from crawler.config import Source
    from crawler.extract import Attachment, Document
    from crawler.fetch import FetchResult
    from crawler.store import Archive, search_query

    now = dt.datetime.now(dt.UTC)
    page = FetchResult("http://h/a.html", "http://h/a.html", 200, {}, b"<html/>", None, now)
    pdf = filemaker.pdf([["城乡低保对象名单"]])
    doc = Document(title="通知", body="正文", attachments=(Attachment("http://h/a.pdf", "名单.pdf"),))
    with Archive(tmp_path / "a.db") as archive:
        archive.sync_sources([Source("s", ("http://h/",))])
        stored = archive.store_file(pdf, "application/pdf")
        archive.save("s", page, doc, downloads={"http://h/a.pdf": stored})  # as an older crawler did
        found = "select rowid from documents_fts where documents_fts match ?"
        assert not list(archive.db.query(found, [search_query("低保")]))
        outcome, _ = archive.save("s", page, doc, downloads={"http://h/a.pdf": stored},
                                  texts={stored.sha256: file_text(pdf)})
        assert outcome == "unchanged" and list(archive.db.query(found, [search_query("低保")]))
