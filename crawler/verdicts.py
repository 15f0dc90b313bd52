"""Verdicts: whether a fetched page is the document, judged from its structure, never its words.

A pure module (bytes and URLs in, a :class:`Verdict` or None out) that ``fetch`` consults for
each final response and ``crawl`` for each run. Real notices use every word an error page uses
(关于启用政务服务平台安全验证功能的通知, 网站防火墙设备采购结果公示, 404名困难群众获得临时救助), so
words of the text are never evidence. What is:

- the status: 404/410 (gone), 412 (the Ruishu challenge);
- scripts without content: a page whose body holds nothing but scripts (no text, no element to
  lay out) runs a script or refreshes itself; on a page with little text, challenge *code*
  (``$_ts = window[…]``, a script that sets a cookie and reloads) is evidence too. (A page whose
  layout a script is to fill, ``<div id=app>``, is no challenge: it extracts empty, and the
  browser, crawler.browser, renders it when the source allows);
- where it led: a document redirected to the root of its site is not that document;
- decoding: bytes that mostly do not decode are not a page;
- sharing: one page served for many document URLs (a maintenance page, a WAF block, a redirect
  target) is a template, not a document (:class:`SharedPages`, per run).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from .encoding import decode_html
from .text import normal, squeeze
from .urls import canonical, resolve

__all__ = ["SharedPages", "Verdict", "builds_list_by_script", "judge_page", "judge_redirect", "judge_status",
           "normal_page_key", "page_key"]

#: "blocked": a challenge or WAF stands in front of the page; "gone": the page is no longer there;
#: "unusable": what came is not the document (nothing to archive, nothing to conclude).
Kind = Literal["blocked", "gone", "unusable"]


@dataclass(frozen=True)
class Verdict:
    """What a response is, instead of the document: the kind and why, in a few words."""

    kind: Kind
    reason: str


# --- rules, as data ---------------------------------------------------------------------------

#: Statuses that say what the page is by themselves.
STATUS_VERDICTS = {
    404: Verdict("gone", "HTTP 404"),
    410: Verdict("gone", "HTTP 410"),
    412: Verdict("blocked", "HTTP 412 (anti-bot challenge)"),
}
#: Pages bigger than this are real documents: never parsed for verdicts.
SCAN_BYTES = 256 * 1024
#: Body text (without whitespace) at most this long is "little text": challenge code then decides.
LITTLE_TEXT = 20
#: Elements whose text is not content a reader sees.
HIDDEN_TAGS = ("script", "style", "noscript", "template", "title")
#: Elements a body of scripts only may hold besides them: nothing a reader would see laid out.
BARE_TAGS = frozenset({*HIDDEN_TAGS, "meta", "link", "br", "-text", "-comment", "body"})
#: Challenge code: anti-bot scripts, matched in the scripts of pages with little text.
CHALLENGE_CODE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Ruishu $_ts", re.compile(r"\$_ts\s*=\s*window\[")),
    ("cookie-setting reload", re.compile(
        r"document\.cookie\s*=[\s\S]{0,2000}?"
        r"(?:location\.reload|location\.replace|location(?:\.href)?\s*=(?!=))")),
)
#: Characters of binary junk: failed decodings and control characters no text contains.
UNDECODABLE = re.compile("[\ufffd\x00-\x08\x0b\x0e-\x1f\x7f]")
#: Share of such characters above which bytes are not a page.
UNDECODABLE_SHARE = 0.02
#: ... when at least this many characters failed (a few bad bytes in a real page are common).
UNDECODABLE_MIN = 20
#: Distinct document URLs that may share one page (by content or by redirect target) in a run: two
#: notices may be one text posted twice; a third is a template.
SHARED_LIMIT = 2


# --- verdicts ---------------------------------------------------------------------------------


def judge_status(status: int) -> Verdict | None:
    """The verdict a final status gives by itself."""
    return STATUS_VERDICTS.get(status)


def judge_redirect(url: str, final_url: str) -> Verdict | None:
    """A document redirected to the root of its site: the site's answer to every unknown URL."""
    if canonical(final_url) == canonical(url) or not _is_root(final_url) or _is_root(url):
        return None
    return Verdict("unusable", "redirected to the site root")


