"""Rendering the body: noise widgets and link lists removed, text as lines (blocks and ``<br>``
break lines; a data table is one line per row, cells tab-separated), noise lines dropped, a
signature/date just after the container kept."""

from __future__ import annotations

from itertools import islice

from selectolax.lexbor import LexborNode

from ..text import clean, squeeze
from .attachments import is_page_link
from .rules import (
    BLOCK_TAGS,
    BODY_NOISE_MARKERS,
    FIELD_ANCHORS,
    FIELD_LABEL_ALONE,
    FOOTER_MARKERS,
    LABEL_COLONS,
    LINE_BREAKING,
    LINK_LIST_SELECTOR,
    META_LINE_LABEL,
    MIN_FIELD_LABELS,
    MIN_LINK_LIST_DENSITY,
    MIN_LINK_LIST_LINKS,
    NOISE_LINE,
    SIGNATURE_DATE_RE,
    SIGNATURE_SIBLINGS,
    TAG_FRAGMENT,
    WEAK_FOOTER_MARKERS,
    WEAK_META_LINE_LABEL,
)
from .tree import is_named

__all__ = ["clean_container", "is_footer", "is_noise_line", "render_body", "render_lines"]

#: Tags that end the line before them and start a new one after them.
_LINE_TAGS = BLOCK_TAGS | {"td", "th"}
#: A "signature" that is an element holding more than a short line: ends the search.
_NOT_A_LINE = "\x00"


# -- cleaning ------------------------------------------------------------------------------------

def clean_container(container: LexborNode) -> None:
    """Remove noise widgets and link lists inside the body (never the container itself)."""
    for node in container.css("[id], [class]"):
        if node.mem_id == container.mem_id or node.tag in ("body", "html"):
            continue
        if is_named(node, BODY_NOISE_MARKERS) and not _holds_much(node, container):
            node.decompose()
    for node in container.css(LINK_LIST_SELECTOR):
        if node.mem_id != container.mem_id and _is_link_list(node):
            node.decompose()


def _is_link_list(node: LexborNode) -> bool:
    """Mostly links to other pages (related articles, a menu): not the document."""
    links = [a for a in node.css("a[href]") if is_page_link(a.attrs.get("href") or "")]
    if len(links) < MIN_LINK_LIST_LINKS:
        return False
    total = len(squeeze(node.text())) or 1
    return sum(len(squeeze(a.text())) for a in links) / total >= MIN_LINK_LIST_DENSITY


def _holds_much(node: LexborNode, container: LexborNode) -> bool:
    """A 'noise' match holding most of the body is a mis-named wrapper: keep it."""
    inner = len(squeeze(node.text()))
    return inner > 200 and inner > len(squeeze(container.text())) * 0.3


# -- lines ---------------------------------------------------------------------------------------

def render_body(container: LexborNode, title: str) -> str:
    lines = render_lines(container)
    lines += _signature_after(container)
    lines = [TAG_FRAGMENT.sub("", line).strip() for line in lines]
    lines = [line for line in lines if line and not is_noise_line(line)]
    lines = _trim_edges(lines, title)
    return "\n".join(lines)


