"""Finding the body container: the caller's selector, else a CMS family's container, else a
text-density score (readability style), widened to take in attachment links after a table."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from selectolax.lexbor import LexborNode, SelectolaxError

from ..text import squeeze
from .attachments import is_attachment
from .rules import (
    CONTENT_SELECTORS,
    INLINE_TAGS,
    MAX_WIDEN_CHARS,
    MIN_BODY_CHARS,
    MIN_DENSITY_CHARS,
    MIN_RIVAL_SHARE,
    SCORE_LEVELS,
    TABLE_PARTS,
    TOP_CANDIDATES,
)
from .tree import precedes

__all__ = ["Found", "find_container", "split_around"]


@dataclass(frozen=True)
class Found:
    """The body container (None when the page has none) and why it may be doubtful."""

    node: LexborNode | None
    problem: str = ""


@dataclass
class _Block:
    """A block element with the text of its own (not nested blocks') text nodes."""

    node: LexborNode
    chars: int = 0
    link_chars: int = 0
    punctuation: int = 0


@dataclass
class _Candidate:
    node: LexborNode
    score: float = 0.0


def find_container(root: LexborNode, body_selector: str = "", anchor: LexborNode | None = None) -> Found:
    """The body container. ``anchor`` is the document's heading, if known: the body follows it."""
    problem = ""
    if body_selector:
        try:
            matches = root.css(body_selector)
        except SelectolaxError:
            matches = []
            problem = f"body_selector {body_selector!r} is not valid CSS; body found automatically"
        best = _largest(matches)
        if best is not None and squeeze(best.text()):
            return Found(best)
        problem = problem or f"body_selector {body_selector!r} matched nothing; body found automatically"
    node = _by_selectors(root) or _by_density(root, anchor)
    if node is None and root.css_first("body *") and squeeze(root.text()):
        node = root  # a tiny page: its whole text is the body
    return Found(node, problem)


def _largest(nodes: list[LexborNode]) -> LexborNode | None:
    best, best_len = None, -1
    for node in nodes:
        n = len(squeeze(node.text()))
        if n > best_len:
            best, best_len = node, n
    return best


def content_chars(node: LexborNode) -> int:
    """Characters of text outside links (whitespace ignored)."""
    total = len(squeeze(node.text()))
    links = sum(len(squeeze(a.text())) for a in node.css("a"))
    return total - links


# -- known containers ---------------------------------------------------------------------------

def _by_selectors(root: LexborNode) -> LexborNode | None:
    """The container of a known CMS family holding the most text, if any holds enough."""
    best, best_chars = None, 0
    ids, singles, multis = _compiled_selectors(CONTENT_SELECTORS)
    for node in root.css("[id], [class]"):
        if node.id not in ids and not _has_classes(node, singles, multis):
            continue
        chars = content_chars(node)
        if chars < MIN_BODY_CHARS and not node.css_first("table tr + tr"):
            continue
        if chars > best_chars or best is None:
            best, best_chars = node, chars
    return best


@cache
def _compiled_selectors(
        selectors: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str], tuple[frozenset[str], ...]]:
    """``#id`` / ``.a`` / ``.a.b`` selectors → (ids, single classes, multi-class sets)."""
    ids = frozenset(s[1:] for s in selectors if s.startswith("#"))
    sets = [frozenset(s.split(".")[1:]) for s in selectors if s.startswith(".")]
    singles = frozenset(next(iter(c)) for c in sets if len(c) == 1)
    return ids, singles, tuple(c for c in sets if len(c) > 1)


def _has_classes(node: LexborNode, singles: frozenset[str], multis: tuple[frozenset[str], ...]) -> bool:
    value = node.attrs.get("class")
    if not value:
        return False
    tokens = value.split()
    if not singles.isdisjoint(tokens):
        return True
    return bool(multis) and any(wanted <= set(tokens) for wanted in multis)


# -- text density -------------------------------------------------------------------------------

def _by_density(root: LexborNode, anchor: LexborNode | None) -> LexborNode | None:
    """Readability-style: score blocks by their text, pass scores to ancestors, pick the best."""
    scores: dict[int, _Candidate] = {}
    for block in _blocks(root):
        if block.chars < MIN_DENSITY_CHARS:
            continue
        _pass_up(scores, block.node, 1 + block.punctuation + block.chars / 50)
    if not scores:
        return None
    ranked = sorted(scores.values(), key=lambda c: c.score, reverse=True)
    best = max(ranked[:TOP_CANDIDATES], key=_weighted)
    if anchor is not None and precedes(best.node, anchor):
        best = _after_anchor(ranked, anchor, best)
    return _widen_to_attachments(best.node)


