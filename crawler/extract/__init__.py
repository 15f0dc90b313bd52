"""Extraction: page bytes → :class:`Document` (title, date, publisher, 信息公开 fields, body, attachments).

A pure function: no network, no database, no clock, never raises.

How a page is read (each step's rules are named tables in :mod:`.rules`):

1. check the bytes are a page and decode them (:func:`crawler.encoding.decode_html`), bound the
   nesting depth (:func:`.tree.bound_depth`), parse once with Lexbor, read ``<meta>``/``<title>``;
2. drop what is never content: scripts, styles, form controls, hidden elements (inline style,
   ``hidden``, ng-hide …; if that leaves no body, the page is read again keeping them);
3. find the 信息公开 metadata block (label/value table or list around 索引号/发布机构/文号 …), read
   it into ``fields`` and take it out of the page (:mod:`.fields`);
4. find the body container (:mod:`.container`): the caller's ``body_selector``, else the content
   containers CMS families use, else a text-density score (Chinese text vs link text per block,
   readability style) that prefers blocks after the document's heading, widened to take in
   attachment links right after a table;
5. render the body as lines (:mod:`.render`: tables one row per line, cells tab-separated), drop
   the noise inside it (print/close/share/QR widgets, related-link lists, 来源/发布时间/点击数
   lines, breadcrumbs, footers, stray ``/span>``) and keep a signature/date just after the container;
6. title, publish date and publisher from the page around the body (:mod:`.meta`): meta
   ArticleTitle / heading, 发布日期/发布时间/生成日期 (never 成文日期/发文日期, which stay in
   ``fields``), meta PubDate, the URL; attachments from the body and the blocks after it.
"""

from __future__ import annotations

import datetime as dt

from .model import Attachment, Document
from .page import Options, read_bytes

__all__ = ["Attachment", "Document", "extract"]


def extract(raw: bytes, url: str | None = None, *, body_selector: str = "", encoding: str | None = None,
            today: dt.date | None = None) -> Document:
    """Extract the document from a page's bytes.

    :param url: the page's URL (attachments are made absolute against it; dates in it are read).
    :param body_selector: CSS selector of the body container, tried first.
    :param encoding: the HTTP charset, if any.
    :param today: the date the page was fetched: a date more than a year after it is not a date.
        None (the default) skips that check.
    """
    try:
        return read_bytes(raw, Options(url=url or "", body_selector=body_selector, encoding=encoding,
                                       today=today))
    except Exception as exc:  # noqa: BLE001 - never raise: an unreadable page is a Document with a problem
        return Document(problem=f"extraction failed: {type(exc).__name__}: {exc}"[:300])
