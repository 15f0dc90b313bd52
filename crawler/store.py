"""The archive: one SQLite file, written with sqlite-utils, browsed with Datasette.

Tables (CONTRACT.md): ``sources``, ``documents``, ``versions``, ``captures``, ``fetches``,
``attachments``, ``runs``, and ``documents_fts`` for full-text search. A document gets a new
``versions`` row only when its extracted content changes; every HTTP attempt is a ``fetches`` row.
Each write is one short transaction, so a crash at any point leaves a consistent database.

The journal is a write-ahead log with ``synchronous = NORMAL``: a commit is written to the log
but not flushed to the disk (the log is flushed at each checkpoint). A crash of the crawler
(``kill -9``, an exception) loses nothing committed, since the log is in the operating system's
hands; a power cut or a crash of the operating system may lose the last commits, never the
database's consistency, and the next run fetches those documents again, as it would after any
interrupted crawl.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sqlite3
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import astuple, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Self

import sqlite_utils
from sqlite_utils import Migrations

from .config import Source
from .encoding import charset_from_content_type
from .extract import Document
from .fetch import Attempt, FetchResult
from .filetext import FileText, file_document
from .text import normal

__all__ = [
    "FRONTIER_TRIES",
    "Archive",
    "DocumentState",
    "Failure",
    "NotAnArchive",
    "Notification",
    "Outcome",
    "Reextracted",
    "RunCounts",
    "RunEvent",
    "SourceStatus",
    "StoredFile",
    "fingerprint",
    "search_query",
    "search_text",
    "timestamp",
]


class Outcome(StrEnum):
    """What became of one document in a run; each is a count of the run (``RunCounts``)."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    REMOVED = "removed"
    FAILED = "failed"
    #: Due this run, left for the next one: past ``max_documents`` or the run's time budget.
    DEFERRED = "deferred"


#: The error a run records when it was stopped before its end (SIGTERM, Ctrl-C).
INTERRUPTED = "interrupted"

#: Tables a govarchive database holds; a file with other tables and none of these is not ours.
TABLES = ("sources", "documents", "versions", "captures", "fetches", "attachments", "files", "events",
          "runs", "notifications", "frontier")

#: Runs in which a listed URL may fail permanently (404, refused …) before the frontier drops it.
FRONTIER_TRIES = 3


class NotAnArchive(Exception):
    """The file is an SQLite database of something else; govarchive refuses to alter it."""


@dataclass(frozen=True)
class DocumentState:
    """What the crawler needs to know about an archived document before fetching it again."""

    id: int
    url: str
    online: bool
    etag: str | None
    last_modified: str | None
    next_visit: str | None
    published: dt.date | None
    fingerprint: str | None


@dataclass(frozen=True)
class RunCounts:
    """Tally of one crawl of one source; becomes its ``runs`` row. Tallies add up with ``+``."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    deferred: int = 0
    list_pages: int = 0
    links_found: int = 0

    @classmethod
    def of(cls, outcome: Outcome, n: int = 1) -> RunCounts:
        """A tally of ``n`` documents with one outcome."""
        return cls(**{outcome.value: n})

    def __add__(self, other: RunCounts) -> RunCounts:
        return RunCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def documents(self) -> int:
        """Documents handled so far (not list pages, robots.txt or deferred ones)."""
        return self.new + self.changed + self.unchanged + self.removed + self.failed


@dataclass(frozen=True)
class StoredFile:
    """An attachment kept in ``files`` (see ``Archive.store_file``), as a document's save needs it."""

    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True)
class SourceStatus:
    """A source's health: its latest run and its latest successful one."""

    source: str
    last_run: dict[str, Any] | None
    last_success: str | None
    documents: int
    online: int
    #: Listed documents not yet archived (the frontier), waiting for the next runs.
    backlog: int = 0


@dataclass(frozen=True)
class Reextracted:
    """What ``Archive.reextract`` did."""

    documents: int
    versions_before: int
    versions_after: int
    #: Documents whose current text differs from what the earlier extractor gave.
    updated: int


@dataclass(frozen=True)
class RunEvent:
    """Something a run found about a document, with the versions before and after it (title,
    published, publisher, fields, body, attachment text), for digests."""

    document_id: int
    event: str
    detail: str
    title: str
    url: str
    before: tuple[Any, ...] | None
    after: tuple[Any, ...] | None


@dataclass(frozen=True)
class Failure:
    """A request of a run that failed in the end (its last attempt)."""

    url: str
    outcome: str
    status: int | None
    reason: str


@dataclass(frozen=True)
class Notification:
    """A message waiting to be sent to one service (``target``: the hash of its Apprise URL)."""

    id: int
    source: str
    kind: str
    title: str
    body: str
    target: str
    attempts: int


#: Re-extracts a capture: (raw bytes, final URL, HTTP charset, source name) → Document.
Extractor = Callable[[bytes, str, "str | None", str], Document]


