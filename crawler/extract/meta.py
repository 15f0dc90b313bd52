"""Title, publish date and publisher, from the page around the body: meta ArticleTitle or a
heading, 发布日期/发布时间 fields and lines (never 成文日期), meta PubDate, the URL."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from selectolax.lexbor import LexborNode

from ..text import clean, squeeze
from .attachments import url_path
from .rules import (
    DATE_ELEMENT_SELECTOR,
    DATE_LABEL_END,
    DATE_LABEL_LEAD,
    DATE_RE,
    LABELLED_DATE,
    LOOSE_DATE_LABELS,
    META_DATE_NAMES,
    META_LINE_LABEL,
    META_SOURCE_NAMES,
    META_TITLE_NAMES,
    NEAR_BODY_CHARS,
    NOT_PUBLISH_DATE,
    NOT_TITLES,
    PUBLISH_DATE_FIELDS,
    PUBLISH_DATE_LABELS,
    PUBLISHER_FIELDS,
    SOURCE_RE,
    TITLE_CUT,
    TITLE_SELECTOR,
    TITLE_SUFFIX_SPLIT,
    URL_DATES,
)
from .tree import Head, inside, precedes

__all__ = ["Around", "find_title", "published", "publisher", "title_heading", "title_nodes"]

#: The earliest date a government page can carry.
_FIRST_YEAR = 1949
#: Date elements (#pubTime, .pubDate …) looked at.
_DATE_ELEMENTS = 12


@dataclass(frozen=True)
class Around:
    """What surrounds the body: the page's text before and after it, and the body's opening."""

    before: str = ""
    after: str = ""
    opening: str = ""
    fields: dict[str, str] = field(default_factory=dict)


# -- title ---------------------------------------------------------------------------------------

def title_nodes(root: LexborNode) -> list[LexborNode]:
    """Where a title may be shown (headings and title-named elements), in document order."""
    return root.css(TITLE_SELECTOR)


def find_title(head: Head, nodes: list[LexborNode], heading: LexborNode | None,
               container: LexborNode | None, before: str) -> str:
    """meta ArticleTitle; else a heading ``<title>`` contains; else ``<title>`` cut to a line
    shown on the page or opening the body; else the heading before the body; else ``<title>``
    without the site name. ``heading`` is :func:`title_heading`'s answer."""
    meta_title = next((head.meta[n] for n in META_TITLE_NAMES if head.meta.get(n)), "")
    if meta_title and not _is_site_name(meta_title, head.meta):
        return meta_title
    if heading is not None:
        return clean(heading.text(separator=" "))
    return (_title_line(head.title, before) or _title_opening_body(head.title, container, head.meta)
            or _heading_before(nodes, container) or _strip_site_suffix(head.title, head.meta))


def _is_site_name(text: str, meta: dict[str, str]) -> bool:
    return text in (meta.get("sitename", ""), meta.get("columnname", ""))


def title_heading(nodes: list[LexborNode], page_title: str) -> LexborNode | None:
    """The longest heading on the page that ``<title>`` contains (not a mere column name)."""
    key = squeeze(page_title)
    if not key:
        return None
    short = len(squeeze(_strip_site_suffix(page_title, {})))
    parts = {squeeze(part) for part in TITLE_SUFFIX_SPLIT.split(page_title)}
    best, best_len = None, 0
    for node in nodes:
        s = squeeze(node.text(separator=" "))
        if len(s) < 4 or len(s) > 200 or s.startswith(NOT_TITLES):
            continue
        if (len(s) < 8 and len(s) < 0.5 * short) or len(s) <= best_len:
            continue
        if key.startswith(s) or s in parts:  # the start of <title>, or one whole part of it
            best, best_len = node, len(s)
    return best


def _title_opening_body(page_title: str, container: LexborNode | None, meta: dict[str, str]) -> str:
    """``<title>`` without the site name, when the body starts with it (the heading is inside)."""
    if container is None:
        return ""
    candidate = _strip_site_suffix(page_title, meta)
    s = squeeze(candidate)
    if len(s) < 6 or _is_site_name(candidate, meta):
        return ""
    return candidate if 0 <= squeeze(container.text()[:400]).find(s) <= 20 else ""


def _heading_before(nodes: list[LexborNode], container: LexborNode | None) -> str:
    """The last heading-like element before the body container (document order)."""
    if container is None:
        return ""
    best = ""
    for node in nodes:
        if inside(container, node) or inside(node, container):
            continue
        text = clean(node.text(separator=" "))
        s = squeeze(text)
        if not 6 <= len(s) <= 120 or s.startswith(NOT_TITLES):
            continue
        if LABELLED_DATE.search(text) or ":" in s or "：" in s:
            continue
        if (node.tag in ("h1", "h2", "h3", "h4", "h5") or len(s) >= 8) and precedes(node, container):
            best = text
    return best


def _title_line(page_title: str, page_text: str) -> str:
    """The longest start of ``<title>`` (cut at a separator) shown as a line of the page."""
    lines = {squeeze(line) for line in page_text.split("\n") if 8 <= len(line.strip()) <= 200}
    cuts = [m.start() for m in TITLE_CUT.finditer(page_title)] + [len(page_title)]
    for cut in sorted(set(cuts), reverse=True):
        head = page_title[:cut].strip()
        if len(squeeze(head)) >= 8 and squeeze(head) in lines:
            return head
    return ""


