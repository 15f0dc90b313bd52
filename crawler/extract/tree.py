"""The parsed page: bounded parsing, removal of what is never content, ``<head>`` values, and the
small questions about nodes (where is it, what is it called) the other modules ask."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from ..text import clean
from .rules import (
    HIDDEN_CLASSES,
    HIDDEN_STYLE,
    HTML_CONTAINERS,
    JUNK_TAGS,
    MAX_DEPTH,
    MAYBE_HIDDEN_SELECTOR,
    QUICK_RUN,
    TAG_TOKEN,
)

__all__ = ["Head", "bound_depth", "inside", "is_named", "parse", "precedes", "read_head", "url_from_comments"]


@dataclass(frozen=True)
class Head:
    """``<title>`` and the ``<meta name/property/itemprop>`` values (names lower-cased, first wins)."""

    title: str = ""
    meta: dict[str, str] = field(default_factory=dict)


#: Where end tags may be text (comments, raw-text elements), as written in most pages.
_HIDING_OPENER = re.compile(rb"<(?:!--|script|style|textarea)", re.IGNORECASE)
#: :data:`QUICK_RUN` start tags in a row, in the marks of :func:`_may_be_deep`.
_RUN = b"<" * QUICK_RUN
#: Every byte but the marks of :func:`_may_be_deep` (``<`` starts a tag, 0x02 ends one).
_NOT_MARKS = bytes(b for b in range(256) if b not in (0x02, ord("<")))
_JUNK = ", ".join(JUNK_TAGS)
_JUNK_OR_HIDDEN = ", ".join(JUNK_TAGS + HIDDEN_CLASSES)


# -- parsing -----------------------------------------------------------------------------------

def bound_depth(html: str) -> str:
    """``html`` with start tags nested deeper than :data:`MAX_DEPTH` dropped (and their end tags).

    A quick check first (:func:`_may_be_deep`); when it fails, one pass over the tags,
    counting the elements that nest (not void ones, not the ones a sibling start tag closes) by
    name; comments and raw text are skipped whole. A page within the bound comes back unchanged
    (the same object). A page crafted to look shallow to the quick check (stray end tags of other
    names between its start tags) is left to the caller's deadline
    (:class:`crawler.workers.WorkerPool`)."""
    return _bounded(html) if _may_be_deep(_utf8(html)) else html


def _bounded(html: str) -> str:
    """:func:`bound_depth`'s exact pass."""
    depth = 0
    opened: dict[str, int] = {}  # dicts, not Counters: a Counter's missing key costs a Python call
    dropped: dict[str, int] = {}
    cuts: list[tuple[int, int]] = []
    for m in TAG_TOKEN.finditer(html):
        end_tag, name, rest = m.group(2, 3, 4)
        if name is None:
            continue
        name = name.lower()
        if end_tag:
            if dropped.get(name):
                dropped[name] -= 1
                cuts.append(m.span())
            elif opened.get(name):
                opened[name] -= 1
                depth -= 1
        elif not rest.endswith("/") or name in HTML_CONTAINERS:
            if depth >= MAX_DEPTH:
                dropped[name] = dropped.get(name, 0) + 1
                cuts.append(m.span())
            else:
                opened[name] = opened.get(name, 0) + 1
                depth += 1
    return _cut(html, cuts) if cuts else html


def _utf8(html: str) -> bytes:
    """What Lexbor parses: selectolax encodes a str exactly so (given these bytes, it parses them as
    they are, so the page is encoded once for the depth check and the parse)."""
    return html.encode("utf-8", "ignore")