def timestamp() -> str:
    """The current UTC time as ISO 8601, the format of every timestamp in the archive."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


migrations = Migrations("govarchive")


@migrations()
def create_tables(db: sqlite_utils.Database) -> None:
    """The first schema (govarchive 0.1)."""
    db.table("sources").create({"name": str, "title": str, "urls": str, "schedule": str, "added": str,
                                "updated": str}, pk="name")
    db.table("runs").create({"id": int, "source": str, "started": str, "finished": str, "full": int,
                             "list_pages": int, "links_found": int, "new": int, "changed": int,
                             "unchanged": int, "removed": int, "failed": int, "error": str},
                            pk="id", foreign_keys=[("source", "sources", "name")])
    db.table("documents").create({
        "id": int, "title": str, "published": str, "source": str, "publisher": str, "url": str,
        "online": int, "first_seen": str, "last_seen": str, "last_changed": str, "removed": str,
        "removed_reason": str, "versions": int, "fields": str, "body": str, "problem": str,
        "etag": str, "last_modified": str, "next_visit": str, "fingerprint": str,
    }, pk="id", foreign_keys=[("source", "sources", "name")], not_null=["url"])
    db.table("documents").create_index(["url"], unique=True)
    db.table("documents").create_index(["source", "published"])
    db.table("captures").create({"id": int, "document_id": int, "fetched": str, "url": str,
                                 "final_url": str, "status": int, "headers": str, "size": int,
                                 "sha256": str, "content": bytes},
                                pk="id", foreign_keys=[("document_id", "documents", "id")])
    db.table("versions").create({"id": int, "document_id": int, "version": int, "captured": str,
                                 "title": str, "published": str, "publisher": str, "fields": str,
                                 "body": str, "attachments": str, "fingerprint": str, "capture_id": int},
                                pk="id", foreign_keys=[("document_id", "documents", "id"),
                                                       ("capture_id", "captures", "id")])
    db.table("versions").create_index(["document_id", "version"], unique=True)
    db.table("attachments").create({"id": int, "document_id": int, "url": str, "text": str,
                                    "first_seen": str}, pk="id",
                                   foreign_keys=[("document_id", "documents", "id")])
    db.table("attachments").create_index(["document_id", "url"], unique=True)
    db.table("fetches").create({"id": int, "run_id": int, "source": str, "document_id": int, "url": str,
                                "started": str, "elapsed": float, "status": int, "outcome": str,
                                "reason": str}, pk="id",
                               foreign_keys=[("run_id", "runs", "id"), ("document_id", "documents", "id"),
                                             ("source", "sources", "name")])
    db.table("fetches").create_index(["run_id"])
    db.execute("CREATE VIRTUAL TABLE documents_fts USING fts5(title, body, tokenize='unicode61')")


@migrations()
def add_files_events_and_year(db: sqlite_utils.Database) -> None:
    """Attachments downloaded into files by content hash; an events history; a year to facet on."""
    db.table("files").create({"sha256": str, "size": int, "content_type": str, "first_seen": str,
                              "content": bytes}, pk="sha256")
    attachments = db.table("attachments")
    for column, kind in (("fetched", str), ("size", int), ("content_type", str), ("error", str)):
        attachments.add_column(column, kind)
    attachments.add_column("sha256", str, fk="files", fk_col="sha256")
    db.table("documents").add_column("year", int)
    db.table("documents").add_column("listed_run", int, fk="runs", fk_col="id")
    db.table("documents").add_column("unlisted", str)
    db.execute("update documents set year = cast(substr(published, 1, 4) as integer)"
               " where published is not null")
    db.table("documents").transform(column_order=["id", "title", "published", "year"])
    db.table("events").create({"id": int, "document_id": int, "run_id": int, "time": str, "event": str,
                               "detail": str}, pk="id",
                              foreign_keys=[("document_id", "documents", "id"), ("run_id", "runs", "id")])
    db.table("events").create_index(["event", "time"])
    # The history so far, as far as the versions tell it.
    db.execute("insert into events (document_id, time, event, detail) select document_id, captured,"
               " case version when 1 then 'new' else 'changed' end, '' from versions order by id")


@migrations()
def add_notifications(db: sqlite_utils.Database) -> None:
    """Notifications to send: a message per service, kept until it is sent (retried after each run).

    ``target`` is a hash of the service's Apprise URL, never the URL: those carry credentials.
    """
    db.table("notifications").create({"id": int, "source": str, "created": str, "kind": str, "title": str,
                                      "body": str, "target": str, "attempts": int, "sent": str,
                                      "error": str}, pk="id")
    db.table("notifications").create_index(["source", "sent"])


@migrations()
def add_rendered_to_captures(db: sqlite_utils.Database) -> None:
    """Captures say whether a browser rendered them (their content is then the HTML it ended with)."""
    db.table("captures").add_column("rendered", int, not_null_default=0)


@migrations()
def add_frontier_and_deferred(db: sqlite_utils.Database) -> None:
    """The frontier: listed documents not yet archived, kept until fetched; deferred counts per run."""
    db.table("frontier").create({"url": str, "source": str, "listed": str, "run_id": int, "tries": int,
                                 "error": str}, pk="url",
                                foreign_keys=[("source", "sources", "name"), ("run_id", "runs", "id")])
    db.table("frontier").create_index(["source"])
    db.table("runs").add_column("deferred", int)


@migrations()
def add_file_text(db: sqlite_utils.Database) -> None:
    """The text of each attachment file (crawler.filetext), once per file content, beside the file."""
    files = db.table("files")
    for column, kind in (("name", str), ("kind", str), ("pages", int), ("text_status", str),
                         ("text_reason", str), ("text", str)):
        files.add_column(column, kind)
    db.execute(VERSION_ATTACHMENTS)


#: Each version's attachments as text, for comparing versions (diff.version_text): per file its
#: link text, then its text (or its hash when it has none). A file listed in its column as the
#: document itself is left out: its text is the version's body.
VERSION_ATTACHMENTS = """
create view version_attachments as
select v.id as version_id, v.document_id, group_concat(
  '附件：' || coalesce(json_extract(j.value, '$.text'), '') || case when coalesce(f.text, '') = ''
    then '（' || substr(f.sha256, 1, 12) || '）' else char(10) || f.text end, char(10)) as text
