"""The archive: one SQLite file, written with sqlite-utils, browsed with Datasette.

Tables (CONTRACT.md): ``sources``, ``documents``, ``versions``, ``captures``, ``fetches``,
``attachments``, ``runs``, and ``documents_fts`` for full-text search. A document gets a new
``versions`` row only when its extracted content changes; every HTTP attempt is a ``fetches`` row.
Each write is all or nothing, in a ``BEGIN IMMEDIATE`` transaction of its own or a savepoint of a
crawl's batch (:meth:`Archive.batch`), so a crash at any point leaves a consistent database, and
several processes may write one archive: each transaction waits its turn for the write lock (a
deferred transaction that reads and then writes could instead fail with "database is locked"
whatever the busy timeout). Opening and migrating the schema, and crawling
one source, are serialized across processes by ``flock`` locks in ``.<db name>.locks/`` beside it.

The journal is a write-ahead log with ``synchronous = NORMAL``: a commit is written to the log
but not flushed to the disk (the log is flushed at each checkpoint). A crash of the crawler
(``kill -9``, an exception) loses nothing committed, since the log is in the operating system's
hands; a power cut or a crash of the operating system may lose the last commits, never the
database's consistency, and the next run fetches those documents again, as it would after any
interrupted crawl.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import operator
import os
import re
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
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
from .text import nfkc, normal, squeeze

__all__ = [
    "CAPTURE_LEVEL",
    "FRONTIER_TRIES",
    "Adoption",
    "Archive",
    "ArchiveBusy",
    "ArchiveError",
    "DocumentState",
    "Failure",
    "NoArchive",
    "NotAnArchive",
    "Notification",
    "Outcome",
    "Prepared",
    "Reextracted",
    "RunCounts",
    "RunEvent",
    "RunRow",
    "SourceBusy",
    "SourceStatus",
    "StoredFile",
    "TooManyMerges",
    "archive_error",
    "fingerprint",
    "prepare",
    "search_query",
    "search_text",
    "search_words",
    "timestamp",
    "utcnow",
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

#: The tables the schema creates (Datasette's metadata describes each).
TABLES = ("sources", "documents", "versions", "captures", "fetches", "attachments", "files", "events",
          "runs", "notifications", "frontier")

#: Runs in which a listed URL may fail permanently (404, refused …) before the frontier drops it.
FRONTIER_TRIES = 3
#: The error of a run that did not start because another process was crawling its source.
SKIPPED = "skipped"
#: Milliseconds SQLite waits for another connection's lock before giving up on one attempt.
BUSY_TIMEOUT_MS = 5000
#: Seconds a write (or opening the archive) waits in all for other writers before giving up.
WRITE_WAIT = 120.0
#: A crawl's writes are committed in batches (:meth:`Archive.batch`) of this many writes, or
#: sooner when the oldest is this many seconds old.
BATCH_WRITES = 100
BATCH_SECONDS = 1.0
#: The migration set whose record in ``_sqlite_migrations`` marks a database as a govarchive archive.
MIGRATION_SET = "govarchive"


class ArchiveError(Exception):
    """The archive cannot be used as asked; the message is one line naming the file and the fix."""


class NotAnArchive(ArchiveError):
    """The file is not a govarchive archive (another SQLite database, or not SQLite); left alone."""


class NoArchive(ArchiveError):
    """The archive file does not exist, and the command only reads archives."""


class ArchiveBusy(ArchiveError):
    """Another process held the archive's write lock for longer than :data:`WRITE_WAIT`."""


class SourceBusy(ArchiveError):
    """Another process is crawling the source; ``run_id`` is the skipped run's record."""

    def __init__(self, message: str, run_id: int) -> None:
        super().__init__(message)
        self.run_id = run_id


# SQLite's primary result codes (sqlite3.h) of errors that are about the file, not the program,
# with what each means to the user.
_BUSY, _READONLY, _CANTOPEN, _NOTADB = 5, 8, 14, 26
_FILE_ERRORS: dict[int, tuple[type[ArchiveError], str]] = {
    _BUSY: (ArchiveBusy, "{path}: another process kept the archive locked ({why}); try again later"),
    8: (ArchiveError, ("{path}: the archive is read-only ({why}); check the permissions of the file, its "
                      "folder and its -wal and -shm files, or the mount")),
    10: (ArchiveError, "{path}: the disk failed to read or write the archive ({why})"),
    11: (ArchiveError, "{path}: the archive is damaged ({why}); restore it from a backup (docs/deploy.md)"),
    13: (ArchiveError, ("{path}: the disk is full ({why}); what was archived before is kept: free some "
                       "space and run again")),
    14: (ArchiveError, ("{path}: cannot open the archive ({why}); check that its folder exists and is "
                       "readable and writable")),
    _NOTADB: (NotAnArchive, "{path} is not an SQLite database ({why}); choose another file with --db"),
}