def _weighted(candidate: _Candidate) -> float:
    return candidate.score * (1 - _link_density(candidate.node))


def _after_anchor(ranked: list[_Candidate], anchor: LexborNode, best: _Candidate) -> _Candidate:
    """The body follows the document's heading: a block before it (a sidebar) gives way to the
    best block after it, when that one holds a fair share of the text."""
    rivals = [c for c in ranked[:TOP_CANDIDATES * 2] if precedes(anchor, c.node)]
    if not rivals:
        return best
    rival = max(rivals, key=_weighted)
    return rival if _weighted(rival) >= MIN_RIVAL_SHARE * _weighted(best) else best


def _blocks(root: LexborNode) -> list[_Block]:
    """The blocks holding text, each with its text and link-text counts. The cells of a table row
    count together (a row of short cells is one line of text)."""
    blocks: dict[int, _Block] = {}
    for node in root.traverse(include_text=True):
        if not node.is_text_node:
            continue
        text = node.text_content or ""
        n = len(squeeze(text))
        if not n:
            continue
        block, in_link = _block_of(node)
        if block is None:
            continue
        entry = blocks.get(block.mem_id)
        if entry is None:
            entry = blocks[block.mem_id] = _Block(block)
        if in_link:
            entry.link_chars += n
        else:
            entry.chars += n
    for entry in blocks.values():
        own = entry.node.text(deep=False)
        entry.punctuation = own.count("，") + own.count("。") + own.count(",")
    return list(blocks.values())


def _block_of(node: LexborNode) -> tuple[LexborNode | None, bool]:
    """The nearest ancestor that is not inline (a table cell's row), and whether the way up
    crossed a link."""
    in_link = False
    parent = node.parent
    while parent is not None and parent.tag in INLINE_TAGS:
        in_link = in_link or parent.tag == "a"
        parent = parent.parent
    if parent is not None and parent.tag in ("p", "div") and _tag(parent.parent) in ("td", "th"):
        parent = parent.parent  # a paragraph in a cell (tables pasted from Word) is the cell's text
    if parent is not None and parent.tag in ("td", "th") and _tag(parent.parent) == "tr":
        parent = parent.parent  # the cells of a row are one line of text
    return parent, in_link


def _tag(node: LexborNode | None) -> str:
    return (node.tag or "") if node is not None else ""


def _pass_up(scores: dict[int, _Candidate], block: LexborNode, points: float) -> None:
    node: LexborNode | None = block
    level = 0
    if block.tag in ("p", "span", "font", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "br"):
        node = block.parent
    while node is not None and level < SCORE_LEVELS:
        tag = node.tag or ""
        if tag in TABLE_PARTS:
            node = node.parent
            continue
        if tag in ("html", "body") or tag.startswith("-"):
            break
        entry = scores.get(node.mem_id)
        if entry is None:
            entry = scores[node.mem_id] = _Candidate(node)
        entry.score += points / (1 + level)
        level += 1
        node = node.parent


def _link_density(node: LexborNode) -> float:
    total = len(squeeze(node.text())) or 1
    links = sum(len(squeeze(a.text())) for a in node.css("a"))
    return min(links / total, 1.0)


def _widen_to_attachments(node: LexborNode) -> LexborNode:
    """Climb to the parent while it adds attachment links and hardly any other text."""
    own = content_chars(node)
    own_files = _count_attachment_links(node)
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        chars, files = content_chars(parent), _count_attachment_links(parent)
        if files <= own_files or chars - own > MAX_WIDEN_CHARS:
            break
        node, own, own_files, parent = parent, chars, files, parent.parent
    return node


def _count_attachment_links(node: LexborNode) -> int:
    return sum(1 for a in node.css("a[href]") if is_attachment(a.attrs.get("href") or ""))


def split_around(page_text: str, container: LexborNode | None) -> tuple[str, str]:
    """The page's text before and after the body container."""
    if container is None:
        return page_text, ""
    body_text = container.text(separator="\n")
    if not body_text.strip():
        return page_text, ""
    i = page_text.find(body_text)
    if i >= 0:
        return page_text[:i], page_text[i + len(body_text):]
    # Something inside the container was removed since: locate its first and last text.
    head, tail = body_text[:80], body_text[-80:]
    i = page_text.find(head)
    if i < 0:
        return page_text, ""
    j = page_text.find(tail, i)
    return page_text[:i], page_text[j + len(tail):] if j >= 0 else ""
