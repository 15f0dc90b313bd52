"""Export the archive as WARC 1.1 or WACZ, the formats web archives keep, cite and replay.

What a WARC export holds (docs/export.md says it for users):

- one ``warcinfo`` record naming the software and the selection;
- one ``response`` record per capture: its status line and headers as fetched, and the body as
  archived. The archive keeps bodies decoded, so Content-Encoding and Transfer-Encoding are dropped
  and Content-Length is the body's length. WARC-Date is the fetch time;
- one ``revisit`` record (identical-payload-digest profile) per 304 Not Modified answer to a
  re-fetch, pointing at the capture whose validators were sent. It has no HTTP headers: the archive
  does not keep a 304's headers, and replay tools then use the original's;
- one ``response`` record per distinct attachment file (URL and content), dated when it was
  fetched, with the stored Content-Type;
- no ``request`` records: the archive does not keep the headers a request went out with (httpx
  adds Accept, Accept-Encoding, Connection …), so a request record would be a guess.

Digests are SHA-256 in base 32, as warcio writes them: a response's WARC-Payload-Digest is the
same hash as its capture's ``sha256`` column, which ties the export to the archive.
Records are read with a cursor and written one at a time, so memory stays flat however large the
archive; a WACZ sorts its index on disk (cdxj-indexer) for the same reason.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http
import itertools
import json
import os
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO, Literal

from cdxj_indexer.main import CDXJIndexer
from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from .store import Archive

__all__ = ["ExportReport", "Format", "Progress", "export_archive", "export_wacz", "export_warc"]

Format = Literal["warc", "wacz"]
#: Called after each record with (captures done, captures to do, bytes written).
Progress = Callable[[int, int, int], None]

#: Headers that described the transfer, not the decoded body an export carries.
TRANSFER_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
#: The archive does not record the protocol version of an answer.
HTTP_VERSION = "HTTP/1.1"
#: Names stable record IDs: the same capture gets the same WARC-Record-ID in every export.
RECORD_NAMESPACE = uuid.UUID("5f0e4c1e-4a7b-4b8e-9a51-6f7661726368")
WACZ_VERSION = "1.1.1"
#: Index lines per compressed block of the WACZ's index.cdx.gz (as py-wacz and ArchiveWeb.page).
CDX_BLOCK_LINES = 1024


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote."""

    path: Path
    responses: int = 0
    revisits: int = 0
    files: int = 0
    pages: int = 0
    bytes: int = 0
    #: Captures whose content no longer gives their recorded SHA-256 (exported as they are now).
    mismatches: tuple[str, ...] = field(default=())


def export_archive(archive: Archive, output: str | Path, *, format: Format = "warc",
                   sources: Sequence[str] = (), since: str | None = None,
                   progress: Progress | None = None) -> ExportReport:
    """Write the captures of ``sources`` (all when empty) fetched since ``since`` to ``output``.

    :param format: ``"warc"`` (gzipped WARC 1.1) or ``"wacz"`` (a WACZ 1.1.1 package).
    :param since: an ISO date or time (UTC); only what was fetched at or after it.
    """
    if format == "wacz":
        return export_wacz(archive, output, sources=sources, since=since, progress=progress)
    return export_warc(archive, output, sources=sources, since=since, progress=progress)


def export_warc(archive: Archive, output: str | Path, *, sources: Sequence[str] = (),
                since: str | None = None, progress: Progress | None = None) -> ExportReport:
    """Write a gzipped WARC 1.1 file; it replaces ``output`` only once complete."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    reader = _Reader(archive, tuple(sources), since)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as out:
            report = _write_warc(reader, out, path.name, progress)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return _replace(report, path=path, bytes=path.stat().st_size)


def export_wacz(archive: Archive, output: str | Path, *, sources: Sequence[str] = (),
                since: str | None = None, progress: Progress | None = None) -> ExportReport:
    """Write a WACZ: the WARC, its sorted CDXJ index, pages.jsonl and a datapackage with digests."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    reader = _Reader(archive, tuple(sources), since)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".wacz-") as tmp:
        work = Path(tmp)
        warc = work / "data.warc.gz"
        with warc.open("wb") as out:
            report = _write_warc(reader, out, warc.name, progress)
        pages = _write_pages(reader, work / "pages.jsonl")
        _index(warc, work / "index.idx", work / "index.cdx.gz")
        members = [(warc, "archive/data.warc.gz", zipfile.ZIP_STORED),
                   (work / "index.cdx.gz", "indexes/index.cdx.gz", zipfile.ZIP_STORED),
                   (work / "index.idx", "indexes/index.idx", zipfile.ZIP_DEFLATED),
                   (work / "pages.jsonl", "pages/pages.jsonl", zipfile.ZIP_DEFLATED)]
        partial = work / "out.wacz"
        _package(partial, members, title=f"govarchive: {archive.path.name}")
        os.replace(partial, path)
    return _replace(report, path=path, pages=pages, bytes=path.stat().st_size)


