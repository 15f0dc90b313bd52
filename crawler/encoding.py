"""Turning page bytes into text: the HTTP charset, then ``<meta charset>``, then detection.

Shared by discovery and extraction, which both take raw bytes. Chinese sites label GBK pages
as gb2312 or gbk and then use characters outside both, so every GB label decodes as GB18030,
its superset.
"""

from __future__ import annotations

import codecs
import re

__all__ = ["charset_from_content_type", "decode_html"]

_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)
_CT = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:\-]+)", re.IGNORECASE)
_GB = {"gb2312", "gbk", "gb_2312-80", "gb_2312", "x-gbk", "cp936", "euc-cn", "hz-gb-2312", "gb18030"}


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, if any."""
    m = _CT.search(content_type or "")
    return m.group(1) if m else None


def _normal(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().lower()
    if label in _GB:
        return "gb18030"
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    # Browsers treat latin-1 labels as windows-1252, and servers send them by default.
    return "cp1252" if name in ("latin-1", "iso8859-1", "cp1252") else name


def decode_html(raw: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode a page; return ``(text, encoding used)``. Never raises.

    A declared charset (HTTP header first, then ``<meta>``) is trusted only if the bytes decode
    cleanly with it: a wrong declaration (a GBK page served as UTF-8, a default latin-1) is common.
    """
    if raw.startswith(codecs.BOM_UTF8):
        return raw[3:].decode("utf-8", errors="replace"), "utf-8"
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):  # browsers' "Save as" may write UTF-16
        return raw.decode("utf-16", errors="replace"), "utf-16"
    candidates = []
    for label in (declared, _meta_charset(raw)):
        enc = _normal(label)
        if enc and enc not in candidates and enc != "cp1252":
            candidates.append(enc)
    for enc in candidates + [e for e in ("utf-8", "gb18030") if e not in candidates]:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    # Nothing decodes cleanly: a few bad bytes in an otherwise readable page.
    enc = candidates[0] if candidates else _likelier(raw)
    return raw.decode(enc, errors="replace"), enc


def _meta_charset(raw: bytes) -> str | None:
    m = _META.search(raw[:8192])
    return m.group(1).decode("ascii", "replace") if m else None


def _likelier(raw: bytes) -> str:
    utf8 = raw.decode("utf-8", errors="replace").count("\ufffd")
    gb = raw.decode("gb18030", errors="replace").count("\ufffd")
    return "utf-8" if utf8 <= gb else "gb18030"