def _strip_site_suffix(page_title: str, meta: dict[str, str]) -> str:
    parts = [p for p in TITLE_SUFFIX_SPLIT.split(page_title) if p.strip()]
    if not parts:
        return page_title
    site = meta.get("sitename", "")
    parts = [p for p in parts if p != site] or parts
    return max(parts, key=len) if len(parts[0]) < 6 else parts[0]


# -- date ----------------------------------------------------------------------------------------

def published(root: LexborNode, around: Around, meta: dict[str, str], url: str,
              today: dt.date | None) -> dt.date | None:
    """发布日期 field; else the labelled date nearest before the body, at its top (strong
    labels only) or after it; else a date element, meta PubDate, the URL, a bare date.
    With ``today``, a date more than a year after it is not a date."""
    for key in PUBLISH_DATE_FIELDS:
        day = _parse_date(around.fields.get(key, ""), today)
        if day:
            return day
    day = (_labelled_date(around.before, today, last=True)
           or _labelled_date(around.opening, today, last=False, allow_loose=False)
           or _labelled_date(around.after, today, last=False))
    if day:
        return day
    day = _date_element(root, around.before[-NEAR_BODY_CHARS:] + around.opening, today)
    if day:
        return day
    for name in META_DATE_NAMES:
        day = _parse_date(meta.get(name, ""), today)
        if day:
            return day
    return _date_from_url(url, today) or _unlabelled_date(around.before[-200:], today)


def _to_date(ymd: Sequence[str], today: dt.date | None) -> dt.date | None:
    """Year, month, day as a date, if it is one a page can carry."""
    try:
        day = dt.date(int(ymd[0]), int(ymd[1]), int(ymd[2]))
    except (ValueError, OverflowError):
        return None
    if day.year < _FIRST_YEAR or (today is not None and day.year > today.year + 1):
        return None
    return day


def _parse_date(text: str, today: dt.date | None) -> dt.date | None:
    m = DATE_RE.search(text or "")
    return _to_date(m.group(1, 2, 3), today) if m else None


def _labelled_date(text: str, today: dt.date | None, *, last: bool,
                   allow_loose: bool = True) -> dt.date | None:
    """A date after 发布日期/发布时间 (or a bare 日期/时间 label); never 成文日期 and the like."""
    strong, loose = [], []
    for m in _labelled_dates(text):
        label = m.group(1)
        if any(map(label.__contains__, NOT_PUBLISH_DATE)):
            continue
        day = _to_date(m.group(2, 3, 4), today)
        if day is None:
            continue
        if label.endswith(PUBLISH_DATE_LABELS):
            strong.append(day)
        elif label in LOOSE_DATE_LABELS:
            loose.append(day)
    for found in (strong, loose) if allow_loose else (strong,):
        if found:
            return found[-1] if last else found[0]
    return None


def _labelled_dates(text: str) -> Iterator[re.Match[str]]:
    """``LABELLED_DATE.finditer(text)``, faster: a match starts at most :data:`DATE_LABEL_LEAD`
    characters before the end of its label (日期/时间), so only those starts are tried."""
    pos = 0
    for end in DATE_LABEL_END.finditer(text):
        for start in range(max(pos, end.start() - DATE_LABEL_LEAD), end.start() + 1):
            m = LABELLED_DATE.match(text, start)
            if m:
                yield m
                pos = m.end()
                break


def _unlabelled_date(text: str, today: dt.date | None) -> dt.date | None:
    for groups in reversed(DATE_RE.findall(text)):
        day = _to_date(groups, today)
        if day:
            return day
    return None


def _date_from_url(url: str, today: dt.date | None) -> dt.date | None:
    path = url_path(url)
    for pattern in URL_DATES:
        m = pattern.search(path)
        if m:
            day = _to_date(m.group(1, 2, 3), today)
            if day:
                return day
    return None


def _date_element(root: LexborNode, near: str, today: dt.date | None) -> dt.date | None:
    """A date in an element named for it (#pubTime, .pubDate …) shown close to the body
    (a header's today's-date widget is not)."""
    near = squeeze(near)
    for node in root.css(DATE_ELEMENT_SELECTOR)[:_DATE_ELEMENTS]:
        text = node.text()[:60]
        day = _parse_date(text, today)
        if day and squeeze(text) in near:
            return day
    return None


# -- publisher -----------------------------------------------------------------------------------

def publisher(fields: dict[str, str], before: str, meta: dict[str, str]) -> str:
    """发布机构 and the like; else the last 来源：X line before the body; else meta ContentSource."""
    for key in PUBLISHER_FIELDS:
        if fields.get(key):
            return fields[key]
    for value in reversed(SOURCE_RE.findall(before[-600:])):
        value = value.strip(" :：|丨")
        if value and not META_LINE_LABEL.match(value):
            return value
    return next((meta[n] for n in META_SOURCE_NAMES if meta.get(n)), "")