def _replace(report: ExportReport, **changes: Any) -> ExportReport:
    return ExportReport(**{**vars(report), **changes})


# -- reading the archive ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Capture:
    id: int
    document_id: int
    url: str
    final_url: str
    fetched: str
    status: int
    headers: str
    sha256: str
    content: bytes  # zlib-compressed, as stored


@dataclass(frozen=True)
class _Revisit:
    url: str
    date: str
    capture: _Capture  # the capture the 304 confirmed (its content left empty)


@dataclass(frozen=True)
class _File:
    url: str
    sha256: str
    fetched: str
    content_type: str
    content: bytes


class _Reader:
    """The archive's rows for one selection, streamed with cursors (never fetched all at once)."""

    def __init__(self, archive: Archive, sources: tuple[str, ...], since: str | None) -> None:
        self.conn = archive.db.conn
        self.sources, self.since = sources, since

    def _where(self, time_column: str | None, source_column: str = "d.source") -> tuple[str, list[Any]]:
        clauses, params = ["1"], list[Any]()
        if self.sources:
            clauses.append(f"{source_column} in ({','.join('?' * len(self.sources))})")
            params += self.sources
        if self.since and time_column:
            clauses.append(f"{time_column} >= ?")
            params.append(self.since)
        return " and ".join(clauses), params

    def count_captures(self) -> int:
        where, params = self._where("c.fetched")
        sql = f"select count(*) from captures c join documents d on d.id = c.document_id where {where}"
        return int(self.conn.execute(sql, params).fetchone()[0])

    def captures(self) -> Iterator[_Capture]:
        where, params = self._where("c.fetched")
        sql = ("select c.id, c.document_id, c.url, c.final_url, c.fetched, c.status, c.headers, c.sha256,"
               f" c.content from captures c join documents d on d.id = c.document_id where {where}"
               " order by c.id")
        for row in self.conn.execute(sql, params):
            yield _Capture(*row)

    def revisits(self) -> Iterator[_Revisit]:
        """304 answers whose validators came from a capture.

        The validators sent are those of the document's latest 200 answer. When that answer was
        archived (it is the latest capture), the 304 confirms the capture's payload; when it was not
        (an unchanged page whose bytes were not kept), the payload is unknown and no record is made.
        """
        where, params = self._where(None)  # earlier 200s tell which capture a later 304 confirms
        fetches = self.conn.execute(
            "select f.document_id, f.id, f.url, f.started, f.outcome from fetches f join documents d"
            f" on d.id = f.document_id where f.outcome in ('ok', 'not_modified') and {where}"
            " order by f.document_id, f.id", params)
        captures = itertools.groupby(self._captures_by_document(), key=lambda c: c.document_id)
        pending = next(captures, None)
        for doc_id, rows in itertools.groupby(fetches, key=lambda r: r[0]):
            while pending is not None and pending[0] < doc_id:
                pending = next(captures, None)
            if pending is None or pending[0] != doc_id:
                continue
            yield from (r for r in _confirmed(list(pending[1]), rows) if r.date >= (self.since or ""))

    def _captures_by_document(self) -> Iterator[_Capture]:
        where, params = self._where(None)  # a 304 since the date may confirm an older capture
        sql = (f"select c.id, c.document_id, c.url, c.final_url, c.fetched, c.status, c.headers, c.sha256,"
               f" x'' from captures c join documents d on d.id = c.document_id where {where}"
               " order by c.document_id, c.id")
        for row in self.conn.execute(sql, params):
            yield _Capture(*row)

    def files(self) -> Iterator[_File]:
        """Each distinct attachment file (URL and content), from the attachments and every version."""
        where, params = self._where("fetched", "source")
        sql = ("select url, sha256, min(fetched) as fetched from ("
               " select a.url, a.sha256, a.fetched, d.source from attachments a"
               "  join documents d on d.id = a.document_id where a.fetched is not null"
               " union all"
               " select json_extract(j.value, '$.url'), json_extract(j.value, '$.sha256'), v.captured, d.source"
               "  from versions v join documents d on d.id = v.document_id,"
               "  json_each(case when json_valid(v.attachments) then v.attachments else '[]' end) j"
               f") where sha256 is not null and {where} group by url, sha256 order by fetched, url")
        for url, sha, fetched in self.conn.execute(sql, params):
            row = self.conn.execute("select content_type, content from files where sha256 = ?", [sha]).fetchone()
            if row is not None:
                yield _File(url, sha, fetched, row[0] or "application/octet-stream", row[1])

    def pages(self) -> Iterator[dict[str, Any]]:
        """One page per document: its latest exported capture, its title and publication date."""
        where, params = self._where("c.fetched")
        sql = ("select d.title, d.published, c.final_url, c.fetched from"
               f" (select max(c.id) as id from captures c join documents d on d.id = c.document_id"
               f"  where {where} group by c.document_id) latest"
               " join captures c on c.id = latest.id join documents d on d.id = c.document_id order by d.id")
        for title, published, url, fetched in self.conn.execute(sql, params):
            page = {"id": uuid.uuid5(RECORD_NAMESPACE, f"page {url} {fetched}").hex, "url": url, "ts": _warc_date(fetched), "title": title or url}
            if published:
                page["published"] = published
            yield page


