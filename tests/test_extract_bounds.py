"""Bounded parsing: deeply nested or huge pages extract in time linear in their size.

The pages are generated here. Before the bound, 100,000 nested <div>s took about two minutes and
33,000 nested table cells three; the limits below are generous for a loaded 2-core machine.
"""

from __future__ import annotations

import time

import pytest

from crawler.extract import extract
from crawler.extract.rules import MAX_DEPTH
from crawler.extract.tree import bound_depth

#: Seconds any of these pages may take (they take well under one).
LIMIT = 5.0


def timed(html: str) -> tuple[float, str]:
    raw = ("<html><head><title>样例页面</title></head><body>" + html + "</body></html>").encode()
    start = time.perf_counter()
    doc = extract(raw)
    return time.perf_counter() - start, doc.body


@pytest.mark.parametrize("name, html", [
    ("100,000 nested divs", "<div>" * 100_000 + "正文内容，一句完整的话。" + "</div>" * 100_000),
    ("33,000 nested table cells", "<table><tr><td>单元格，文字。" * 33_000),
    ("50,000 nested list items", "<ul><li>条目，文字。" * 50_000),
    ("100,000 nested spans", "<span>文字，" * 100_000),
    ("30,000 sibling headings", "<h3>一个比较长的标题文字内容</h3>" * 30_000 + "<p>正文，内容，很长的句子。</p>"),
])
def test_pathological_pages_extract_quickly(name, html):
    seconds, body = timed(html)
    assert seconds < LIMIT, f"{name}: {seconds:.1f} s"
    assert "文" in body  # the text is still there


def test_depth_bound_keeps_text_and_real_pages():
    deep = "<div>" * (MAX_DEPTH + 50) + "深处的文字" + "</div>" * (MAX_DEPTH + 50)
    bounded = bound_depth(deep)
    assert bounded.count("<div>") == MAX_DEPTH and bounded.count("</div>") == MAX_DEPTH
    assert "深处的文字" in bounded
    page = "<div><ul><li>a<li>b</ul><p>x<p>y<br><img src=a.png></div>" * 300  # within the bound
    assert bound_depth(page) is page
    tricky = "<!-- <div> -->" * 300 + "<script>'<div>'</script>" * 300 + "<svg><path/></svg>" * 300
    assert bound_depth(tricky) is tricky  # comments, scripts and closed SVG elements do not nest


def test_end_tags_inside_scripts_do_not_hide_a_nest():
    seconds, body = timed("<div><script>document.write('</div>')</script><p>段落，文字。</p>" * 20_000)
    assert seconds < LIMIT, f"{seconds:.1f} s"
    assert "段落" in body
