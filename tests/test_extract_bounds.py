"""Bounded parsing: deeply nested or huge pages extract in time linear in their size.

The pages are generated here. Before the bound, 100,000 nested <div>s took about two minutes and
33,000 nested table cells three; the limits below are generous for a loaded 2-core machine.
"""

from __future__ import annotations

import random
import re
import sys
import time

import pytest

from crawler.extract import extract
from crawler.extract.rules import _NOT_NESTING, MAX_DEPTH, QUICK_RUN, TAG_TOKEN
from crawler.extract.tree import _may_be_deep, bound_depth

tree = sys.modules["crawler.extract.tree"]  # the package's `extract` function shadows its name

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
    ("20,000 blank lines in a 信息公开 block", "<div><p>索引号：001</p>" + " \n" * 20_000
     + "<p>发布机构：某局</p><p>成文日期：2024-01-02</p></div><div class=TRS_Editor><p>正文，内容。</p></div>"),
    ("50,000 spaces after a 信息公开 label", "<div><p>索引号" + " " * 50_000 + "x</p><p>发布机构：某局</p>"
     "<p>成文日期：2024-01-02</p></div><div class=TRS_Editor><p>正文，内容。</p></div>"),
    ("2,000 spaces after 发布日期", "<div><p>发布日期" + " " * 2_000 + "</p><p>x</p></div>"
     "<div class=TRS_Editor><p>正文，内容。这是一段足够长的正文，有二十个字以上。</p></div>"),
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


# -- the quick check and the token scan are exact rewrites of their plain definitions ------------

#: Pieces of tag soup: start, end, void and self-closed tags, comments and raw text hiding end
#: tags, stray marks (0x02 is the quick check's own mark), text.
SOUP = ["<div>", "</div>", "<span class=a>", "</span>", "<p>", "<br>", "<b/>", "<svg/>", "<", "</", "/", ">",
        "<!-- </div> -->", "<!--", "-->", "--", "<script>'</div>'</script>", "<SCRIPT>", "</script >",
        "<style>", "</style>", "<textarea>", "\x02", "<\x02/", "文字，", " ", "\n"]


def soups(count: int, longest: int) -> list[str]:
    rng = random.Random(16)
    return ["".join(rng.choices(SOUP, k=rng.randint(0, longest))) for _ in range(count)]


def plain_may_be_deep(html: str) -> bool:
    """The quick check as defined: proven shallow with at most MAX_DEPTH start marks ("<" not
    followed by "/", 0x02 ignored); deep with many comment/script openers; else deep when a run of
    QUICK_RUN start marks has no end mark between them."""
    data = html.encode("utf-8", "ignore").replace(b"\x02", b"")
    starts = [i for i, byte in enumerate(data) if byte == ord("<") and data[i + 1:i + 2] != b"/"]
    if len(starts) <= MAX_DEPTH:
        return False
    if len(re.findall(rb"<(?:!--|script|style|textarea)", data, re.IGNORECASE)) > QUICK_RUN:
        return True
    run = 0
    for i, byte in enumerate(data):
        if byte == ord("<"):
            run = 0 if data[i + 1:i + 2] == b"/" else run + 1
            if run >= QUICK_RUN:
                return True
    return False


def test_the_quick_depth_check_is_its_plain_definition():
    pages = [*soups(400, 1200), "<div>" * QUICK_RUN + "x", "<div>" * (QUICK_RUN - 1) + "</p>" + "<div>" * 200,
             "<div>\x02" * 300, "<\x02/div>" * 300 + "<div>" * QUICK_RUN]
    assert {plain_may_be_deep(page) for page in pages} == {False, True}
    for page in pages:
        assert _may_be_deep(page.encode()) == plain_may_be_deep(page), page[:200]


def test_too_few_start_tags_to_be_deep_is_a_proof(monkeypatch):
    """The exact pass never changes a page with at most MAX_DEPTH start marks, so skipping it
    loses nothing."""
    monkeypatch.setattr(tree, "_may_be_deep", lambda data: True)  # always run the exact pass
    shallow = [page for page in soups(300, 700) if page.count("<") - page.count("</") <= MAX_DEPTH]
    assert len(shallow) > 100
    for page in shallow:
        assert bound_depth(page) is page
    assert bound_depth("<div>" * (MAX_DEPTH + 1)) != "<div>" * (MAX_DEPTH + 1)  # the pass does run


def test_the_tag_scan_tokenises_like_the_plain_lazy_pattern():
    plain = re.compile(  # comments and raw text end at the first "-->" / end tag, one character at a time
        r"<(?:!--.*?(?:-->|\Z)"
        r"|(script|style|textarea|title|xmp|iframe|noembed|noframes)\b.*?(?:</\1\s*>|\Z)"
        r"|(/?)(?!(?:" + _NOT_NESTING + r")[\s/>])([a-zA-Z][^\s/>]*)([^>]*)(?:>|\Z))",
        re.DOTALL | re.IGNORECASE)
    for page in [*soups(2000, 60), "<!---->", "<!-- a -- b --->", "<script>a</scriptx></script>"]:
        assert ([(m.span(), m.groups()) for m in TAG_TOKEN.finditer(page)]
                == [(m.span(), m.groups()) for m in plain.finditer(page)]), page