def _may_be_deep(data: bytes) -> bool:
    """Whether some run of :data:`QUICK_RUN` start tags in the page's UTF-8 ``data`` has no end
    tag between them (every deep nest has one); False, proven, when the page has too few start
    tags to nest that deep. In C (bytes replace, translate, count): a Python loop over every tag
    would cost more than parsing the page."""
    if b"\x02" in data:  # rare: it would read as an end tag below
        data = data.translate(None, b"\x02")
    # "</" → 0x02 and every other "<" kept, nothing else (a same-length replacement, twice as fast).
    marks = data.replace(b"</", b"\x02/").translate(None, _NOT_MARKS)
    if marks.count(b"<") <= MAX_DEPTH:
        return False
    if len(_HIDING_OPENER.findall(data)) > QUICK_RUN:
        return True  # end tags inside comments or scripts could hide a nest from the runs
    return _RUN in marks


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    parts, last = [], 0
    for start, end in spans:
        parts.append(text[last:start])
        last = end
    parts.append(text[last:])
    return "".join(parts)


def parse(html: str, *, drop_hidden: bool, utf8: bytes | None = None) -> LexborHTMLParser:
    """The page parsed (depth bounded), without scripts, styles, form controls and, when asked,
    hidden elements (inline style, ``hidden``, ng-hide …). ``utf8``: ``html`` encoded, if at hand."""
    data = _utf8(html) if utf8 is None else utf8
    tree = LexborHTMLParser(_utf8(_bounded(html)) if _may_be_deep(data) else data)
    _remove(tree, _JUNK_OR_HIDDEN if drop_hidden else _JUNK)  # one walk of the tree for both
    if drop_hidden:
        for node in tree.css(MAYBE_HIDDEN_SELECTOR):
            style = node.attrs.get("style") or ""
            if (HIDDEN_STYLE.search(style) or "hidden" in node.attrs) and node.tag not in ("html", "body"):
                node.decompose()
    return tree


def _remove(tree: LexborHTMLParser, selector: str) -> None:
    # Lexbor only unlinks removed nodes, so removing a node inside an already removed one is safe.
    for node in tree.css(selector):
        if node.tag not in ("html", "body"):
            node.decompose()


def read_head(tree: LexborHTMLParser) -> Head:
    meta: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        name = (attrs.get("name") or attrs.get("property") or attrs.get("itemprop") or "").strip()
        content = clean(attrs.get("content") or "")
        if name and content and name.lower() not in meta:
            meta[name.lower()] = content
    title_node = tree.css_first("title")
    return Head(title=clean(title_node.text()) if title_node else "", meta=meta)


def url_from_comments(start: str, patterns: tuple[re.Pattern[str], ...]) -> str:
    """The page's own URL, as a browser's "save as" or HTTrack wrote it in a comment."""
    for pattern in patterns:
        m = pattern.search(start)
        if m:
            found = m.group(1)
            return found if "://" in found else "http://" + found
    return ""


# -- nodes -------------------------------------------------------------------------------------

def is_named(node: LexborNode, markers: tuple[str, ...]) -> bool:
    """Whether the node's class or id (lower-cased) contains one of ``markers``: where widgets say
    what they are."""
    name = ((node.attrs.get("class") or "") + " " + (node.id or "")).lower()
    return any(map(name.__contains__, markers))  # map: no generator frame per marker


def inside(node: LexborNode | None, container: LexborNode) -> bool:
    """Whether ``node`` is ``container`` or within it."""
    target = container.mem_id
    while node is not None:
        if node.mem_id == target:
            return True
        node = node.parent
    return False


def _path(node: LexborNode | None) -> list[LexborNode]:
    path = []
    while node is not None:
        path.append(node)
        node = node.parent
    return path[::-1]


def precedes(a: LexborNode, b: LexborNode) -> bool:
    """Whether element ``a`` comes before element ``b`` in document order (neither inside the other)."""
    pa, pb = _path(a), _path(b)
    i = 0
    while i < min(len(pa), len(pb)) and pa[i].mem_id == pb[i].mem_id:
        i += 1
    if i >= len(pa) or i >= len(pb):
        return False
    target, sib = pb[i].mem_id, pa[i].next
    while sib is not None:
        if sib.mem_id == target:
            return True
        sib = sib.next
    return False