from versions v
join json_each(v.attachments) j
join files f on f.sha256 = json_extract(j.value, '$.sha256')
where json_extract(j.value, '$.url') <> (select url from documents d where d.id = v.document_id)
group by v.id
"""


class Archive:
    """An open archive database. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(self.path)
        try:
            self._check_ours()
            self.db.execute("PRAGMA busy_timeout = 10000")
            self.db.enable_wal()
            self.db.execute("PRAGMA synchronous = NORMAL")  # see the module's docstring
            self.db.execute("PRAGMA foreign_keys = ON")
            migrations.apply(self.db)
        except BaseException:
            self.db.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    def _check_ours(self) -> None:
        try:
            names = set(self.db.table_names())
        except sqlite3.DatabaseError as e:
            raise NotAnArchive(f"{self.path} is not an SQLite database ({e})") from None
        if names - {"_sqlite_migrations"} and not names & set(TABLES):
            raise NotAnArchive(f"{self.path} is a database of something else (tables: "
                               f"{', '.join(sorted(names)[:5])}); refusing to alter it")

    # -- sources and runs ------------------------------------------------------------------

    def sync_sources(self, sources: Iterable[Source]) -> None:
        """Record the configured sources (kept when they leave the config: their documents stay)."""
        stamp = timestamp()
        with self.db.atomic():
            for s in sources:
                row = {"name": s.name, "title": s.title, "urls": json.dumps(list(s.urls)),
                       "schedule": s.settings.schedule, "updated": stamp}
                if self.db.table("sources").count_where("name = ?", [s.name]):
                    self._update("sources", s.name, row, key="name")
                else:
                    self._insert("sources", {**row, "added": stamp})

    def start_run(self, source: str, *, full: bool = False) -> int:
        with self.db.atomic():
            return self._insert("runs", {"source": source, "started": timestamp(), "full": int(full)})

    def finish_run(self, run_id: int, counts: RunCounts, error: str = "") -> None:
        with self.db.atomic():
            self._update("runs", run_id, {**vars(counts), "finished": timestamp(), "error": error})

    def last_run(self, source: str) -> dict[str, Any] | None:
        """The source's latest run, whatever became of it."""
        return next(self.db.table("runs").rows_where("source = ?", [source], order_by="id desc", limit=1),
                    None)

    def last_complete_run(self, source: str) -> dt.datetime | None:
        """When the source's latest run that went to its end (not interrupted) finished."""
        row = self.db.execute("select max(finished) from runs where source = ? and finished is not null"
                              " and coalesce(error, '') not like ?", [source, f"%{INTERRUPTED}%"]).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row[0] else None

    def status(self) -> list[SourceStatus]:
        """Each recorded source's latest run; a success is a finished run with no error."""
        rows = []
        for name in [r["name"] for r in self.db.query("select name from sources order by name")]:
            last = self.last_run(name)
            success = self.db.execute("select max(finished) from runs where source = ? and finished is not null"
                                      " and coalesce(error, '') = ''", [name]).fetchone()[0]
            docs, online = self.db.execute("select count(*), coalesce(sum(online), 0) from documents"
                                           " where source = ?", [name]).fetchone()
            rows.append(SourceStatus(name, last, success, docs, online, self.backlog(name)))
        return rows

    def record_attempts(self, run_id: int, source: str, attempts: Iterable[Attempt],
                        document_id: int | None = None) -> None:
        rows = [{"run_id": run_id, "source": source, "document_id": document_id, "url": a.url,
                 "started": a.started.isoformat(timespec="seconds"), "elapsed": round(a.elapsed, 3),
                 "status": a.status, "outcome": a.outcome, "reason": a.reason} for a in attempts]
        if rows:
            with self.db.atomic():
                for row in rows:
                    self._insert("fetches", row)

    # -- documents -------------------------------------------------------------------------

    def state(self, url: str) -> DocumentState | None:
        rows = list(self.db.query(
            "select id, url, online, etag, last_modified, next_visit, published, fingerprint"
            " from documents where url = ?", [url]))
        if not rows:
            return None
        r = rows[0]
        published = dt.date.fromisoformat(r["published"]) if r["published"] else None
        return DocumentState(r["id"], r["url"], bool(r["online"]), r["etag"], r["last_modified"],
                             r["next_visit"], published, r["fingerprint"])

    def title(self, url: str) -> str | None:
        """The archived title of a document."""
        row = self.db.execute("select title from documents where url = ?", [url]).fetchone()
        return row[0] if row else None

    def due(self, source: str, before: str | None) -> list[str]:
        """Documents of ``source`` whose revisit time is before ``before`` (None: all).

        Removed documents stay on their schedule, so one that comes back is noticed.
        """
        sql = "select url from documents where source = ?"
        params: list[Any] = [source]
        if before is not None:
            sql += " and (next_visit is null or next_visit <= ?)"
            params.append(before)
        return [r["url"] for r in self.db.query(sql + " order by next_visit", params)]

    # -- the frontier: listed documents not yet archived ---------------------------------------

    def enqueue(self, source: str, urls: Iterable[str], *, run_id: int) -> None:
        """Remember the listed ``urls`` not yet archived until a run archives them."""
        stamp = timestamp()
        todo = list(dict.fromkeys(urls))
        known = self.known(todo)
        new = [u for u in todo if u not in known]
        with self.db.atomic():
            self.db.conn.executemany(
                "insert into frontier (url, source, listed, run_id, tries) values (?, ?, ?, ?, 0)"
                " on conflict (url) do nothing", [(u, source, stamp, run_id) for u in new])

    def frontier(self, source: str) -> list[str]:
        """The source's listed documents waiting to be archived, oldest listing first."""
        return [r[0] for r in self.db.execute("select url from frontier where source = ? and tries < ?"
                                              " order by rowid", [source, FRONTIER_TRIES])]

    def backlog(self, source: str) -> int:
        """How many listed documents of ``source`` wait in the frontier."""
        return int(self.db.execute("select count(*) from frontier where source = ? and tries < ?",
                                   [source, FRONTIER_TRIES]).fetchone()[0])

    def frontier_failed(self, url: str, reason: str, *, permanent: bool) -> None:
        """A listed URL could not be archived this run. It waits for the next runs, except one
        that failed permanently (404, refused …) in FRONTIER_TRIES runs: a broken link, not a
        backlog. Its row stays, so listing it again does not bring it back."""
        with self.db.atomic():
            self.db.execute("update frontier set tries = tries + ?, error = ? where url = ?",
                            [int(permanent), reason, url])

    def known(self, urls: Iterable[str]) -> set[str]:
        """Those of ``urls`` already in the archive."""
        found: set[str] = set()
        for chunk, marks in _batches(list(urls)):
            found.update(r["url"] for r in self.db.query(
                f"select url from documents where url in ({marks})", chunk))
        return found

    def save(self, source: str, result: FetchResult, doc: Document, *,
             downloads: Mapping[str, StoredFile | str] | None = None, run_id: int | None = None,
             next_visit: str | None = None, texts: Mapping[str, FileText] | None = None) -> tuple[Outcome, int]:
        """Archive a fetched document; a new version only when its content changed.

        ``downloads`` maps attachment URLs to their file, already kept by :meth:`store_file`, or to
        the reason it failed; a changed file is a change of the document, a failed download is not.
        ``texts`` maps a file's SHA-256 to its text, for files whose text the archive lacked (see
        :meth:`file_texts`). The document leaves the frontier.
        """
        stamp = result.fetched_at.isoformat(timespec="seconds")
        caching = {"etag": result.headers.get("etag"),
                   "last_modified": result.headers.get("last-modified"), "next_visit": next_visit}
        with self.db.atomic():
            self.db.execute("delete from frontier where url = ?", [result.url])
            old = self.state(result.url)
            hashes = self._hashes(old.id if old else None, downloads or {})
            for sha, text in (texts or {}).items():
                self.set_file_text(sha, text)
            print_ = fingerprint(doc, hashes)
            if old is not None and old.fingerprint == print_:
                self._seen(old, stamp, run_id, caching)
                self._save_attachments(old.id, doc, hashes, downloads or {}, stamp)
                if texts:  # files archived before their text was read (an upgraded archive)
                    self._index(old.id, doc, hashes)
                return Outcome.UNCHANGED, old.id
            doc_id = old.id if old else self._insert_document(source, result.url, stamp)
            detail = self._describe(doc_id, doc, hashes) if old else ""
            number = self._next_version(doc_id)
            self._insert("versions", {
                "document_id": doc_id, "version": number, "captured": stamp, **_content(doc),
                "attachments": json.dumps([{**vars(a), "sha256": hashes.get(a.url)}
                                           for a in doc.attachments], ensure_ascii=False),
                "fingerprint": print_, "capture_id": self._insert_capture(doc_id, result)})
            self._update("documents", doc_id, {
                **_content(doc), "year": doc.published.year if doc.published else None,
                "source": source, "problem": doc.problem, "online": 1, "removed": None,
                "removed_reason": None, "last_seen": stamp, "last_changed": stamp, "versions": number,
                "fingerprint": print_, **caching})
            self._save_attachments(doc_id, doc, hashes, downloads or {}, stamp)
            self._index(doc_id, doc, hashes)
            self._event(doc_id, run_id, stamp, "changed" if old else "new", detail)
        return (Outcome.NEW if old is None else Outcome.CHANGED), doc_id

    def touch(self, state: DocumentState, fetched_at: dt.datetime, *, run_id: int | None = None,
              next_visit: str | None = None) -> None:
        """A document answered 304 Not Modified: it is still online, unchanged."""
        with self.db.atomic():
            self._seen(state, fetched_at.isoformat(timespec="seconds"), run_id,
                       {"next_visit": next_visit})

    def record_listing(self, source: str, urls: list[str], *, whole: bool, run_id: int) -> None:
        """Note which documents the source's columns list now.

        When ``whole`` (every column walked to its end), a document listed before and missing now
        is marked unlisted: it disappeared from its column, whether or not its page still answers.
        """
        stamp = timestamp()
        with self.db.atomic():
            for chunk, marks in _batches(urls):
                for row in self.db.query(f"select id from documents where unlisted is not null and url in"
                                         f" ({marks})", chunk):
                    self._event(row["id"], run_id, stamp, "relisted", "listed in its column again")
                self.db.execute(f"update documents set listed_run = ?, unlisted = null where url in ({marks})",
                                [run_id, *chunk])
            if not whole or not urls:
                return
            gone = list(self.db.query("select id from documents where source = ? and unlisted is null and"
                                      " listed_run < ?", [source, run_id]))
            for row in gone:
                self._update("documents", row["id"], {"unlisted": stamp})
                self._event(row["id"], run_id, stamp, "unlisted", "no longer listed in its column")

    def mark_removed(self, url: str, reason: str, *, run_id: int | None = None) -> bool:
        """Mark an archived document removed (its versions stay); True if it was online."""
        stamp = timestamp()
        with self.db.atomic():
            cursor = self.db.execute(
                "update documents set online = 0, removed = ?, removed_reason = ?"
                " where url = ? and online = 1", [stamp, reason, url])
            if cursor.rowcount:
                state = self.state(url)
                assert state is not None
                self._event(state.id, run_id, stamp, "removed", reason)
        return cursor.rowcount > 0

    def _seen(self, state: DocumentState, stamp: str, run_id: int | None, update: dict[str, Any]) -> None:
        self._update("documents", state.id, {"last_seen": stamp, "online": 1, "removed": None,
                                               "removed_reason": None, **update})
        if not state.online:
            self._event(state.id, run_id, stamp, "returned", "answers again, unchanged")

    def _event(self, doc_id: int, run_id: int | None, stamp: str, event: str, detail: str) -> None:
        self._insert("events", {"document_id": doc_id, "run_id": run_id, "time": stamp,
                                  "event": event, "detail": detail})

    def reextract(self, extractor: Extractor, *, sources: Iterable[str] = ()) -> Reextracted:
        """Run ``extractor`` again over every stored capture, without fetching.

        History is rewritten in place: each version gets the new extraction of its own capture,
        and consecutive versions that now read the same merge into the first. So an improved
        extractor changes what versions say, never how many changes a document seems to have had.
        """
        names = list(sources)
        where = f"where source in ({','.join('?' * len(names))})" if names else ""
        ids = [r["id"] for r in self.db.query(f"select id from documents {where} order by id", names)]
        before = after = updated = 0
        for doc_id in ids:
            with self.db.atomic():
                b, a, changed = self._reextract_document(doc_id, extractor)
            before, after, updated = before + b, after + a, updated + changed
        return Reextracted(len(ids), before, after, updated)

    def _reextract_document(self, doc_id: int, extractor: Extractor) -> tuple[int, int, bool]:
        source, current, url = self.db.execute("select source, fingerprint, url from documents where id = ?",
                                               [doc_id]).fetchone()
        rows = list(self.db.query(
            "select v.id, v.title, v.attachments, c.content, c.final_url, c.headers from versions v"
            " join captures c on c.id = v.capture_id where v.document_id = ? order by v.version", [doc_id]))
        kept: list[tuple[int, Document, str, dict[str, str]]] = []
        for row in rows:
            hashes = {a["url"]: a["sha256"] for a in json.loads(row["attachments"] or "[]") if a.get("sha256")}
            if url in hashes:  # a file listed in its column: its text is the document (file_document)
                stored = self.file_texts([hashes[url]]).get(hashes[url])
                doc = file_document(url, row["title"] or "", stored or "")
            else:
                charset = charset_from_content_type(json.loads(row["headers"] or "{}").get("content-type"))
                doc = extractor(zlib.decompress(row["content"]), row["final_url"], charset, source)
            print_ = fingerprint(doc, hashes)
            if kept and kept[-1][2] == print_:
                self.db.execute("delete from versions where id = ?", [row["id"]])
                continue
            kept.append((row["id"], doc, print_, hashes))
            self._update("versions", row["id"], {**_content(doc), "fingerprint": print_,
                                                   "version": len(kept)})
        if not kept:
            return 0, 0, False
        _, doc, print_, hashes = kept[-1]
        self._update("documents", doc_id, {**_content(doc), "problem": doc.problem,
                                             "year": doc.published.year if doc.published else None,
                                             "versions": len(kept), "fingerprint": print_})
        self._index(doc_id, doc, hashes)
        return len(rows), len(kept), print_ != current

    # Plain statements for the per-document writes: sqlite-utils' insert/update re-read the
    # table's schema on every call, a third of the time of archiving a document.
    def _insert(self, table: str, row: dict[str, Any]) -> int:
        """Insert a row; return its id."""
        names = ", ".join(f"[{k}]" for k in row)
        cursor = self.db.execute(f"insert into [{table}] ({names}) values ({', '.join('?' * len(row))})",
                                 list(row.values()))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def _update(self, table: str, pk: Any, row: dict[str, Any], key: str = "id") -> None:
        """Set the columns of ``row`` in the row whose ``key`` is ``pk``."""
        sets = ", ".join(f"[{k}] = ?" for k in row)
        self.db.execute(f"update [{table}] set {sets} where [{key}] = ?", [*row.values(), pk])

    def _insert_document(self, source: str, url: str, stamp: str) -> int:
        return self._insert("documents", {"url": url, "source": source, "first_seen": stamp, "online": 1,
                                          "versions": 0})

    def _insert_capture(self, doc_id: int, result: FetchResult) -> int:
        return self._insert("captures", {
            "document_id": doc_id, "fetched": result.fetched_at.isoformat(timespec="seconds"),
            "url": result.url, "final_url": result.final_url, "status": result.status,
            "headers": json.dumps(result.headers, ensure_ascii=False), "size": len(result.content),
            "sha256": hashlib.sha256(result.content).hexdigest(),
            "content": zlib.compress(result.content, 6), "rendered": int(result.rendered)})

    def _next_version(self, doc_id: int) -> int:
        row = self.db.execute("select max(version) from versions where document_id = ?",
                              [doc_id]).fetchone()
        return (row[0] or 0) + 1

    def _index(self, doc_id: int, doc: Document, hashes: Mapping[str, str]) -> None:
        """Index the title, and the body followed by the text of the document's attachments."""
        url = self.db.execute("select url from documents where id = ?", [doc_id]).fetchone()[0]
        # A file listed in its column is its own attachment: its text is the body already.
        shas = [hashes[a.url] for a in doc.attachments if a.url in hashes and a.url != url]
        texts = self.file_texts(shas)
        body = "\n".join([doc.body, *(texts[sha].text for sha in dict.fromkeys(shas) if sha in texts)])
        self.db.execute("delete from documents_fts where rowid = ?", [doc_id])
        self.db.execute("insert into documents_fts (rowid, title, body) values (?, ?, ?)",
                        [doc_id, search_text(doc.title), search_text(body)])

    # -- attachment files ------------------------------------------------------------------

    def store_file(self, content: bytes, content_type: str, stamp: str | None = None,
                   name: str = "") -> StoredFile:
        """Keep a downloaded file by content hash, at once and in its own transaction, so a
        document's attachments are held in memory one at a time; ``save`` then links them."""
        sha = hashlib.sha256(content).hexdigest()
        with self.db.atomic():
            self.db.execute(
                "insert into files (sha256, size, content_type, first_seen, name, content)"
                " values (?, ?, ?, ?, ?, ?) on conflict (sha256) do nothing",
                [sha, len(content), content_type, stamp or timestamp(), name, content])
        return StoredFile(sha, len(content), content_type)

    def file_texts(self, shas: Iterable[str]) -> dict[str, FileText]:
        """The stored text of those files (by SHA-256) that have been read."""
        found: dict[str, FileText] = {}
        for chunk, marks in _batches(list(dict.fromkeys(shas))):
            for r in self.db.query(f"select sha256, kind, text, pages, text_status, text_reason from files"
                                   f" where text_status is not null and sha256 in ({marks})", chunk):
                found[r["sha256"]] = FileText(r["kind"] or "", r["text"] or "", r["pages"],
                                              r["text_status"], r["text_reason"] or "")
        return found

    def set_file_text(self, sha: str, text: FileText) -> None:
        """Record what a file says (a file that is not archived is ignored)."""
        self._update("files", sha, {"kind": text.kind, "text": text.text, "pages": text.pages,
                                    "text_status": text.status, "text_reason": text.reason}, key="sha256")

    def stored_files(self, sources: Iterable[str] = ()) -> list[tuple[str, str, str]]:
        """(SHA-256, name, Content-Type) of every archived file, or of those of ``sources``' documents."""
        names = list(sources)
        where = (f"where sha256 in (select a.sha256 from attachments a join documents d on"
                 f" d.id = a.document_id where d.source in ({','.join('?' * len(names))}))") if names else ""
        return [(r["sha256"], r["name"] or "", r["content_type"] or "") for r in self.db.query(
            f"select sha256, name, content_type from files {where} order by first_seen", names)]

    def file_content(self, sha: str) -> bytes | None:
        row = self.db.execute("select content from files where sha256 = ?", [sha]).fetchone()
        return bytes(row[0]) if row else None

    def _hashes(self, doc_id: int | None, downloads: Mapping[str, StoredFile | str]) -> dict[str, str]:
        """Each attachment URL's file hash. A download that failed keeps the hash archived
        before, so it never looks like a change."""
        hashes = {}
        if doc_id is not None:
            hashes = {r["url"]: r["sha256"] for r in self.db.query(
                "select url, sha256 from attachments where document_id = ? and sha256 is not null",
                [doc_id])}
        hashes.update({url: got.sha256 for url, got in downloads.items() if isinstance(got, StoredFile)})
        return hashes

    def _save_attachments(self, doc_id: int, doc: Document, hashes: Mapping[str, str],
                          downloads: Mapping[str, StoredFile | str], stamp: str) -> None:
        for a in doc.attachments:
            got = downloads.get(a.url)
            row: dict[str, Any] = {"text": a.text, "sha256": hashes.get(a.url)}
            if isinstance(got, str):
                row["error"] = got
            elif got is not None:
                row.update(fetched=stamp, size=got.size, error=None, content_type=got.content_type)
            existing = list(self.db.query("select id from attachments where document_id = ? and url = ?",
                                          [doc_id, a.url]))
            if existing:
                self._update("attachments", existing[0]["id"], row)
            else:
                self._insert("attachments", {"document_id": doc_id, "url": a.url, "first_seen": stamp,
                                               **row})

    def _describe(self, doc_id: int, doc: Document, hashes: Mapping[str, str]) -> str:
        """What changed since the current version, in words, for the events table and feeds."""
        rows = list(self.db.query("select * from versions where document_id = ? order by version desc"
                                  " limit 1", [doc_id]))
        if not rows:
            return ""
        old, new = rows[0], _content(doc)
        parts = [k for k in ("title", "published", "publisher", "fields")
                 if normal(str(old[k] or "")) != normal(str(new[k] or ""))]
        if normal(old["body"] or "") != normal(doc.body):
            before, after = set((old["body"] or "").splitlines()), set(doc.body.splitlines())
            parts.append(f"body (+{len(after - before)} −{len(before - after)} paragraphs)")
        old_files = {a["url"]: a.get("sha256") for a in json.loads(old["attachments"] or "[]")}
        if old_files != {a.url: hashes.get(a.url) for a in doc.attachments}:
            parts.append("attachments")
        return "changed: " + ", ".join(parts) if parts else "changed"


    # -- what a run found, and notifications ----------------------------------------------

    def run_events(self, run_id: int) -> list[RunEvent]:
        """The events a run recorded, each with the document's version before and after it."""
        content = ("title, published, publisher, fields, body,"
                   " (select a.text from version_attachments a where a.version_id = versions.id)")
        out = []
        for e in self.db.query("select e.document_id, e.event, e.detail, e.time, d.title, d.url from events e"
                               " join documents d on d.id = e.document_id where e.run_id = ? order by e.id",
                               [run_id]):
            rows = self.db.execute(f"select {content} from versions where document_id = ? and captured <= ?"
                                   " order by version desc limit 2", [e["document_id"], e["time"]]).fetchall()
            after = tuple(rows[0]) if rows else None
            before = tuple(rows[1]) if len(rows) > 1 and e["event"] == "changed" else None
            out.append(RunEvent(e["document_id"], e["event"], e["detail"] or "", e["title"] or e["url"],
                                e["url"], before, after))
        return out

    def run_failures(self, run_ids: Iterable[int]) -> list[Failure]:
        """The requests of these runs that failed in the end: not retried attempts, nor the 404 of an
        archived document (that is a removal)."""
        ids = list(run_ids)
        if not ids:
            return []
        return [Failure(r["url"], r["outcome"], r["status"], r["reason"] or "") for r in self.db.query(
            f"select url, outcome, status, reason from fetches where run_id in ({','.join('?' * len(ids))})"
            " and outcome not in ('ok', 'not_modified', 'redirect', 'retry', 'probe')"
            " and not (outcome = 'Gone' and document_id is not null) order by id", ids)]

    def last_success(self, source: str) -> str | None:
        """When the source's latest run without an error finished."""
        return self.db.execute("select max(finished) from runs where source = ? and finished is not null"
                               " and coalesce(error, '') = ''", [source]).fetchone()[0]

    def first_run(self, source: str) -> str | None:
        """When the source's first recorded run started."""
        return self.db.execute("select min(started) from runs where source = ?", [source]).fetchone()[0]

    def queue_notification(self, source: str, kind: str, title: str, body: str, targets: Iterable[str]) -> None:
        """Keep a message to send to each target until it is sent."""
        stamp = timestamp()
        with self.db.atomic():
            for target in targets:
                self._insert("notifications", {"source": source, "created": stamp, "kind": kind, "title": title,
                                               "body": body, "target": target, "attempts": 0})

    def notified_since(self, source: str, kind: str, since: str | None) -> bool:
        """Whether a message of this kind was queued for the source after ``since`` (None: ever)."""
        return bool(self.db.execute("select 1 from notifications where source = ? and kind = ? and created > ?"
                                    " limit 1", [source, kind, since or ""]).fetchone())

    def pending_notifications(self, source: str) -> list[Notification]:
        """The source's unsent messages, oldest first."""
        return [Notification(r["id"], r["source"], r["kind"], r["title"], r["body"], r["target"], r["attempts"])
                for r in self.db.query("select * from notifications where source = ? and sent is null"
                                       " order by id", [source])]

    def notification_tried(self, notification_id: int, error: str) -> None:
        """Record a try: sent (``error`` empty), else why not; an unsent message is tried again later."""
        with self.db.atomic():
            self.db.execute("update notifications set attempts = attempts + 1, error = ?, sent = ? where id = ?",
                            [error or None, None if error else timestamp(), notification_id])