def judge_page(content: bytes, url: str, content_type: str = "", charset: str | None = None) -> Verdict | None:
    """The verdict a 2xx page's bytes give: a challenge, undecodable bytes, or None (a page)."""
    ctype = content_type.lower()
    if len(content) > SCAN_BYTES or (ctype and "html" not in ctype and not ctype.startswith("text/")):
        return None
    page, _ = decode_html(content, charset)
    bad = len(UNDECODABLE.findall(page))
    if bad >= UNDECODABLE_MIN and bad > UNDECODABLE_SHARE * len(page):
        return Verdict("unusable", f"undecodable bytes ({bad} of {len(page)} characters)")
    if "<" not in page:
        return None
    text = _visible_text(LexborHTMLParser(page))
    if text > LITTLE_TEXT:  # most pages: enough text to be read, whatever their scripts do
        return None
    tree = LexborHTMLParser(page)  # again: reading the text stripped the scripts
    scripts = tree.css("script")
    code = "\n".join(node.text(deep=True) or "" for node in scripts)
    refresh = _refreshes_itself(tree, url)
    bare = tree.body is None or all(node.tag in BARE_TAGS for node in tree.body.traverse())
    if text == 0 and bare and (scripts or refresh):
        return Verdict("blocked", "anti-bot challenge (scripts without content)")
    if text <= LITTLE_TEXT:
        for name, pattern in CHALLENGE_CODE:
            if pattern.search(code):
                return Verdict("blocked", f"anti-bot challenge ({name})")
    return None


def _visible_text(tree: LexborHTMLParser) -> int:
    """Characters (without whitespace) a reader sees in the body; strips ``tree``'s hidden elements."""
    tree.strip_tags(list(HIDDEN_TAGS))
    return len(squeeze(tree.body.text(separator=" ") or "")) if tree.body is not None else 0


def builds_list_by_script(content: bytes) -> bool:
    """Whether a list page in which discovery found no links has scripts that may write them
    (crawler.browser then renders it): a ``<script>`` element, never the words of the page."""
    return bool(_SCRIPT.search(content))


_SCRIPT = re.compile(rb"<script\b", re.IGNORECASE)


@dataclass
class SharedPages:
    """One run's record of which document URLs got which page, to tell templates from documents.

    A page (by what it says: its title and text, normalised; or by the URL a redirect led to) that more than
    ``limit`` document URLs got in one run is a template: a maintenance page, a WAF block, the
    page every unknown URL redirects to. So is the page the site serves for a URL that cannot
    exist (:meth:`unknown`): a soft 404 or a maintenance page, from the first document that gets
    it. Not safe across threads; one per run.
    """

    limit: int = SHARED_LIMIT
    _by_page: dict[str, set[str]] = field(default_factory=dict)
    _unknown: set[str] = field(default_factory=set)

    def unknown(self, url: str, final_url: str, said: str) -> None:
        """Record what the site served for ``url``, a URL of it that cannot exist (``said``:
        :func:`page_key` of its title and text)."""
        for key in _keys(url, final_url, said):
            self._unknown.add(key)

    def judge(self, url: str, final_url: str, said: str) -> Verdict | None:
        """Record that ``url`` gave a page that said ``said`` (:func:`page_key` of its title and
        text, as extracted); a verdict when the page is a template."""
        for key in _keys(url, final_url, said):
            urls = self._by_page.setdefault(key, set())
            urls.add(url)
            if key in self._unknown:
                return Verdict("unusable", "the page this site serves for unknown URLs (soft 404 or "
                               "maintenance)")
            if len(urls) > self.limit:
                what = f"redirected to {final_url}" if key.startswith("redirect:") else "the same page"
                return Verdict("unusable", f"{what}, like {len(urls) - 1} other documents in this run")
        return None


def page_key(says: str) -> str:
    """What a page says (its title and text), as a key equal for renderings of the same text.
    Pure and made beside extraction (``crawler.reading``), off the crawling process."""
    return normal_page_key(normal(says))


def normal_page_key(normal_says: str) -> str:
    """:func:`page_key` of a text whose ``text.normal`` is ``normal_says``."""
    return "content:" + hashlib.sha256(normal_says.encode()).hexdigest()


def _keys(url: str, final_url: str, said: str) -> list[str]:
    """What identifies the page ``url`` got: where it was redirected, and what it said."""
    keys = [said]
    if canonical(final_url) != canonical(url):
        keys.insert(0, "redirect:" + canonical(final_url))
    return keys


# --- helpers ----------------------------------------------------------------------------------


def _is_root(url: str) -> bool:
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query


def _refreshes_itself(tree: LexborHTMLParser, url: str) -> bool:
    """Whether a ``<meta http-equiv=refresh>`` reloads ``url`` itself (a cookie challenge)."""
    here = canonical(url)
    for meta in tree.css("meta[http-equiv]"):
        if (meta.attributes.get("http-equiv") or "").strip().lower() != "refresh":
            continue
        content = meta.attributes.get("content") or ""
        match = re.search(r"url\s*=\s*['\"]?([^'\"\s>]*)", content, re.IGNORECASE)
        target = match.group(1) if match else ""
        if not target or resolve(url, target) == here:
            return True
    return False
