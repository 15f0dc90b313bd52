"""What extraction returns: :class:`Document` and its :class:`Attachment` records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

__all__ = ["Attachment", "Document"]


@dataclass(frozen=True)
class Attachment:
    """A file linked from a document: absolute URL and the link's text."""

    url: str
    text: str


@dataclass(frozen=True)
class Document:
    """What a document page says, without the page around it."""

    title: str = ""
    #: The date the page was published (发布日期 and the like), never the date the document was
    #: written or signed (成文日期/发文日期: those stay in ``fields``).
    published: dt.date | None = None
    publisher: str = ""
    body: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    #: Why the body is empty or doubtful ("empty page", "no body found" …); "" when all went well.
    problem: str = ""
