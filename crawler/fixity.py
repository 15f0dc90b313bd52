"""Fixity: recompute the SHA-256 of every capture and file and compare it with the one recorded.

A capture's hash is of its decompressed content (the bytes as fetched and decoded), the same hash
an export writes as the record's WARC-Payload-Digest; a file's hash is its primary key. Rows are
read with a cursor, one at a time, so any size of archive verifies in flat memory.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

from .store import Archive

__all__ = ["FixityReport", "Mismatch", "verify"]

#: Called now and then with (rows checked, rows to check).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Mismatch:
    """A stored content that no longer gives its recorded hash."""

    table: str  # "captures" or "files"
    key: str  # the capture's id or the file's sha256
    url: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.table} {self.key}" + (f" ({self.url})" if self.url else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class FixityReport:
    captures: int = 0
    files: int = 0
    mismatches: tuple[Mismatch, ...] = field(default=())


def verify(archive: Archive, progress: Progress | None = None) -> FixityReport:
    """Check every capture and file; the report lists each mismatch."""
    conn = archive.db.conn
    total = sum(conn.execute(f"select count(*) from {t}").fetchone()[0] for t in ("captures", "files"))
    bad: list[Mismatch] = []
    done = 0
    for id_, url, recorded, content in conn.execute("select id, url, sha256, content from captures order by id"):
        try:
            actual = hashlib.sha256(zlib.decompress(content)).hexdigest()
        except (zlib.error, TypeError) as e:
            bad.append(Mismatch("captures", str(id_), url, f"content does not decompress ({e})"))
        else:
            if actual != recorded:
                bad.append(Mismatch("captures", str(id_), url, f"recorded sha256 {recorded}, content gives {actual}"))
        done += 1
        if progress and done % 500 == 0:
            progress(done, total)
    captures = done
    for recorded, content in conn.execute("select sha256, content from files order by sha256"):
        actual = hashlib.sha256(content or b"").hexdigest()
        if actual != recorded:
            url = conn.execute("select url from attachments where sha256 = ? limit 1", [recorded]).fetchone()
            bad.append(Mismatch("files", recorded, url[0] if url else "", f"content gives {actual}"))
        done += 1
        if progress and done % 500 == 0:
            progress(done, total)
    return FixityReport(captures, done - captures, tuple(bad))
