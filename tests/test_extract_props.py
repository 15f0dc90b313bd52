"""Property tests: extract never raises and never returns None, whatever the bytes."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract import Attachment, Document, extract

FIXTURES = Path(__file__).parent / "fixtures" / "extract"
PAGES = [p.read_bytes() for p in sorted(FIXTURES.iterdir()) if p.is_file()]

#: Pieces that break HTML in interesting ways when spliced into a page.
FRAGMENTS = [b"<", b">", b"</div>", b"<div>", b"<table>", b"<tr><td>", b"</td></tr>", b"<!--", b"-->",
             b"<script>", b"</script>", b"<p style='display:none'>", b"&#0;", b"&#xD800;", b"\x00",
             b"\xff\xfe", b"\xe9", "索引号：".encode(), "发布日期：2024-13-45".encode(), b"<a href='::'>",
             b"<a href='http://[::1'>x.pdf</a>", b"<meta charset='utf-16'>", b"<br/>" * 3, b"\r\n"]

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(doc: object) -> None:
    assert isinstance(doc, Document)
    assert isinstance(doc.body, str) and isinstance(doc.title, str) and isinstance(doc.problem, str)
    assert isinstance(doc.fields, dict) and all(isinstance(a, Attachment) for a in doc.attachments)
    assert doc.body or doc.problem  # an empty body always says why
    assert not doc.problem.startswith("extraction failed"), doc.problem  # no internal error
    assert all(line == line.strip() and line for line in doc.body.split("\n")) or not doc.body


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(raw):
    check(extract(raw))


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' abcdivptrhl!-中文索引号：2024年")), max_size=400))
def test_arbitrary_markup_text(text):
    check(extract(text.encode("utf-8"), "http://x.gov.cn/a/t20240306_1.html"))


@SETTINGS
@given(st.sampled_from(PAGES),
       st.lists(st.tuples(st.floats(0, 1), st.integers(0, 400), st.sampled_from(FRAGMENTS)), max_size=8),
       st.sampled_from(["", "div", "#zoom", "p:nth-child(2)", "[[", "table td"]),
       st.sampled_from([None, "utf-8", "gbk", "latin-1", "bogus"]))
def test_mangled_pages(page, edits, selector, encoding):
    raw = bytearray(page)
    for where, cut, piece in edits:  # cut out a run of bytes and splice a fragment in
        i = int(where * len(raw))
        raw[i:i + cut] = piece
    check(extract(bytes(raw), "http://www.example.gov.cn/zw/202403/t20240306_1.html",
                  body_selector=selector, encoding=encoding))