class _Lines:
    """Lines being written: text is buffered until a block boundary ends the line."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._buf: list[str] = []

    def add(self, text: str) -> None:
        self._buf.append(text)

    def end(self) -> None:
        if self._buf:
            line = clean("".join(self._buf))
            if line:
                self.lines.append(line)
            self._buf.clear()

    def block(self, text: str) -> None:
        self.end()
        self.add(text)
        self.end()


def render_lines(node: LexborNode, skeleton: set[int] | None = None) -> list[str]:
    """The text of ``node`` as lines: blocks and ``<br>`` break lines, table rows are lines."""
    if skeleton is None:
        skeleton = _skeleton(node)
    if node.tag in ("tbody", "thead", "tfoot", "tr") or (node.tag == "table" and _is_data_table(node)):
        return _table_rows(node, skeleton)
    out = _Lines()
    stack: list[LexborNode | None] = [node]  # None: the end of a block
    while stack:
        item = stack.pop()
        if item is None:  # the end of a block
            out.end()
            continue
        tag = item.tag or ""
        if tag == "-text":
            out.add(item.text_content or "")
        elif tag.startswith("-"):
            continue
        elif tag in ("br", "hr"):
            out.end()
        elif item.mem_id not in skeleton:  # nothing inside breaks lines: Lexbor gives the text
            (out.block if tag in _LINE_TAGS else out.add)(item.text())
        elif tag == "table" and item is not node and _is_data_table(item):
            out.end()
            out.lines.extend(_table_rows(item, skeleton))
        else:
            if tag in _LINE_TAGS or item is node:
                out.end()
                stack.append(None)
            stack.extend(reversed(list(item.iter(include_text=True))))
    out.end()
    return out.lines


def _skeleton(node: LexborNode) -> set[int]:
    """mem_ids of the elements under ``node`` (and itself) that hold a line-breaking element."""
    marked: set[int] = set()
    top = node.mem_id
    # A walk testing tag names in Python: a CSS list of 40 tag names costs Lexbor 40 tests per element.
    for inner in islice(node.traverse(), 1, None):  # the node itself comes first
        if inner.tag not in LINE_BREAKING:
            continue
        parent = inner.parent
        while parent is not None and (parent_id := parent.mem_id) not in marked:
            marked.add(parent_id)
            if parent_id == top:
                break
            parent = parent.parent
    marked.add(top)
    return marked


def _is_data_table(table: LexborNode) -> bool:
    """A table of rows and cells, not a layout grid wrapping the page or one column of text."""
    if len(table.css("table")) > 1:  # Lexbor's css() matches the node itself too
        return False
    rows = table.css("tr")
    return any(len(row.css("td, th")) > 1 for row in rows[:20])


def _table_rows(table: LexborNode, skeleton: set[int]) -> list[str]:
    out = []
    for row in [table] if table.tag == "tr" else table.css("tr"):
        cells = [" ".join(render_lines(cell, skeleton)) for cell in row.css("td, th")]
        if any(cells):
            out.append("\t".join(cells))
    return out


# -- noise lines ---------------------------------------------------------------------------------

def is_noise_line(line: str) -> bool:
    s = squeeze(line)
    if not s:
        return True
    if NOISE_LINE.match(s):
        return True
    if not any(map(s.__contains__, LABEL_COLONS)):  # quick: most lines have none
        return False
    if len(s) < 120:  # 来源：… 发布时间：… 点击数：
        strong = set(META_LINE_LABEL.findall(line))
        if strong and len(strong) + len(set(WEAK_META_LINE_LABEL.findall(line))) >= 2:
            return True
    if len(s) < 300:  # a flattened 信息公开 block
        labels = set(FIELD_LABEL_ALONE.findall(line))
        if len(labels) >= MIN_FIELD_LABELS and labels.intersection(FIELD_ANCHORS):
            return True
    return False


def _trim_edges(lines: list[str], title: str) -> list[str]:
    """Drop the repeated title at the top and footer / single meta-label lines at both ends."""
    t = squeeze(title)
    while lines and ((t and squeeze(lines[0]) == t) or _is_edge_noise(lines[0])):
        lines = lines[1:]
    while lines and (_is_edge_noise(lines[-1]) or is_footer(lines[-1])):
        lines = lines[:-1]
    return lines


def _is_edge_noise(line: str) -> bool:
    s = squeeze(line)
    if len(s) >= 60 or SIGNATURE_DATE_RE.search(s):
        return False
    return bool(META_LINE_LABEL.match(s) or WEAK_META_LINE_LABEL.match(s))


def is_footer(line: str) -> bool:
    if len(line) >= 200:
        return False
    if any(map(line.__contains__, FOOTER_MARKERS)):
        return True
    return sum(map(line.__contains__, WEAK_FOOTER_MARKERS)) >= 2


def _signature_after(container: LexborNode) -> list[str]:
    """Short signature/date lines placed right after the container (outside it)."""
    found: list[str] = []
    node = container.next
    checked = 0
    while node is not None and checked < SIGNATURE_SIBLINGS:
        text = _sibling_line(node)
        if text:
            checked += 1
            if len(text) > 60 or text == _NOT_A_LINE or is_noise_line(text) or is_footer(text):
                break
            found.append(text)
            if SIGNATURE_DATE_RE.search(text):
                return found
        node = node.next
    return []


def _sibling_line(node: LexborNode) -> str:
    """A sibling's text as one line; :data:`_NOT_A_LINE` for an element holding links, images or
    tables."""
    if node.is_text_node:
        return clean(node.text_content or "")
    if node.is_element_node:
        return ("" if node.css_first("a, img, table") else clean(node.text(separator=" "))) or _NOT_A_LINE
    return ""
