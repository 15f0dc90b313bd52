"""The 信息公开 metadata block: the label/value table or list around 索引号/发布机构/文号 …, read
into ``fields`` and taken out of the page."""

from __future__ import annotations

from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from ..text import clean, squeeze
from .render import render_lines
from .rules import (
    ANY_FIELD_LABEL,
    FIELD_ANCHORS,
    FIELD_LABEL,
    FIELD_LABEL_CELL,
    FIELD_LABELS,
    FIELD_PAIR,
    MAX_CHARS_PER_NEW_LABEL,
    MAX_FIELD_BLOCK_CHARS,
    MIN_FIELD_LABELS,
)

__all__ = ["Fields", "find_fields"]

#: Text nodes holding an anchor label looked at, per label.
_ANCHOR_NODES = 4


@dataclass(frozen=True)
class Fields:
    """The fields read (label → value) and the element that held them (None when none did)."""

    values: dict[str, str] = field(default_factory=dict)
    block: LexborNode | None = None


def find_fields(root: LexborNode, page_text: str) -> Fields:
    """The 信息公开 fields and the element holding them."""
    if not any(anchor in page_text for anchor in FIELD_ANCHORS):
        return Fields()
    block = _field_block(root, page_text)
    if block is None:
        return Fields()
    return Fields(parse_fields(render_lines(block)), block)


def _field_block(root: LexborNode, page_text: str) -> LexborNode | None:
    """The smallest element around an anchor label that holds several field labels."""
    for anchor in FIELD_ANCHORS:
        if anchor not in page_text:  # then in no text node: no walk of the page for it
            continue
        for node in _text_nodes_with(root, anchor):
            block = _grow_field_block(node)
            if block is not None:
                return block
    return None


def _text_nodes_with(root: LexborNode, needle: str) -> list[LexborNode]:
    found = []
    for node in root.traverse(include_text=True):
        if node.is_text_node and needle in (node.text_content or ""):
            found.append(node)
            if len(found) >= _ANCHOR_NODES:
                break
    return found


def _grow_field_block(node: LexborNode) -> LexborNode | None:
    """Climb from the anchor while each step brings in more labels, and little else with them
    (and the block stays small)."""
    best, best_count, best_chars = None, 0, 0
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        text = parent.text()
        chars = len(squeeze(text))
        if chars > MAX_FIELD_BLOCK_CHARS:
            break
        count = _count_labels(parent, text)
        if best is None and count >= MIN_FIELD_LABELS:
            best, best_count, best_chars = parent, count, chars
        elif best is not None:
            if count <= best_count or chars - best_chars > MAX_CHARS_PER_NEW_LABEL * (count - best_count):
                break
            best, best_count, best_chars = parent, count, chars
        parent = parent.parent
    return best


def _count_labels(node: LexborNode, text: str) -> int:
    """Distinct field labels in ``node``: followed by a colon, or alone in a cell or line."""
    labels = set(FIELD_LABEL.findall(text))
    labels.update(_label_cells(node.text(separator="\n")))
    return len(labels)


def _label_cells(text: str) -> list[str]:
    """The labels alone on their line (spaces before, a colon at most after)."""
    cells, searched = [], 0
    for label in ANY_FIELD_LABEL.finditer(text):
        start = label.start()
        line_start = text.rfind("\n", searched, start) + 1  # looked for since the last label only
        alone = (line_start or not searched) and not text[line_start:start].strip()
        searched = label.end()
        cell = FIELD_LABEL_CELL.match(text, start) if alone else None
        if cell:
            cells.append(cell.group(1))
    return cells


def parse_fields(lines: list[str]) -> dict[str, str]:
    """``label：value`` pairs; a label cell followed by a value cell counts too."""
    fields: dict[str, str] = {}
    cells = [c.strip() for line in lines for c in line.split("\t")]
    text = "\t".join(cells)
    for label, value in FIELD_PAIR.findall(text):
        if label not in fields and (value or label in FIELD_LABELS):
            fields[label] = clean(value)
    for i, cell in enumerate(cells[:-1]):  # label cell, value cell
        label = cell.rstrip(":： ")
        if label in FIELD_LABELS and not fields.get(label) and not FIELD_LABEL.match(cells[i + 1]):
            fields[label] = clean(cells[i + 1])
    return {k: v for k, v in fields.items() if v and (k in FIELD_LABELS or len(k) <= 6)}
