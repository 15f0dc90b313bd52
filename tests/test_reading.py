"""crawler.reading: what the crawl computes from a page in a worker process, equal to doing it in place."""

from __future__ import annotations

import pickle
import zlib

from crawler.extract import extract
from crawler.reading import read_page
from crawler.store import fingerprint, prepare
from crawler.verdicts import page_key

URL = "http://www.example.gov.cn/art/2024/5/10/art_1_1.html"
PAGE = """<html><head><title>关于印发《法治政府建设实施方案》的通知_示范县人民政府</title></head><body>
<div class="nav">首页 > 政府信息公开</div>
<div class="article"><h1>关于印发《法治政府建设实施方案》的通知</h1>
<p>发布日期：2024-05-10</p>
<p>各乡镇人民政府，县政府各部门：现将《法治政府建设实施方案》印发给你们，请认真贯彻执行。</p>
<p>一、全面推进政务公开。坚持以公开为常态、不公开为例外，推进行政决策公开。</p>
<p>附件：<a href="/files/plan.pdf">实施方案.pdf</a></p></div>
<div class="footer">主办单位：示范县人民政府办公室</div></body></html>""".encode()


def test_a_reading_is_extraction_and_preparation_in_one_call():
    read = read_page(PAGE, URL, encoding="utf-8")
    doc = extract(PAGE, URL, encoding="utf-8")
    assert read.doc == doc and read.prepared == prepare(doc)
    assert fingerprint(read.doc, {}, read.prepared) == fingerprint(doc)
    assert read.said == page_key(f"{doc.title}\n{doc.body}")
    assert read.body_chars == len(read.prepared.body) > 40
    assert zlib.decompress(read.capture) == PAGE
    assert pickle.loads(pickle.dumps(read)) == read  # it travels back from the worker


def test_the_listing_title_is_used_only_when_the_page_has_none_and_is_not_what_the_page_said():
    untitled = PAGE.replace(b"<h1>", b"<p>").replace(b"</h1>", b"</p>").replace(
        "<title>关于印发《法治政府建设实施方案》的通知_示范县人民政府</title>".encode(), b"")
    bare = extract(untitled, URL, encoding="utf-8")
    assert bare.title == ""
    read = read_page(untitled, URL, encoding="utf-8", title="列表里的标题")
    assert read.doc.title == "列表里的标题" and read.prepared.title == "列表里的标题"
    assert read.said == page_key(f"\n{bare.body}")  # templates are told apart by what pages say
    assert read_page(PAGE, URL, encoding="utf-8", title="列表里的标题").doc.title.startswith("关于印发")


def test_a_page_without_text_or_attachments_has_nothing_to_prepare():
    read = read_page(b"<html><head><title></title></head><body><script>var a = 1;</script></body></html>", URL)
    assert read.prepared is None and read.body_chars == 0