def archive_error(path: str | Path, error: BaseException) -> ArchiveError | None:
    """The one-line :class:`ArchiveError` an SQLite error about the archive file means (read-only,
    full, damaged …), or None for any other error: a bug, which should stay a traceback."""
    if isinstance(error, ArchiveError):
        return error
    code = getattr(error, "sqlite_errorcode", None)
    if not isinstance(error, sqlite3.DatabaseError) or code is None or code & 0xFF not in _FILE_ERRORS:
        return None
    code &= 0xFF
    if code in (_CANTOPEN, _READONLY) and not all(os.access(p, os.W_OK) for p in (path, Path(path).parent)
                                                 if os.path.exists(p)):
        code = _READONLY  # SQLite says "unable to open" when it cannot make the -shm file
    kind, template = _FILE_ERRORS[code]
    return kind(template.format(path=path, why=error))


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
        # Field by field: astuple deep-copies, and the crawl adds a tally per request.
        return RunCounts(**{name: getattr(self, name) + getattr(other, name) for name in _COUNTED})

    @property
    def documents(self) -> int:
        """Documents handled so far (not list pages, robots.txt or deferred ones)."""
        return self.new + self.changed + self.unchanged + self.removed + self.failed


_COUNTED = tuple(f.name for f in fields(RunCounts))


@dataclass(frozen=True)
class StoredFile:
    """An attachment kept in ``files`` (see ``Archive.store_file``), as a document's save needs it."""

    sha256: str
    size: int
    content_type: str


@dataclass(frozen=True)
class RunRow:
    """A ``runs`` row: one crawl of one source; ``finished`` is None while it runs (or if it was
    killed)."""

    id: int
    source: str
    started: str
    finished: str | None
    full: bool
    list_pages: int
    links_found: int
    new: int
    changed: int
    unchanged: int
    removed: int
    failed: int
    deferred: int
    error: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RunRow:
        counts = {f.name: row[f.name] or 0 for f in fields(RunCounts)}
        return cls(id=row["id"], source=row["source"], started=row["started"], finished=row["finished"],
                   full=bool(row["full"]), error=row["error"] or "", **counts)


@dataclass(frozen=True)
class SourceStatus:
    """A source's health: its latest run and its latest successful one."""

    source: str
    last_run: RunRow | None
    last_success: str | None
    documents: int
    online: int
    #: Listed documents not yet archived (the frontier), waiting for the next runs.
    backlog: int = 0


@dataclass(frozen=True)
class Adoption:
    """Documents of a source no longer configured, taken over by the configured one that watches
    the same URLs (a renamed source)."""

    old: str
    new: str
    documents: int


