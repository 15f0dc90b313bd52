"""One page read into a :class:`Document`: the steps of the package docstring, in order."""

from __future__ import annotations

import datetime as dt
from codecs import BOM_UTF8
from dataclasses import dataclass

from ..encoding import decode_html
from .attachments import find_attachments
from .container import find_container, split_around
from .fields import find_fields
from .meta import Around, find_title, published, publisher, title_heading, title_nodes
from .model import Attachment, Document
from .render import clean_container, render_body
from .rules import BAD_CHAR, MAX_BAD_CHAR_SHARE, NOT_HTML_MAGIC, PAGE_URL, RELATED_LABEL, RELATED_LINE_OPENER
from .tree import parse, read_head, url_from_comments

__all__ = ["Options", "read_bytes"]

#: Characters of the body's opening searched for a date line.
_OPENING_CHARS = 300
#: Characters at the start of a page searched for its own URL in a comment.
_COMMENT_URL_CHARS = 3000
#: Characters of the page sampled for binary content.
_BINARY_SAMPLE = 4000


@dataclass(frozen=True)
class Options:
    """How to read a page: the page's URL, the source's body selector, the HTTP charset and the
    date the page was fetched (dates after its next year are not dates; None: no such check)."""

    url: str = ""
    body_selector: str = ""
    encoding: str | None = None
    today: dt.date | None = None


def read_bytes(raw: bytes, options: Options) -> Document:
    """Check the bytes are a page, decode them and read it (again with hidden elements if hiding
    them left no body: it may sit in an element a script shows)."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        return Document(problem="not bytes")
    raw = bytes(raw)
    if not raw.strip():
        return Document(problem="empty page")
    kind = next((k for magic, k in NOT_HTML_MAGIC if raw.lstrip()[:len(magic)] == magic), "")
    if kind:
        return Document(problem=f"not an HTML page: {kind}")
    text, encoding = decode_html(raw, options.encoding)
    sample = text[:_BINARY_SAMPLE]
    if len(BAD_CHAR.findall(sample)) > len(sample) * MAX_BAD_CHAR_SHARE:
        return Document(problem="not an HTML page: binary or undecodable bytes")
    # Bytes that are the text's UTF-8 already (decoded whole, nothing replaced or removed) are what
    # Lexbor parses: the text need not be encoded again.
    utf8 = (raw if encoding == "utf-8" and not raw.startswith(BOM_UTF8) and b"\x00" not in raw
            and "\ufffd" not in text else None)
    text = text.replace("\x00", "")
    url = options.url or url_from_comments(text[:_COMMENT_URL_CHARS], PAGE_URL)
    doc = read_page(text, url, options, drop_hidden=True, utf8=utf8)
    if not doc.body:
        retry = read_page(text, url, options, drop_hidden=False, utf8=utf8)
        if retry.body:
            return retry
    return doc


def read_page(text: str, url: str, options: Options, *, drop_hidden: bool,
              utf8: bytes | None = None) -> Document:
    """Steps 2–6: parse, fields, container, body, title, date, publisher. ``utf8``: the text's
    UTF-8, if at hand."""
    tree = parse(text, drop_hidden=drop_hidden, utf8=utf8)
    head = read_head(tree)
    root = tree.body or tree.root
    if root is None:
        return Document(title=head.title, problem="no body found")
    page_text = root.text(separator="\n")
    fields = find_fields(root, page_text)
    if fields.block is not None:  # never part of the body
        fields.block.decompose()
    nodes = title_nodes(root)
    heading = title_heading(nodes, head.title)
    found = find_container(root, options.body_selector, heading)
    container, problem = found.node, found.problem
    before, after = split_around(page_text, container)
    title = (find_title(head, nodes, heading, container, before)
             or fields.values.get("标题", "") or fields.values.get("名称", ""))
    body = ""
    attachments: tuple[Attachment, ...] = ()
    if container is not None:
        attachments = find_attachments(container, url)
        clean_container(container)
        body = render_body(container, title)
    if not body and not problem:
        problem = "no body found"
    opening = container.text(separator="\n")[:_OPENING_CHARS] if container is not None else ""
    after = _before_related(after)  # what follows is about other pages
    around = Around(before=before, after=after, opening=opening, fields=fields.values)
    return Document(title=title, published=published(root, around, head.meta, url, options.today),
                    publisher=publisher(fields.values, before, head.meta), body=body,
                    fields=fields.values, attachments=attachments, problem=problem)


def _before_related(text: str) -> str:
    """``text`` up to the line opening a related-content block (without that line's newline)."""
    for label in RELATED_LABEL.finditer(text):
        line_start = text.rfind("\n", 0, label.start()) + 1
        if RELATED_LINE_OPENER.fullmatch(text, line_start, label.start()):
            return text[:max(line_start - 1, 0)]
    return text
