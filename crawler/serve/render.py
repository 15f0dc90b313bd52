"""A diff (crawler.diff's text form) as HTML: every character escaped, changes coloured."""

from __future__ import annotations

import difflib

from markupsafe import Markup, escape

from ..diff import ADDED, REMOVED

__all__ = ["render_diff"]

_LINE = ('<span style="display:block;background:{bg}">{text}</span>')
_MARK = '<mark style="background:{bg};padding:0">{text}</mark>'
#: Paragraph pairs longer than this (product of lengths) are not compared character by character.
MAX_CHARACTER_DIFF = 4_000_000
_COLOURS = {ADDED: ("#e6ffec", "#abf2bc"), REMOVED: ("#ffebe9", "#ffc1bd")}


def _marked(text: str, spans: list[tuple[int, int]], prefix: str) -> Markup:
    """``text`` escaped, with the character ranges in ``spans`` highlighted."""
    out, at = [], 0
    for start, end in spans:
        out.append(escape(text[at:start]))
        out.append(Markup(_MARK).format(bg=_COLOURS[prefix][1], text=text[start:end]))
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


def _render_block(removed: list[str], added: list[str]) -> list[Markup]:
    """A run of removed then added paragraphs; paired ones get their changed characters marked."""
    spans_old: list[list[tuple[int, int]]] = [[] for _ in removed]
    spans_new: list[list[tuple[int, int]]] = [[] for _ in added]
    if len(removed) == len(added):
        for k, (old, new) in enumerate(zip(removed, added, strict=False)):
            if len(old) * len(new) > MAX_CHARACTER_DIFF:
                continue
            matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
            if matcher.ratio() < 0.5:
                continue
            for tag, a1, a2, b1, b2 in matcher.get_opcodes():
                if tag != "equal":
                    if a2 > a1:
                        spans_old[k].append((a1, a2))
                    if b2 > b1:
                        spans_new[k].append((b1, b2))
    lines = []
    for prefix, texts, spans in ((REMOVED, removed, spans_old), (ADDED, added, spans_new)):
        for text, marks in zip(texts, spans, strict=False):
            body = _marked(text, marks, prefix)
            lines.append(Markup(_LINE).format(bg=_COLOURS[prefix][0], text=Markup(escape(prefix)) + body))
    return lines


def render_diff(diff: str) -> Markup:
    """A ``diff_text`` result as HTML: every character of it escaped, added and removed paragraphs
    coloured, the changed characters of a changed paragraph marked."""
    html: list[Markup] = []
    removed: list[str] = []
    added: list[str] = []
    for line in diff.splitlines():
        if line.startswith(REMOVED) and not added:
            removed.append(line[len(REMOVED):])
            continue
        if line.startswith(ADDED):
            added.append(line[len(ADDED):])
            continue
        if removed or added:
            html += _render_block(removed, added)
            removed, added = [], []
        if line.startswith(REMOVED):
            removed.append(line[len(REMOVED):])
        else:
            html.append(Markup('<span style="display:block;color:#666">{}</span>').format(line))
    if removed or added:
        html += _render_block(removed, added)
    return Markup('<pre class="govarchive-diff" style="white-space:pre-wrap;margin:0;font-family:inherit">'
                  '{}</pre>').format(Markup("").join(html))


