"""Import WARC files (Heritrix, Browsertrix, ``wget --warc-file``, a govarchive export) as captures.

Each HTML response (2xx) becomes a capture of a document of the source whose hosts it is on (the
longest shared prefix with a column URL decides between sources of one host), or of the source
named. It goes through the crawl's own path: ``extract`` with the source's settings, then
``Archive.save``, so versions and fingerprints are what a crawl would have made, and a collection
brought in this way can later be re-extracted. Attachment files found in the same WARCs are handed
to ``save`` as downloads, as a crawl would. A page that reads empty is skipped, as in a crawl.

Two passes over the files: the first notes where each non-HTML response is (the attachments) and
which pages are the sources' list pages (their column URLs and the further pages those list);
the second archives the documents, in the order the WARCs hold them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from .config import Source
from .discover import discover
from .encoding import charset_from_content_type
from .extract import extract
from .fetch import FetchResult
from .store import Archive, StoredFile
from .urls import Scope, canonical

__all__ = ["ImportReport", "WarcError", "import_warcs"]

#: Headers that described the transfer, not the decoded body warcio gives back.
TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})


class WarcError(Exception):
    """A file cannot be read as WARC."""


@dataclass(frozen=True)
class ImportReport:
    """What an import did: documents archived by outcome, and records passed over by reason."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: tuple[tuple[str, int], ...] = field(default=())


@dataclass(frozen=True)
class _Response:
    url: str
    date: dt.datetime
    status: int
    headers: dict[str, str]
    content: bytes

    @property
    def html(self) -> bool:
        ctype = self.headers.get("content-type", "").lower()
        return "html" in ctype if ctype else self.content.lstrip()[:1] == b"<"

    def result(self) -> FetchResult:
        return FetchResult(url=self.url, final_url=self.url, status=self.status, headers=self.headers,
                           content=self.content, charset=charset_from_content_type(
                               self.headers.get("content-type")), fetched_at=self.date)


def import_warcs(archive: Archive, paths: Sequence[str | Path], sources: Sequence[Source], *,
                 source: str | None = None) -> ImportReport:
    """Archive the HTML responses of the WARC files ``paths`` as captures of ``sources``' documents.

    :param sources: the configured sources, matched by host and URL.
    :param source: the name of the source every document goes to, instead of matching.
    """
    named = next((s for s in sources if s.name == source), None) if source else None
    if source and named is None:
        raise ValueError(f"source {source!r} is not configured")
    archive.sync_sources(sources)
    match = _Matcher(sources)
    files, lists = _survey(paths, match)
    counts: Counter[str] = Counter()
    for response in _responses(paths):
        target = named or match(response.url)
        reason = _skip(response, target, lists)
        if reason or target is None:
            counts[f"skipped: {reason}"] += 1
            continue
        s = target.settings
        doc = extract(response.content, response.url, body_selector=s.body_selector,
                      encoding=charset_from_content_type(response.headers.get("content-type")))
        if not doc.body and not doc.attachments:
            counts["skipped: empty page"] += 1
            continue
        downloads: dict[str, StoredFile | str] = {}
        for a in doc.attachments if s.attachments else ():
            got = _load(files.get(a.url))
            if got is not None:  # kept at once, so one file at a time is held in memory
                file = got.result()
                downloads[a.url] = archive.store_file(file.content, file.headers.get("content-type", ""),
                                                      file.fetched_at.isoformat(timespec="seconds"))
        outcome, _ = archive.save(target.name, response.result(), doc, downloads=downloads)
        counts[outcome] += 1
    return ImportReport(counts["new"], counts["changed"], counts["unchanged"],
                        tuple(sorted((k.removeprefix("skipped: "), v) for k, v in counts.items()
                                     if k.startswith("skipped: "))))


def _skip(response: _Response, target: Source | None, lists: set[str]) -> str:
    if not 200 <= response.status < 300:
        return f"HTTP {response.status}"
    if not response.html:
        return "not HTML"  # attachments among them are archived with their documents
    if target is None:
        return "no configured source for its host"
    if response.url in lists:
        return "list page"
    return ""


class _Matcher:
    """The source a URL belongs to: on one of its origins, and among several, the one whose
    column URL shares the longest beginning with it."""

    def __init__(self, sources: Iterable[Source]) -> None:
        self.sources = [(s, Scope(s.origins)) for s in sources]

    def __call__(self, url: str) -> Source | None:
        on_origin = [s for s, scope in self.sources if scope.allows(url)]
        return max(on_origin, default=None, key=lambda s: max(
            (len(os.path.commonprefix([url, u])) for u in s.urls + s.pages), default=0))  # noqa: RUF071 - characters of URLs, not paths


def _survey(paths: Sequence[str | Path], match: _Matcher) -> tuple[dict[str, tuple[str, int]], set[str]]:
    """Where each non-HTML response is (URL → file and offset), and the sources' list pages."""
    files: dict[str, tuple[str, int]] = {}
    lists = {u for s, _ in match.sources for u in s.urls}
    for path, offset, response in _records(paths):
        if not 200 <= response.status < 300:
            continue
        if not response.html:
            files[response.url] = (path, offset)
        elif response.url in lists:
            source = match(response.url)
            scope = source.origins if source else ()
            lists.update(discover(response.content, response.url, allowed_hosts=scope).next_pages)
    return files, lists


def _responses(paths: Sequence[str | Path]) -> Iterator[_Response]:
    for _, _, response in _records(paths):
        yield response


def _records(paths: Sequence[str | Path]) -> Iterator[tuple[str, int, _Response]]:
    for path in paths:
        try:
            with open(path, "rb") as stream:
                records = ArchiveIterator(stream)
                for record in records:
                    if record.rec_type == "response" and record.http_headers is not None:
                        response = _read(record)
                        yield str(path), records.get_record_offset(), response
        except (ArchiveLoadFailed, OSError, ValueError) as e:
            raise WarcError(f"{path}: not a readable WARC file ({e})") from None


def _read(record: Any) -> _Response:
    http = record.http_headers
    content = record.content_stream().read()
    headers = {k.lower(): v for k, v in http.headers if k.lower() not in TRANSFER_HEADERS}
    headers["content-length"] = str(len(content))
    date = dt.datetime.fromisoformat(record.rec_headers.get_header("WARC-Date"))
    if date.tzinfo is None:
        date = date.replace(tzinfo=dt.UTC)
    try:
        status = int(http.get_statuscode())
    except (TypeError, ValueError):
        status = 0
    url = canonical(record.rec_headers.get_header("WARC-Target-URI") or "")
    return _Response(url, date, status, headers, content)


def _load(where: tuple[str, int] | None) -> _Response | None:
    """The response record at an offset of a WARC file."""
    if where is None:
        return None
    path, offset = where
    with open(path, "rb") as stream:
        stream.seek(offset)
        for record in ArchiveIterator(stream):
            return _read(record) if record.http_headers is not None else None
    return None
