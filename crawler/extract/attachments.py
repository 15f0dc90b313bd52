"""Attachments: links to documents and archives inside the body or in the blocks just after it."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from selectolax.lexbor import LexborNode

from ..text import clean, squeeze
from ..urls import SKIP_SCHEMES, resolve
from .model import Attachment
from .rules import ATTACHMENT_EXTENSIONS, BODY_NOISE_MARKERS, FILE_NAME_END, RELATED_LABELS
from .tree import is_named

__all__ = ["find_attachments", "is_attachment", "is_page_link", "url_path"]

#: Blocks after the container looked at, per level, and how many levels up.
_FOLLOWING_PER_LEVEL = 3
_FOLLOWING_LEVELS = 2


def find_attachments(container: LexborNode, base: str) -> tuple[Attachment, ...]:
    """Links to documents/archives inside the body or in the blocks just after it."""
    found: dict[str, str] = {}
    scopes = [container] + [b for b in _following_blocks(container) if not _is_noise_block(b)]
    for scope in scopes:
        for a in scope.css("a[href]"):
            href = (a.attributes.get("href") or "").strip()
            text = clean(a.text()) or clean(a.attributes.get("title") or "")
            if not (is_attachment(href) or _names_a_file(a, href, text)):
                continue
            url = resolve(base, href) if base else href
            if url is None:
                continue
            if len(text) > len(found.get(url, "")):  # the fullest name of the file wins
                found[url] = text
            found.setdefault(url, "")
    return tuple(Attachment(url=u, text=t or u.rsplit("/", 1)[-1]) for u, t in found.items())


def _is_noise_block(node: LexborNode) -> bool:
    """A related-links list, a share bar … (by its id/class or by its first line)."""
    if is_named(node, BODY_NOISE_MARKERS):
        return True
    return squeeze(node.text()[:40]).startswith(RELATED_LABELS)


def _following_blocks(container: LexborNode) -> list[LexborNode]:
    out = []
    node: LexborNode | None = container
    for _ in range(_FOLLOWING_LEVELS):
        if node is None:
            break
        sib, count = node.next, 0
        while sib is not None and count < _FOLLOWING_PER_LEVEL:
            if sib.is_element_node:
                out.append(sib)
                count += 1
            sib = sib.next
        node = node.parent
        if node is None or node.tag in ("body", "html"):
            break
    return out


def is_attachment(href: str) -> bool:
    """A link to a file by its URL: the path's extension, or a file name in the query
    (jpaas ``…/download?fileName=x.wps``)."""
    if not href or href.lower().startswith(SKIP_SCHEMES):
        return False
    path = url_path(href)
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    if ext in ATTACHMENT_EXTENSIONS:
        return True
    query = href.split("?", 1)[1].split("#", 1)[0] if "?" in href else ""
    return any(_file_extension(value) in ATTACHMENT_EXTENSIONS for value in re.split(r"[&=]", query))


def _names_a_file(a: LexborNode, href: str, text: str) -> bool:
    """An extension-less download link (``/download?fileId=…``) that says it is a file: by a
    ``download`` attribute, or link text that is a file name (报告.pdf). The response confirms it."""
    if not href or href.lower().startswith(SKIP_SCHEMES):
        return False
    return "download" in a.attributes or _file_extension(text) in ATTACHMENT_EXTENSIONS


def _file_extension(name: str) -> str:
    """``pdf`` of ``2024年预算.PDF`` (and of ``预算.pdf（120KB）``); "" when there is none."""
    m = FILE_NAME_END.search(name)
    return m.group(1).lower() if m else ""


def is_page_link(href: str) -> bool:
    """A link to another page (not an anchor, script, mail address … or file)."""
    href = href.strip()
    return bool(href) and not href.lower().startswith(SKIP_SCHEMES) and not is_attachment(href)


def url_path(url: str) -> str:
    """The path of a URL; a malformed URL (bad IPv6 host, odd netloc) gives its text before ?/#."""
    if not url:
        return ""
    try:
        return urlsplit(url).path
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
