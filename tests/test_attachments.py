"""Attachments end to end: a site of pages and files served on 127.0.0.1 → `govarchive crawl` →
their text searched, diffed and listed in a real SQLite archive (and Datasette over it)."""

from __future__ import annotations

import asyncio
import functools
import html as html_lib
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import filemaker
import pytest
import sqlite_utils
from click.testing import CliRunner
from datasette.app import Datasette
from test_crawl import crawl

from crawler.cli import cli
from crawler.serve import load_metadata
from crawler.store import search_query

BODY = "各单位：现将有关文件印发给你们，请结合本地实际，认真组织实施，确保各项工作落到实处。" * 2
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head><body>
<div class="nav"><a href="/">首页</a> <a href="/list/index.html">通知公告</a></div>
<h1>{title}</h1><div class="info">发布日期：2024-03-0{day}</div>
<div class="TRS_Editor"><p>{body}</p><p>附件：{links}</p></div>
<div class="footer">版权所有 示范县人民政府</div></body></html>"""

#: Per format: the file served, the word only it holds, and its link (path, link text).
PDF_LINES = ["示范县2024年高标准农田建设方案", "一、建设目标", "新建高标准农田两万亩。"]
CHANGED_PDF_LINES = ["示范县2024年高标准农田建设方案", "一、建设目标", "新建高标准农田三万亩，改造提升一万亩。"]


def formats() -> dict[str, tuple[bytes, str, str, str]]:
    """name → (file, the word only the file holds, its URL path, its link text)."""
    doc = (filemaker.FIXTURES / "notice.doc").read_bytes()
    return {
        "pdf": (filemaker.pdf([PDF_LINES]), "高标准农田", "/files/plan.pdf", "建设方案.pdf"),
        "docx": (filemaker.docx(["全面推行河长制工作方案"], [["河段", "河长"], ["清水河", "张三"]]),
                 "河长制", "/files/river.docx", "工作方案.docx"),
        "xlsx": (filemaker.xlsx([["项目", "金额"], ["乡村振兴衔接资金", 120]]), "衔接资金",
                 "/files/funds.xlsx", "资金表.xlsx"),
        "xls": (filemaker.xls([["险种", "人数"], ["城乡居民养老保险", 3000]]), "养老保险",
                "/files/pension.xls", "参保表.xls"),
        "doc": (doc, "水源保护", "/files/water.doc", "饮水通知.doc"),
        "wps": (doc, "水源保护", "/jpaas/download?fileName=water.wps", "附件一"),
        "ofd": (filemaker.ofd([["电子证照应用推广通知"]]), "电子证照", "/files/license.ofd", "证照.ofd"),
        "rtf": (filemaker.rtf(["防汛抗旱应急预案"]), "防汛抗旱", "/files/flood.rtf", "预案.rtf"),
        "txt": ("医疗保障待遇清单".encode("gbk"), "医疗保障", "/files/medical.txt", "清单.txt"),
    }


@dataclass
class Reply:
    body: bytes
    content_type: str = "application/octet-stream"
    headers: tuple[tuple[str, str], ...] = ()


class _Handler(BaseHTTPRequestHandler):
    def __init__(self, *args: object, routes: dict[str, Reply], **kwargs: object) -> None:
        self.routes = routes
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        reply = self.routes.get(self.path)
        if reply is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def routes() -> dict[str, Reply]:
    """The site: a column listing one page per file format, a file listed directly, and oddities."""
    routes: dict[str, Reply] = {}
    items = []
    for day, (name, (content, _, path, text)) in enumerate(formats().items(), start=1):
        page = f"/list/t2024030{day % 10}_{day}.html"
        title = f"关于印发{name}文件的通知"
        routes[page] = html(PAGE.format(title=title, day=day % 10, body=BODY,
                                        links=f'<a href="{path}">{text}</a>'))
        routes[path] = Reply(content, "text/plain; charset=gbk" if name == "txt" else "application/octet-stream")
        items.append((page, title))
    # A link with no extension, recognised by its download attribute, named by Content-Disposition
    # (raw GBK bytes, as Chinese servers send it).
    gbk_name = "审计报告.docx".encode("gbk").decode("latin-1")
    routes["/attach/download?fileId=42"] = Reply(
        filemaker.docx(["审计整改落实情况"]), "application/octet-stream",
        (("Content-Disposition", f'attachment; filename="{gbk_name}"'),))
    routes["/attach/download?fileId=43"] = html("<html><body><p>请先登录</p></body></html>")
    routes["/list/t20240311_11.html"] = html(PAGE.format(
        title="关于审计工作的通知", day=1, body=BODY,
        links='<a href="/attach/download?fileId=42" download>点击下载</a>'
              ' <a href="/attach/download?fileId=43">报告.pdf</a>'))
    items.append(("/list/t20240311_11.html", "关于审计工作的通知"))
    # A bomb and a corrupt file, each on its own page.
    routes["/files/bomb.docx"] = Reply(bomb())
    routes["/files/broken.pdf"] = Reply(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    routes["/list/t20240312_12.html"] = html(PAGE.format(
        title="关于安全检查的通知", day=2, body=BODY,
        links='<a href="/files/bomb.docx">检查表.docx</a> <a href="/files/broken.pdf">检查要求.pdf</a>'))
    items.append(("/list/t20240312_12.html", "关于安全检查的通知"))
    # A file listed in the column itself.
    routes["/list/budget.pdf"] = Reply(filemaker.pdf([["示范县2024年部门预算公开说明", "一、部门职责",
                                                       "负责全县财政预算编制。"]]), "application/pdf")
    items.append(("/list/budget.pdf", "示范县2024年部门预算公开"))
    lis = "".join(f'<li><a href="{u}">{t}</a><span>2024-03-01</span></li>' for u, t in items)
    routes["/list/index.html"] = html(f'<html><head><meta charset="utf-8"><title>通知公告</title></head><body>'
                                      f'<div class="nav"><a href="/">首页</a></div><ul class="list">{lis}</ul>'
                                      f'</body></html>')
    return routes


def html(text: str) -> Reply:
    return Reply(text.encode(), "text/html; charset=utf-8")


@functools.cache
def bomb() -> bytes:
    return filemaker.docx_bomb(210 * 1024 * 1024)


@pytest.fixture
def site_url(routes: dict[str, Reply]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, routes=routes))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def files_config(tmp_path: Path, site_url: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(f'[defaults]\ndelay = 0.0\nobey_robots = false\n\n[[sources]]\nname = "files"\n'
                    f'urls = ["{site_url}/list/index.html"]\n', encoding="utf-8")
    return path


def search(db: sqlite_utils.Database, word: str) -> set[str]:
    return {r["title"] for r in db.query(
        "select d.title from documents_fts f join documents d on d.id = f.rowid where documents_fts match ?",
        [search_query(word)])}


def by_url(db: sqlite_utils.Database, url: str) -> dict:
    rows = list(db["documents"].rows_where("url = ?", [url]))
    assert len(rows) == 1, url
    return rows[0]


@pytest.fixture
def archive(files_config: Path, db_path: Path) -> sqlite_utils.Database:
    output = crawl(files_config, db_path)
    assert output.startswith("1 source: 12 new, 0 changed, 0 unchanged, 0 removed, 0 failed"), output
    return sqlite_utils.Database(db_path)


@pytest.mark.parametrize("name", list(formats()))
def test_search_finds_a_word_only_an_attachment_holds(archive, name):
    _, word, _, _ = formats()[name]
    assert not any(word in (d["body"] or "") for d in archive["documents"].rows)  # not in any page
    found = search(archive, word)
    assert f"关于印发{name}文件的通知" in found
    assert search(archive, word[:2]) >= found  # a 2-character term works too


def test_each_file_text_is_stored_once_with_its_kind(archive):
    texts: dict[str, list[str]] = {}
    for r in archive.query("select kind, text from files where text_status = 'ok' order by name"):
        texts.setdefault(r["kind"], []).append(r["text"])
    assert {"pdf", "docx", "xlsx", "xls", "doc", "ofd", "rtf", "txt"} <= set(texts)
    assert len(texts["doc"]) == 1  # the .doc and the .wps are one file, stored and read once
    assert texts["xlsx"] == ["统计表\n项目\t金额\n乡村振兴衔接资金\t120"]  # sheet, then rows
    assert "全面推行河长制工作方案\n河段\t河长\n清水河\t张三" in texts["docx"]


def test_an_extension_less_download_link_is_found_confirmed_and_read(archive, site_url):
    doc = by_url(archive, f"{site_url}/list/t20240311_11.html")
    attachments = {a["url"]: a for a in archive["attachments"].rows_where("document_id = ?", [doc["id"]])}
    good = attachments[f"{site_url}/attach/download?fileId=42"]
    stored = archive["files"].get(good["sha256"])
    assert stored["name"] == "审计报告.docx" and stored["text"] == "审计整改落实情况"
    assert search(archive, "审计整改") == {"关于审计工作的通知"}
    # Its link text said 报告.pdf, but the answer is a web page: not a file, nothing stored.
    page = attachments[f"{site_url}/attach/download?fileId=43"]
    assert page["sha256"] is None and page["error"].startswith("not a file: text/html")


def test_a_bomb_and_a_corrupt_file_each_fail_alone_with_a_reason(archive, site_url):
    doc = by_url(archive, f"{site_url}/list/t20240312_12.html")
    assert doc["body"].startswith("各单位") and doc["versions"] == 1
    files = {r["url"].rsplit("/", 1)[-1]: r for r in archive.query(
        "select a.url, f.* from attachments a join files f on f.sha256 = a.sha256 where a.document_id = ?",
        [doc["id"]])}
    assert files["bomb.docx"]["text_status"] == "too-large"
    assert "unpacks to" in files["bomb.docx"]["text_reason"]
    assert files["broken.pdf"]["text_status"] == "failed"
    assert "not a readable PDF" in files["broken.pdf"]["text_reason"]
    assert archive.execute("select count(*) from files where text_status = 'ok'").fetchone()[0] == 10


def test_a_file_listed_in_the_column_is_a_document(archive, site_url):
    doc = by_url(archive, f"{site_url}/list/budget.pdf")
    assert doc["title"] == "示范县2024年部门预算公开"
    assert doc["body"] == "示范县2024年部门预算公开说明\n一、部门职责\n负责全县财政预算编制。"
    assert search(archive, "预算编制") == {"示范县2024年部门预算公开"}
    [attachment] = archive["attachments"].rows_where("document_id = ?", [doc["id"]])
    assert archive["files"].get(attachment["sha256"])["kind"] == "pdf"


def versions_diff(db_path: Path, doc_id: int) -> list[dict]:
    async def fetch() -> list[dict]:
        ds = Datasette([str(db_path)], metadata=load_metadata(db_path))
        response = await ds.client.get(f"/{db_path.stem}/document_versions.json?_shape=array&document={doc_id}")
        assert response.status_code == 200, response.text
        return response.json()

    return asyncio.run(fetch())


@pytest.mark.parametrize("path", ["/files/plan.pdf", "/list/budget.pdf"])
def test_a_changed_pdf_makes_one_version_whose_diff_shows_the_paragraph(archive, routes, files_config,
                                                                        db_path, site_url, path):
    """An attached PDF (its text compared with the page's) and a PDF listed as a document."""
    routes[path] = Reply(filemaker.pdf([CHANGED_PDF_LINES]), "application/pdf")
    if path == "/list/budget.pdf":  # it becomes the plan: first make it read as the plan did
        routes[path] = Reply(filemaker.pdf([PDF_LINES]), "application/pdf")
        crawl(files_config, db_path, "--full")
        routes[path] = Reply(filemaker.pdf([CHANGED_PDF_LINES]), "application/pdf")
    output = crawl(files_config, db_path, "--full")
    assert output.startswith("1 source: 0 new, 1 changed, 11 unchanged"), output
    url = f"{site_url}{path}" if path.startswith("/list/") else f"{site_url}/list/t20240301_1.html"
    doc = by_url(archive, url)
    newest = versions_diff(db_path, doc["id"])[0]
    assert doc["versions"] == (3 if path == "/list/budget.pdf" else 2)
    assert "− 新建高标准农田两万亩。" in newest["diff"]
    assert "+ 新建高标准农田三万亩，改造提升一万亩。" in newest["diff"]
    assert "建设目标" not in newest["diff"]  # unchanged paragraphs are not repeated
    assert search(archive, "改造提升") >= {doc["title"]}
    assert crawl(files_config, db_path, "--full").startswith("1 source: 0 new, 0 changed, 12 unchanged")


def test_reextract_reads_attachment_text_again_from_the_stored_files(archive, files_config, db_path):
    archive.execute("update files set text = null, text_status = null")
    archive.execute("insert into documents_fts (documents_fts) values ('delete-all')")
    archive.execute("delete from documents_fts_source")
    archive.conn.commit()
    result = CliRunner().invoke(cli, ["reextract", "--config", str(files_config), "--db", str(db_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("; 12 attachment files read again")
    assert search(archive, "河长制") == {"关于印发docx文件的通知"}
    assert search(archive, "预算编制") == {"示范县2024年部门预算公开"}
    assert archive.execute("select count(*) from versions").fetchone()[0] == 12


def test_datasette_search_finds_attachment_words(archive, db_path):
    async def fetch() -> list[dict]:
        ds = Datasette([str(db_path)], metadata=load_metadata(db_path))
        word = urllib.parse.quote("养老保险")
        response = await ds.client.get(f"/{db_path.stem}/documents.json?_shape=array&_search={word}")
        return response.json()

    assert [row["title"] for row in asyncio.run(fetch())] == ["关于印发xls文件的通知"]


def test_the_demo_sites_attachments_are_read_and_searched(config_path, db_path, base_url):
    crawl(config_path, db_path)
    db = sqlite_utils.Database(db_path)
    assert search(db, "裁量基准") == search(db, "集中评查") == {"关于开展2024年度行政执法案卷评查工作的通知"}
    kinds = {r["kind"]: r["text_status"] for r in db.query("select kind, text_status from files")}
    assert kinds == {"pdf": "ok", "docx": "ok"}


def test_a_documents_page_lists_its_attachments_with_their_text(archive, db_path, site_url):
    doc = by_url(archive, f"{site_url}/list/t20240301_1.html")

    async def fetch() -> tuple[str, bytes]:
        ds = Datasette([str(db_path)], metadata=load_metadata(db_path))
        page = await ds.client.get(f"/{db_path.stem}/-/document/{doc['id']}")
        assert page.status_code == 200, page.text
        link = re.search(r'href="([^"]+\.blob\?_blob_column=content)"', page.text)
        assert link, page.text
        blob = await ds.client.get(html_lib.unescape(link.group(1)))
        return page.text, blob.content

    page, blob = asyncio.run(fetch())
    sha = archive.execute("select sha256 from attachments where document_id = ?", [doc["id"]]).fetchone()[0]
    assert "建设方案.pdf" in page and "pdf, 1 page" in page and sha[:12] in page
    assert '<details class="file-text" open>' in page  # a short text is shown open
    assert "<p>新建高标准农田两万亩。</p>" in page
    assert blob == archive["files"].get(sha)["content"]  # the stored file, downloadable