def _batches(urls: list[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """``urls`` in slices small enough for one ``in (…)`` clause, each with its placeholders."""
    for i in range(0, len(urls), size):
        chunk = urls[i:i + size]
        yield chunk, ",".join("?" * len(chunk))


def _content(doc: Document) -> dict[str, Any]:
    return {"title": doc.title, "published": doc.published.isoformat() if doc.published else None,
            "publisher": doc.publisher, "fields": json.dumps(doc.fields, ensure_ascii=False),
            "body": doc.body}


def fingerprint(doc: Document, attachment_hashes: Mapping[str, str] | None = None) -> str:
    """A hash of what a document says; equal for pages that differ only in layout or noise.

    ``attachment_hashes`` (URL → sha256 of the file) makes a changed attachment a change.
    """
    hashes = attachment_hashes or {}
    content = [normal(doc.title), str(doc.published or ""), normal(doc.publisher),
               sorted((normal(k), normal(v)) for k, v in doc.fields.items()), normal(doc.body),
               sorted((a.url, hashes.get(a.url, "")) for a in doc.attachments)]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


# Chinese has no spaces, so SQLite's tokenizer would index a whole sentence as one token.
# Indexing overlapping character pairs (bigrams) lets any word of two or more characters be
# found as a phrase of its pairs: 行政复议 → "行政 政复 复议".
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")


def _bigrams(run: str) -> str:
    return run if len(run) == 1 else " ".join(run[i:i + 2] for i in range(len(run) - 1))


def search_text(text: str) -> str:
    """Text as the full-text index stores it: Chinese runs as overlapping bigrams."""
    return _CJK.sub(lambda m: f" {_bigrams(m.group())} ", unicodedata.normalize("NFKC", text or ""))


def search_query(query: str) -> str:
    """A user's search (words separated by spaces, all required) as an FTS5 query on that index."""
    terms = []
    for word in unicodedata.normalize("NFKC", query).split():
        tokens = search_text(word).split()
        if len(tokens) == 1 and _CJK.fullmatch(tokens[0]) and len(tokens[0]) == 1:
            terms.append(f'"{tokens[0]}"*')  # one character: any pair that starts with it
        elif tokens:
            terms.append('"' + " ".join(t.replace('"', '""') for t in tokens) + '"')
    return " ".join(terms)
