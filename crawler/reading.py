"""Reading a fetched page: everything archiving it computes from its bytes, in one pure call.

:func:`read_page` runs in a worker process (``crawler.workers``), so the crawling process only
fetches and writes: it extracts the document, keys what the page says (for
``verdicts.SharedPages``), normalises the text once for the fingerprint and the search index
(``store.prepare``) and compresses the capture. The answer travels back by pickle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from dataclasses import dataclass

from .extract import Document, extract
from .store import CAPTURE_LEVEL, Prepared, prepare
from .verdicts import normal_page_key, page_key

__all__ = ["Reading", "read_page"]


@dataclass(frozen=True)
class Reading:
    """A page as the archive needs it.

    ``said`` keys what the page itself says (its title and text as extracted: no listing title),
    for ``SharedPages``; ``body_chars`` is the length of its body's comparison key; ``prepared``
    is None when there is nothing to archive (no body and no attachments); ``capture`` is the page's
    bytes compressed as stored (empty when there is nothing to archive).
    """

    doc: Document
    said: str
    body_chars: int
    prepared: Prepared | None
    capture: bytes


def read_page(content: bytes, url: str, *, body_selector: str = "", encoding: str | None = None,
              today: dt.date | None = None, title: str = "") -> Reading:
    """Extract ``content`` (fetched from ``url``) and prepare it for the archive; ``title`` is the
    title its listing gave, used when the page has none."""
    doc = extract(content, url, body_selector=body_selector, encoding=encoding, today=today)
    own_title = doc.title
    if not own_title and title:
        doc = dataclasses.replace(doc, title=title)
    if not doc.body and not doc.attachments:  # nothing to archive: no preparing, no capture
        return Reading(doc, page_key(f"{own_title}\n{doc.body}"), 0, None, b"")
    prepared = prepare(doc)
    # What the page said (its own title, not the listing's), from the keys prepared already:
    # normal() of "title\nbody" is the normal title followed by the normal body.
    said = normal_page_key((prepared.title if own_title else "") + prepared.body)
    return Reading(doc, said, len(prepared.body), prepared, zlib.compress(content, CAPTURE_LEVEL))