@dataclass(frozen=True)
class Reextracted:
    """What ``Archive.reextract`` did (or, on a dry run, would do)."""

    documents: int
    #: Distinct (unmerged) versions before and after.
    versions_before: int
    versions_after: int
    #: Documents whose current text differs from what the earlier extractor gave.
    updated: int
    #: Version rows, all kept; those newly merged into an earlier one; those split off again.
    versions: int = 0
    merged: int = 0
    unmerged: int = 0

    def __add__(self, other: Reextracted) -> Reextracted:
        return Reextracted(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


class TooManyMerges(ArchiveError):
    """A re-extraction would merge more versions than it may without ``yes``."""


#: Share of versions a re-extraction may merge without being told ``yes``.
MAX_MERGE_SHARE = 0.1


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


def utcnow() -> dt.datetime:
    """The current time, in UTC: the one clock of the crawler and the scheduler."""
    return dt.datetime.now(dt.UTC)


def timestamp() -> str:
    """The current UTC time as ISO 8601, the format of every timestamp in the archive."""
    return utcnow().isoformat(timespec="seconds")


#: zlib level of stored captures: on government pages 3 takes half the time of 6 for 10 % more bytes.
CAPTURE_LEVEL = 3

migrations = Migrations("govarchive")

#: The search index: contentless (``content=''``), so SQLite keeps the index, not the bigram
#: text it was built from (half of a database). FTS5 removes a row of such an index only given
#: the very values it was inserted with, so ``documents_fts_source`` keeps what each row was made
#: from, in NFKC before the pairs, the body compressed (a fifth of the bigram text): whatever
#: changes later (the document, its attachments' text), a row is removed exactly.
SEARCH_INDEX = "title, body, content='', tokenize='unicode61'"


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



@migrations()
def add_merged_into(db: sqlite_utils.Database) -> None:
    """Versions that a re-extraction found to read the same as an earlier one point to it instead
    of being deleted, so a later re-extraction can tell them apart again."""
    db.table("versions").add_column("merged_into", int)


@migrations()
def contentless_search_index(db: sqlite_utils.Database) -> None:
    """The search index keeps its index only, not a second copy of every text as bigrams (which
    was half of a database); see SEARCH_INDEX. Rebuilt from each document's text and the text of
    its current version's attachments, as ``Archive._index`` indexes them."""
    db.execute("DROP TABLE documents_fts")
    db.execute(f"CREATE VIRTUAL TABLE documents_fts USING fts5({SEARCH_INDEX})")
    db.table("documents_fts_source").create({"id": int, "title": str, "body": bytes}, pk="id")
    files = """select group_concat(f.text, char(10)) from (
      select distinct json_extract(j.value, '$.sha256') as sha from versions v, json_each(v.attachments) j
      where v.document_id = d.id and v.version = (select max(version) from versions where document_id = d.id
                                                  and merged_into is null)
        and json_extract(j.value, '$.url') <> d.url) a join files f on f.sha256 = a.sha where f.text <> ''"""
    for doc_id, title, body, attached in db.execute(
            f"select d.id, d.title, d.body, ({files}) from documents d where d.versions > 0").fetchall():
        _add_to_index(db, doc_id, nfkc(title or ""), nfkc("\n".join(filter(None, [body or "", attached]))))


#: Every migration this version knows, in order; a database with any other is from a newer govarchive.
KNOWN_MIGRATIONS = tuple(m.name for m in migrations._migrations)


class Archive:
    """An open archive database. Use as a context manager, or call :meth:`close`.

    ``create=False`` refuses a file that does not exist (:class:`NoArchive`) instead of creating it.
    Opening never writes to a database that is not a govarchive archive, or is from a newer one.
    """

    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        #: Source locks held by this process's runs: run id → the open lock file.
        self._running: dict[int, int] = {}
        #: Open :meth:`batch` blocks, and the batch's limits and progress while one is open.
        self._batches = 0
        self._batch: _Batch | None = None
        self._depth = 0  # _write blocks open (nested ones are savepoints)
        #: Search index rows to write when the batch commits: (id, title, body, their search text).
        self._indexing: list[tuple[int, str, str, tuple[str, str]]] = []
        if not create and not self.path.is_file():
            raise NoArchive(f"{self.path}: no such archive (check --db or $GOVARCHIVE_DB; "
                            "`govarchive crawl` creates it)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ArchiveError(f"{self.path}: cannot create its folder ({e.strerror or e})") from None
        self.db = sqlite_utils.Database(self.path)
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._open()
        except BaseException as e:
            self.db.close()
            translated = archive_error(self.path, e)
            if translated is not None and translated is not e:
                raise translated from None
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for fd in self._running.values():
            os.close(fd)
        self._running.clear()
        self.db.close()

    def _open(self) -> None:
        """Check the file is ours, then bring its schema up to date, one process at a time."""
        if self._applied() != list(KNOWN_MIGRATIONS) or self.db.journal_mode != "wal":
            with self._lock("open"):
                applied = self._applied()  # again: another process may have migrated meanwhile
                self.db.enable_wal()
                self.db.execute("PRAGMA foreign_keys = ON")
                if applied != list(KNOWN_MIGRATIONS):
                    with self._write():
                        migrations.apply(self.db)
        self.db.execute("PRAGMA synchronous = NORMAL")  # see the module's docstring
        self.db.execute("PRAGMA foreign_keys = ON")

    def _applied(self) -> list[str]:
        """Our migrations the file has; raise if it is not ours or is from a newer govarchive."""
        names = set(self.db.table_names())  # "file is not a database" here is translated by __init__
        applied: list[str] = []
        if "_sqlite_migrations" in names:
            applied = [r[0] for r in self.db.execute(
                "select name from _sqlite_migrations where migration_set = ? order by rowid",
                [MIGRATION_SET])]
        if not applied and names - {"_sqlite_migrations"}:
            raise NotAnArchive(f"{self.path} is a database of something else (tables: "
                               f"{', '.join(sorted(names)[:5])}; no govarchive migrations); refusing to "
                               "alter it: choose another file with --db")
        unknown = [name for name in applied if name not in KNOWN_MIGRATIONS]
        if unknown:
            raise ArchiveError(f"{self.path} was written by a newer govarchive (schema migration "
                               f"{unknown[0]!r}, unknown to govarchive {_version()}); upgrade govarchive"
                               " to use it")
        return applied

    @contextlib.contextmanager
    def batch(self, *, writes: int = BATCH_WRITES, seconds: float = BATCH_SECONDS) -> Iterator[None]:
        """Group the writes made inside into transactions of up to ``writes`` writes or ``seconds``
        (a crawl saves a document per write: one commit each cost more than the saving).

        Each write stays all or nothing (a savepoint). A crash loses at most the writes not yet
        committed, and those are whole: a document that leaves the frontier leaves it in the same
        transaction as its new version, so the next run fetches it again. Other processes see a
        write when its transaction commits: :meth:`flush` commits early (the crawl calls it
        every ``seconds`` while it waits for the network), and so does leaving the block, or
        :meth:`finish_run`. Blocks may nest (sources crawled at once share one batch).
        """
        self._batches += 1
        if self._batch is None:
            self._batch = _Batch(writes, seconds)
        try:
            yield
        finally:
            self._batches -= 1
            if not self._batches:
                self._batch = None
                self.flush()

    def flush(self) -> None:
        """Commit the writes of a :meth:`batch` made so far."""
        if self._depth or not self.db.conn.in_transaction:
            return
        try:
            self._write_index()
            self.db.conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            self._rollback()
            translated = archive_error(self.path, e)
            if translated is None:
                raise
            raise translated from e
        if self._batch is not None:
            self._batch.count = 0

    def flush_due(self) -> bool:
        """Whether a batch has writes older than its ``seconds`` waiting to be committed."""
        batch = self._batch
        return batch is not None and batch.count > 0 and time.monotonic() - batch.began >= batch.seconds

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken with ``BEGIN IMMEDIATE`` so it never fails half way for a lock.

        Nested, it is a savepoint of the enclosing one; inside a :meth:`batch`, a savepoint of the
        batch's transaction. SQLite errors about the file (read-only, full, damaged) come out as
        :class:`ArchiveError`.
        """
        conn = self.db.conn
        batch = self._batch
        try:
            if self._depth or (conn.in_transaction and batch is None):
                self._depth += 1
                try:
                    with self._savepoint():
                        yield
                finally:
                    self._depth -= 1
                return
            if not conn.in_transaction:
                self._begin()
                if batch is not None:
                    batch.began, batch.count = time.monotonic(), 0
            self._depth += 1
            indexed = len(self._indexing)
            try:
                if batch is None:
                    yield
                else:
                    with self._savepoint():  # a failed write undoes itself only
                        yield
            except BaseException:
                del self._indexing[indexed:]
                if batch is None:
                    self._rollback()
                raise
            finally:
                self._depth -= 1
            if batch is None:
                conn.execute("COMMIT")
            else:
                batch.count += 1
                if batch.count >= batch.writes or time.monotonic() - batch.began >= batch.seconds:
                    self.flush()
        except sqlite3.DatabaseError as e:
            translated = archive_error(self.path, e)
            # In a batch, a failed statement was undone by its savepoint and the batch's other writes
            # stand; a failing file (full, read-only, damaged) ends the transaction.
            if not self._depth and (batch is None or translated is not None):
                self._rollback()
            if translated is None:
                raise
            raise translated from e

    def _rollback(self) -> None:
        """Roll the open transaction back, with the search index rows it was to write at its commit."""
        self.db.rollback()
        self._indexing.clear()

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        """A savepoint of the open transaction. One name for all (SQLite nests them by name):
        sqlite-utils' ``atomic`` names each anew, and each new name is a statement to compile."""
        conn = self.db.conn
        conn.execute("SAVEPOINT govarchive_write")
        try:
            yield
        except BaseException:
            if conn.in_transaction:  # an error may have ended the whole transaction
                conn.execute("ROLLBACK TO govarchive_write")
                conn.execute("RELEASE govarchive_write")
            raise
        conn.execute("RELEASE govarchive_write")

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE``, waiting up to :data:`WRITE_WAIT` seconds in all for other writers."""
        deadline = time.monotonic() + WRITE_WAIT
        while True:
            try:
                self.db.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if getattr(e, "sqlite_errorcode", 0) & 0xFF != _BUSY or time.monotonic() > deadline:
                    raise
                # SQLite's busy handler already waited BUSY_TIMEOUT_MS; wait again.

    @contextlib.contextmanager
    def _lock(self, name: str, *, wait: bool = True) -> Iterator[int | None]:
        """Hold the ``flock`` lock ``name`` of this archive; yields the open lock file (None when the
        folder is not writable: then nothing can be written anyway, and SQLite will say so).

        With ``wait=False`` raise :class:`BlockingIOError` at once if another process holds it.
        """
        fd = self._lock_file(name)
        if fd is None:
            yield None
            return
        try:
            _flock(fd, wait=wait, what=f"{self.path}: waiting for another process to open the archive")
            yield fd
        finally:
            os.close(fd)

    def _lock_file(self, name: str) -> int | None:
        folder = self.path.parent / f".{self.path.name}.locks"
        try:
            folder.mkdir(exist_ok=True)
            return os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None

    # -- sources and runs ------------------------------------------------------------------

    def sync_sources(self, sources: Iterable[Source]) -> list[Adoption]:
        """Record the configured sources (kept when they leave the config: their documents stay).

        A source no longer configured whose column URLs a configured source now watches was renamed:
        its documents are adopted by the configured one (see :meth:`_adopt`), and returned.
        """
        stamp = timestamp()
        sources = list(sources)
        with self._write():
            for s in sources:
                row = {"name": s.name, "title": s.title, "urls": json.dumps(list(s.urls)),
                       "schedule": s.settings.schedule, "updated": stamp}
                if self.db.execute("select 1 from sources where name = ?", [s.name]).fetchone():
                    self._update("sources", s.name, row, key="name")
                else:
                    self._insert("sources", {**row, "added": stamp})
            return self._adopt(sources, stamp)

    def _adopt(self, sources: list[Source], stamp: str) -> list[Adoption]:
        """Move the documents of unconfigured sources to the configured source that watches the
        same column URLs, or lists them among its ``pages``; each move is an ``adopted`` event."""
        names = {s.name for s in sources}
        recorded = {r[0]: set(json.loads(r[1] or "[]")) for r in self.db.execute(
            "select name, urls from sources")}
        adopted: list[Adoption] = []
        for s in sources:
            for old, urls in recorded.items():
                if old in names:
                    continue
                if urls & set(s.urls):
                    where, params = "source = ?", [old]
                elif s.pages:
                    where, params = f"source = ? and url in ({','.join('?' * len(s.pages))})", [old, *s.pages]
                else:
                    continue
                ids = [r[0] for r in self.db.execute(f"select id from documents where {where}", params)]
                for doc_id in ids:
                    self._update("documents", doc_id, {"source": s.name})
                    self._event(doc_id, None, stamp, "adopted", f"from source {old!r}, no longer configured,"
                                f" by {s.name!r}, which watches its URLs")
                if ids:
                    adopted.append(Adoption(old, s.name, len(ids)))
        return adopted

    def orphans(self, configured: Iterable[str]) -> dict[str, int]:
        """Sources not in ``configured`` that still hold documents (never revisited), with how many."""
        names = list(configured)
        return {r[0]: r[1] for r in self.db.execute(
            "select source, count(*) from documents where source not in"
            f" ({','.join('?' * len(names))}) group by source order by source", names)}

    def start_run(self, source: str, *, full: bool = False) -> int:
        """Record the start of a crawl of ``source``; it holds the source's lock until
        :meth:`finish_run`. If another process is crawling the source, record a skipped run and
        raise :class:`SourceBusy`."""
        fd = self._lock_file(f"source-{source}")
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                why = f"{SKIPPED}: another process (pid {holder}) is crawling this source"
                with self._write():
                    stamp = timestamp()
                    run_id = self._insert("runs", {"source": source, "started": stamp, "finished": stamp,
                                                   "full": int(full), "error": why})
                raise SourceBusy(f"source {source!r}: {why}", run_id) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            with self._write():
                run_id = self._insert("runs", {"source": source, "started": timestamp(), "full": int(full)})
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        if fd is not None:
            self._running[run_id] = fd
        return run_id

    def finish_run(self, run_id: int, counts: RunCounts, error: str = "") -> None:
        """Record the end of a run and release its source."""
        try:
            with self._write():
                self._update("runs", run_id, {**vars(counts), "finished": timestamp(), "error": error})
            self.flush()  # the run's writes are all committed before another process may crawl the source
        finally:
            fd = self._running.pop(run_id, None)
            if fd is not None:
                os.close(fd)

    def last_run(self, source: str) -> RunRow | None:
        """The source's latest run, whatever became of it (a skipped start does not count)."""
        row = self.db.execute(
            "select * from runs where source = ? and coalesce(error, '') not like ? order by id desc limit 1",
            [source, f"{SKIPPED}:%"])
        names = [d[0] for d in row.description]
        found = row.fetchone()
        return RunRow.from_row(dict(zip(names, found, strict=True))) if found else None

    def last_complete_run(self, source: str) -> dt.datetime | None:
        """When the source's latest run that went to its end (not interrupted) finished."""
        row = self.db.execute("select max(finished) from runs where source = ? and finished is not null"
                              " and coalesce(error, '') not like ? and coalesce(error, '') not like ?",
                              [source, f"%{INTERRUPTED}%", f"{SKIPPED}:%"]).fetchone()
        return dt.datetime.fromisoformat(row[0]) if row[0] else None

    def status(self) -> list[SourceStatus]:
        """Each recorded source's latest run; a success is a finished run with no error."""
        rows = []
        for name in [r[0] for r in self.db.execute("select name from sources order by name").fetchall()]:
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
            with self._write():
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
        with self._write():
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
        with self._write():
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
             next_visit: str | None = None, texts: Mapping[str, FileText] | None = None,
             prepared: Prepared | None = None, capture: bytes | None = None) -> tuple[Outcome, int]:
        """Archive a fetched document; a new version only when its content changed.

        ``downloads`` maps attachment URLs to their file, already kept by :meth:`store_file`, or to
        the reason it failed; a changed file is a change of the document, a failed download is not.
        ``texts`` maps a file's SHA-256 to its text, for files whose text the archive lacked (see
        :meth:`file_texts`). The document leaves the frontier. ``prepared`` is ``prepare(doc)`` and
        ``capture`` the page's content zlib-compressed, when the caller made them already (in a
        worker process: crawler.reading).
        """
        stamp = result.fetched_at.isoformat(timespec="seconds")
        caching = {"etag": result.headers.get("etag"),
                   "last_modified": result.headers.get("last-modified"), "next_visit": next_visit}
        with self._write():
            self.db.execute("delete from frontier where url = ?", [result.url])
            old = self.state(result.url)
            hashes = self._hashes(old.id if old else None, downloads or {})
            for sha, text in (texts or {}).items():
                self.set_file_text(sha, text)
            prepared = prepared or prepare(doc)
            print_ = fingerprint(doc, hashes, prepared)
            if old is not None and old.fingerprint == print_:
                self._seen(old, stamp, run_id, caching)
                self._save_attachments(old.id, doc, hashes, downloads or {}, stamp)
                if texts:  # files archived before their text was read (an upgraded archive)
                    self._index(old.id, doc, hashes, prepared)
                return Outcome.UNCHANGED, old.id
            doc_id = old.id if old else self._insert_document(source, result.url, stamp)
            detail = self._describe(doc_id, doc, hashes, prepared) if old else ""
            number = self._next_version(doc_id)
            self._insert("versions", {
                "document_id": doc_id, "version": number, "captured": stamp, **_content(doc),
                "attachments": json.dumps([{**vars(a), "sha256": hashes.get(a.url)}
                                           for a in doc.attachments], ensure_ascii=False),
                "fingerprint": print_, "capture_id": self._insert_capture(doc_id, result, capture)})
            self._update("documents", doc_id, {
                **_content(doc), "year": doc.published.year if doc.published else None,
                "source": source, "problem": doc.problem, "online": 1, "removed": None,
                "removed_reason": None, "last_seen": stamp, "last_changed": stamp,
                "versions": self._distinct_versions(doc_id),
                "fingerprint": print_, **caching})
            self._save_attachments(doc_id, doc, hashes, downloads or {}, stamp)
            self._index(doc_id, doc, hashes, prepared)
            self._event(doc_id, run_id, stamp, "changed" if old else "new", detail)
        return (Outcome.NEW if old is None else Outcome.CHANGED), doc_id

    def touch(self, state: DocumentState, fetched_at: dt.datetime, *, run_id: int | None = None,
              next_visit: str | None = None) -> None:
        """A document answered 304 Not Modified: it is still online, unchanged."""
        with self._write():
            self._seen(state, fetched_at.isoformat(timespec="seconds"), run_id,
                       {"next_visit": next_visit})

    def record_listing(self, source: str, urls: list[str], *, whole: bool, run_id: int) -> None:
        """Note which documents the source's columns list now.

        When ``whole`` (every column walked to its end), a document listed before and missing now
        is marked unlisted: it disappeared from its column, whether or not its page still answers.
        """
        stamp = timestamp()
        with self._write():
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
        with self._write():
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

    def reextract(self, extractor: Extractor, *, sources: Iterable[str] = (), dry_run: bool = False,
                  yes: bool = False, max_merge_share: float = MAX_MERGE_SHARE) -> Reextracted:
        """Run ``extractor`` again over every stored capture, without fetching.

        Each version's text is recomputed in place from its own capture. A version that now reads
        the same as the one before it is marked ``merged_into`` the first of them, never deleted, so
        a later re-extraction that tells them apart again splits them. ``dry_run`` only counts what
        would change. Merging more than ``max_merge_share`` of the versions at once (a bad selector
        looks like that) raises :class:`TooManyMerges` unless ``yes``.
        """
        names = list(sources)
        where = f"where source in ({','.join('?' * len(names))})" if names else ""
        ids = [r[0] for r in self.db.execute(f"select id from documents {where} order by id", names).fetchall()]
        plan = self._reextract_all(ids, extractor, apply=False)
        if dry_run:
            return plan
        if not yes and plan.merged > max_merge_share * plan.versions:
            raise TooManyMerges(
                f"{self.path}: re-extraction would merge {plan.merged} of {plan.versions} versions "
                f"(more than {max_merge_share:.0%}): a body_selector that misses the text looks like "
                "this. Check with --dry-run, then pass --yes to go ahead (merged versions stay recoverable)")
        return self._reextract_all(ids, extractor, apply=True)

    def _reextract_all(self, ids: list[int], extractor: Extractor, *, apply: bool) -> Reextracted:
        total = Reextracted(documents=0, versions_before=0, versions_after=0, updated=0)
        for doc_id in ids:
            total = total + self._reextract_document(doc_id, extractor, apply=apply)
        return total

    def _reextract_document(self, doc_id: int, extractor: Extractor, *, apply: bool) -> Reextracted:
        source, current, url = self.db.execute("select source, fingerprint, url from documents where id = ?",
                                               [doc_id]).fetchone()
        rows = list(self.db.query(
            "select v.id, v.title, v.merged_into, v.attachments, c.content, c.final_url, c.headers from versions v"
            " join captures c on c.id = v.capture_id where v.document_id = ? order by v.version", [doc_id]))
        plan: list[tuple[int, Document, str, int | None, dict[str, str]]] = []
        head, last = 0, ""
        for row in rows:
            hashes = {a["url"]: a["sha256"] for a in json.loads(row["attachments"] or "[]") if a.get("sha256")}
            if url in hashes:  # a file listed in its column: its text is the document (file_document)
                stored = self.file_texts([hashes[url]]).get(hashes[url])
                doc = file_document(url, row["title"] or "", stored or "")
            else:
                charset = charset_from_content_type(json.loads(row["headers"] or "{}").get("content-type"))
                doc = extractor(zlib.decompress(row["content"]), row["final_url"], charset, source)
            print_ = fingerprint(doc, hashes)
            if not plan or print_ != last:
                head = row["id"]
            plan.append((row["id"], doc, print_, head if head != row["id"] else None, hashes))
            last = print_
        if not plan:
            return Reextracted(1, 0, 0, 0)
        was = [row["merged_into"] for row in rows]
        result = Reextracted(
            documents=1, versions_before=sum(m is None for m in was),
            versions_after=sum(p[3] is None for p in plan), updated=int(plan[-1][2] != current),
            versions=len(plan), merged=sum(old is None and p[3] is not None for old, p in zip(was, plan, strict=True)),
            unmerged=sum(old is not None and p[3] is None for old, p in zip(was, plan, strict=True)))
        if apply:
            with self._write():
                for version_id, doc, print_, merged_into, _ in plan:
                    self._update("versions", version_id, {**_content(doc), "fingerprint": print_,
                                                          "merged_into": merged_into})
                _, doc, print_, _, hashes = plan[-1]
                self._update("documents", doc_id, {**_content(doc), "problem": doc.problem,
                                                   "year": doc.published.year if doc.published else None,
                                                   "versions": result.versions_after, "fingerprint": print_})
                self._index(doc_id, doc, hashes, prepare(doc))
        return result

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

    def _insert_capture(self, doc_id: int, result: FetchResult, compressed: bytes | None = None) -> int:
        return self._insert("captures", {
            "document_id": doc_id, "fetched": result.fetched_at.isoformat(timespec="seconds"),
            "url": result.url, "final_url": result.final_url, "status": result.status,
            "headers": json.dumps(result.headers, ensure_ascii=False), "size": len(result.content),
            "sha256": hashlib.sha256(result.content).hexdigest(),
            "content": compressed or zlib.compress(result.content, CAPTURE_LEVEL), "rendered": int(result.rendered)})

    def _distinct_versions(self, doc_id: int) -> int:
        return int(self.db.execute("select count(*) from versions where document_id = ? and merged_into is null",
                                   [doc_id]).fetchone()[0])

    def _next_version(self, doc_id: int) -> int:
        row = self.db.execute("select max(version) from versions where document_id = ?",
                              [doc_id]).fetchone()
        return (row[0] or 0) + 1

    def _index(self, doc_id: int, doc: Document, hashes: Mapping[str, str], prepared: Prepared) -> None:
        """Index the title, and the body followed by the text of the document's attachments, in
        place of what was indexed for the document before."""
        url = self.db.execute("select url from documents where id = ?", [doc_id]).fetchone()[0]
        # A file listed in its column is its own attachment: its text is the body already.
        shas = [hashes[a.url] for a in doc.attachments if a.url in hashes and a.url != url]
        texts = self.file_texts(shas)
        attached = [nfkc(texts[sha].text) for sha in dict.fromkeys(shas) if texts.get(sha) and texts[sha].text]
        # "\n" ends every run of Chinese, so the search text of the joined texts is the join of theirs.
        body = "\n".join([prepared.nfkc_body, *attached])
        pairs = "\n".join([prepared.search_body, *map(_pairs, attached)])
        self._indexing.append((doc_id, prepared.nfkc_title, body, (prepared.search_title, pairs)))
        if self._batch is None:
            self._write_index()

    def _write_index(self) -> None:
        """Write the search index rows of the transaction's documents. In a batch, all at its commit:
        FTS5 writes what it holds at each savepoint, so row by row it would write a segment per document."""
        for doc_id, title, body, pairs in self._indexing:
            _remove_from_index(self.db, doc_id)
            _add_to_index(self.db, doc_id, title, body, pairs)
        self._indexing.clear()

    # -- attachment files ------------------------------------------------------------------

    def store_file(self, content: bytes, content_type: str, stamp: str | None = None,
                   name: str = "") -> StoredFile:
        """Keep a downloaded file by content hash, at once and in its own transaction, so a
        document's attachments are held in memory one at a time; ``save`` then links them."""
        sha = hashlib.sha256(content).hexdigest()
        with self._write():
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

    def _describe(self, doc_id: int, doc: Document, hashes: Mapping[str, str], prepared: Prepared) -> str:
        """What changed since the current version, in words, for the events table and feeds."""
        rows = list(self.db.query("select * from versions where document_id = ? order by version desc"
                                  " limit 1", [doc_id]))
        if not rows:
            return ""
        old, new = rows[0], _content(doc)
        parts = [k for k in ("title", "published", "publisher", "fields")
                 if normal(str(old[k] or "")) != normal(str(new[k] or ""))]
        if normal(old["body"] or "") != prepared.body:
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
        with self._write():
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
        with self._write():
            self.db.execute("update notifications set attempts = attempts + 1, error = ?, sent = ? where id = ?",
                            [error or None, None if error else timestamp(), notification_id])


@dataclass
class _Batch:
    """The limits of an open :meth:`Archive.batch`, and the writes of its open transaction."""

    writes: int
    seconds: float
    count: int = 0
    began: float = 0.0


def _flock(fd: int, *, wait: bool, what: str) -> None:
    """Take an exclusive ``flock`` on ``fd``; poll (so the wait is bounded) up to :data:`WRITE_WAIT`."""
    deadline = time.monotonic() + WRITE_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if not wait:
                raise
            if time.monotonic() > deadline:
                raise ArchiveBusy(f"{what} took over {WRITE_WAIT:g}s") from None
            time.sleep(0.05)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("govarchive")
    except PackageNotFoundError:
        return "(not installed)"


def _batches(urls: list[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """``urls`` in slices small enough for one ``in (…)`` clause, each with its placeholders."""
    for i in range(0, len(urls), size):
        chunk = urls[i:i + size]
        yield chunk, ",".join("?" * len(chunk))


def _content(doc: Document) -> dict[str, Any]:
    return {"title": doc.title, "published": doc.published.isoformat() if doc.published else None,
            "publisher": doc.publisher, "fields": json.dumps(doc.fields, ensure_ascii=False),
            "body": doc.body}


@dataclass(frozen=True)
class Prepared:
    """What archiving a document computes from its text, from one NFKC pass over it: the
    comparison keys its fingerprint hashes (``text.normal``) and the text the search index holds
    (``search_text``). Pure, so it can be made beside extraction, in a worker process."""

    title: str
    publisher: str
    fields: tuple[tuple[str, str], ...]
    body: str
    nfkc_title: str
    nfkc_body: str
    search_title: str
    search_body: str


def prepare(doc: Document) -> Prepared:
    """A document's :class:`Prepared` texts; the title and body are normalised once for both uses."""
    title, body = nfkc(doc.title), nfkc(doc.body)
    return Prepared(*_keys(doc, title, body), title, body, _pairs(title), _pairs(body))


def _keys(doc: Document, title: str, body: str) -> tuple[str, str, tuple[tuple[str, str], ...], str]:
    """The comparison keys of a document whose title and body are given in NFKC."""
    return (squeeze(title), normal(doc.publisher),
            tuple(sorted((normal(k), normal(v)) for k, v in doc.fields.items())), squeeze(body))


def fingerprint(doc: Document, attachment_hashes: Mapping[str, str] | None = None,
                prepared: Prepared | None = None) -> str:
    """A hash of what a document says; equal for pages that differ only in layout or noise.

    ``attachment_hashes`` (URL → sha256 of the file) makes a changed attachment a change;
    ``prepared`` is ``prepare(doc)`` when the caller has it already.
    """
    hashes = attachment_hashes or {}
    if prepared is None:
        title, publisher, fields_, body = _keys(doc, nfkc(doc.title), nfkc(doc.body))
    else:
        title, publisher, fields_, body = prepared.title, prepared.publisher, prepared.fields, prepared.body
    content = [title, str(doc.published or ""), publisher, [list(f) for f in fields_], body,
               sorted((a.url, hashes.get(a.url, "")) for a in doc.attachments)]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


# Chinese has no spaces, so SQLite's tokenizer would index a whole sentence as one token.
# Indexing overlapping character pairs (bigrams) lets any word of two or more characters be
# found as a phrase of its pairs: 行政复议 → "行政 政复 复议".
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_CJK = re.compile(f"[{_HAN}]+")
#: What the tokenizer reads as one token (unicode61: letters and digits; Chinese runs are
#: split into pairs first): a Chinese run, or a run of other letters and digits.
_PIECE = re.compile(f"[{_HAN}]+|[^\\W_{_HAN}]+")


_CJK_RUNS = re.compile(f"([{_HAN}]+)")


def _pairs(normalised: str) -> str:
    """``search_text`` of a text already in NFKC: each Chinese run as " ab bc cd " (" a " alone)."""
    parts = _CJK_RUNS.split(normalised)  # other text, a run, other text, …
    # map over two offsets of a run: the pairs are made in C, not by slicing in a loop.
    parts[1::2] = [" " + " ".join(map(operator.add, run, run[1:])) + " " if len(run) > 1 else f" {run} "
                   for run in parts[1::2]]
    return "".join(parts)


def search_text(text: str) -> str:
    """Text as the full-text index stores it: NFKC, Chinese runs as overlapping bigrams."""
    return _pairs(nfkc(text or ""))


def _add_to_index(db: sqlite_utils.Database, doc_id: int, title: str, body: str,
                  pairs: tuple[str, str] | None = None) -> None:
    """Index ``title`` and ``body`` (in NFKC; ``pairs`` their search text, if made already), and
    keep what they were, to remove them exactly (see SEARCH_INDEX)."""
    db.execute("insert into documents_fts (rowid, title, body) values (?, ?, ?)",
               [doc_id, *(pairs or (_pairs(title), _pairs(body)))])
    db.execute("insert into documents_fts_source (id, title, body) values (?, ?, ?)",
               [doc_id, title, zlib.compress(body.encode(), 1)])


def _remove_from_index(db: sqlite_utils.Database, doc_id: int) -> None:
    """Remove a document from the search index, with the values it was indexed with."""
    row = db.execute("select title, body from documents_fts_source where id = ?", [doc_id]).fetchone()
    if row is not None:
        db.execute("insert into documents_fts (documents_fts, rowid, title, body) values ('delete', ?, ?, ?)",
                   [doc_id, _pairs(row[0]), _pairs(zlib.decompress(row[1]).decode())])
        db.execute("delete from documents_fts_source where id = ?", [doc_id])


def search_words(query: str) -> list[list[str]]:
    """A user's search as ``search_query`` reads it: its words (separated by spaces, all required),
    each as the runs of Chinese and of other letters and digits it is made of, in NFKC. A word
    that is one Chinese character finds any pair that starts with it."""
    return [pieces for word in nfkc(query).split() if (pieces := _PIECE.findall(word))]


def search_query(query: str) -> str:
    """A user's search (words separated by spaces, all required) as an FTS5 query on that index."""
    terms = []
    for word in nfkc(query).split():
        tokens = search_text(word).split()
        if len(tokens) == 1 and _CJK.fullmatch(tokens[0]) and len(tokens[0]) == 1:
            terms.append(f'"{tokens[0]}"*')  # one character: any pair that starts with it
        elif tokens:
            terms.append('"' + " ".join(t.replace('"', '""') for t in tokens) + '"')
    return " ".join(terms)