def _confirmed(captures: list[_Capture], fetches: Iterator[tuple[Any, ...]]) -> Iterator[_Revisit]:
    latest_ok: str | None = None
    for _, _, url, started, outcome in fetches:
        if outcome == "ok":
            latest_ok = started
            continue
        before = [c for c in captures if c.fetched <= started]
        if before and (latest_ok is None or latest_ok <= before[-1].fetched):
            yield _Revisit(url, started, before[-1])


# -- writing WARC records -----------------------------------------------------------------------

class _Writer(WARCWriter):  # type: ignore[misc]
    """warcio's writer, with SHA-256 digests: the archive's own hash of every capture and file."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def _write_warc(reader: _Reader, out: BinaryIO, filename: str, progress: Progress | None) -> ExportReport:
    writer = _Writer(out, gzip=True, warc_version="WARC/1.1")
    writer.write_record(writer.create_warcinfo_record(filename, _warcinfo(reader)))
    total, done, mismatches = reader.count_captures(), 0, []
    for capture in reader.captures():
        body = zlib.decompress(capture.content)
        if hashlib.sha256(body).hexdigest() != capture.sha256:
            mismatches.append(f"capture {capture.id} ({capture.url})")
        writer.write_record(_response(writer, capture, body))
        done += 1
        if progress and (done % 100 == 0 or done == total):
            progress(done, total, out.tell())
    revisits = 0
    for revisit in reader.revisits():
        writer.write_record(_revisit(writer, revisit))
        revisits += 1
    files = 0
    for file in reader.files():
        writer.write_record(_file_response(writer, file))
        files += 1
        if progress and files % 100 == 0:
            progress(done, total, out.tell())
    return ExportReport(Path(filename), responses=done, revisits=revisits, files=files,
                        mismatches=tuple(mismatches))


def _warcinfo(reader: _Reader) -> dict[str, str]:
    selection = ", ".join(reader.sources) or "all sources"
    if reader.since:
        selection += f", fetched since {reader.since}"
    return {"software": f"govarchive {version('govarchive')} (warcio {version('warcio')})",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "description": f"Captures exported from a govarchive archive: {selection}"}


def _response(writer: _Writer, capture: _Capture, body: bytes) -> Any:
    stored = json.loads(capture.headers or "{}")
    headers = [(k, str(v)) for k, v in stored.items() if k.lower() not in TRANSFER_HEADERS]
    headers.append(("Content-Length", str(len(body))))
    return writer.create_warc_record(
        capture.final_url, "response", payload=BytesIO(body), length=len(body),
        http_headers=StatusAndHeaders(_status_line(capture.status), headers, protocol=HTTP_VERSION),
        warc_headers_dict={"WARC-Record-ID": _capture_id(capture), "WARC-Date": _warc_date(capture.fetched),
                           "WARC-Payload-Digest": _digest(capture.sha256)})


def _revisit(writer: _Writer, revisit: _Revisit) -> Any:
    original = revisit.capture
    record = writer.create_revisit_record(
        revisit.url, _digest(original.sha256), original.final_url, _warc_date(original.fetched),
        warc_headers_dict={"WARC-Record-ID": _record_id("revisit", revisit.url, revisit.date),
                           "WARC-Date": _warc_date(revisit.date)})
    record.rec_headers.add_header("WARC-Refers-To", _capture_id(original))
    return record


def _file_response(writer: _Writer, file: _File) -> Any:
    headers = [("Content-Type", file.content_type), ("Content-Length", str(len(file.content)))]
    return writer.create_warc_record(
        file.url, "response", payload=BytesIO(file.content), length=len(file.content),
        http_headers=StatusAndHeaders("200 OK", headers, protocol=HTTP_VERSION),
        warc_headers_dict={"WARC-Record-ID": _record_id("file", file.url, file.sha256),
                           "WARC-Date": _warc_date(file.fetched),
                           "WARC-Payload-Digest": _digest(file.sha256)})


def _status_line(status: int) -> str:
    try:
        return f"{status} {http.HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} "


def _digest(sha256_hex: str) -> str:
    """A hex SHA-256 as a WARC digest: the algorithm and the hash in base 32, as warcio writes."""
    return "sha256:" + base64.b32encode(bytes.fromhex(sha256_hex)).decode()


def _warc_date(stamp: str) -> str:
    """An archive timestamp (ISO 8601, UTC) as a WARC-Date: 2024-03-06T08:00:00Z."""
    when = dt.datetime.fromisoformat(stamp)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.isoformat(timespec="seconds") + "Z"


def _record_id(*parts: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(RECORD_NAMESPACE, ' '.join(parts))}>"


def _capture_id(capture: _Capture) -> str:
    return _record_id("capture", capture.final_url, capture.fetched, capture.sha256)


# -- packaging a WACZ ---------------------------------------------------------------------------

def _write_pages(reader: _Reader, path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Documents"}) + "\n")
        for page in reader.pages():
            out.write(json.dumps(page, ensure_ascii=False) + "\n")
            count += 1
    return count


def _index(warc: Path, idx: Path, cdx: Path) -> None:
    """A sorted CDXJ index in gzipped blocks (index.cdx.gz) with its block index (index.idx)."""
    with cdx.open("wb") as data:
        CDXJIndexer(str(idx), [str(warc)], sort=True, compress=data, data_out_name="index.cdx.gz",
                    lines=CDX_BLOCK_LINES, digest_records=True).process_all()


def _package(path: Path, members: list[tuple[Path, str, int]], *, title: str) -> None:
    resources = []
    with zipfile.ZipFile(path, "w", allowZip64=True) as wacz:
        for source, name, compression in members:
            wacz.write(source, name, compress_type=compression)
            size, digest = _hash_file(source)
            resources.append({"name": Path(name).name.lower(), "path": name, "hash": digest, "bytes": size})
        package = json.dumps({
            "profile": "data-package", "resources": resources, "title": title,
            "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "wacz_version": WACZ_VERSION, "software": f"govarchive {version('govarchive')}",
        }, indent=2, ensure_ascii=False).encode()
        wacz.writestr("datapackage.json", package, compress_type=zipfile.ZIP_DEFLATED)
        wacz.writestr("datapackage-digest.json", json.dumps(
            {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(package).hexdigest()}, indent=2),
            compress_type=zipfile.ZIP_DEFLATED)


def _hash_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, "sha256:" + digest.hexdigest()
