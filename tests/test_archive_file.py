"""The archive file itself: someone else's database, one from a newer govarchive, one that is
missing, read-only, damaged or on a full disk. Each gets one clear line and a non-zero exit,
and nothing is written to a file that is not ours."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawler.cli import cli
from crawler.store import Archive, ArchiveError, NoArchive, NotAnArchive


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler", *map(str, args)], capture_output=True, text=True,
                          timeout=120, check=False)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error line; nothing else but the log lines of runs that started (crawl logs to stderr)."""
    assert result.returncode not in (0, None), result.stdout
    lines = [line for line in result.stderr.strip().splitlines() if " info " not in line]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("table", ["files", "events", "runs"])
def test_a_database_sharing_a_table_name_with_ours_is_refused_before_anything_is_written(tmp_path, table,
                                                                                        config_path):
    folder = tmp_path / "theirs"
    folder.mkdir()
    path = folder / "their.db"
    conn = sqlite3.connect(path)
    conn.execute(f"create table {table} (id integer primary key, what text)")
    conn.execute(f"insert into {table} (what) values ('theirs')")
    conn.commit()
    conn.close()
    before = snapshot(folder)
    with pytest.raises(NotAnArchive, match="something else"):
        Archive(path)
    line = one_line(run("crawl", "--config", config_path, "--db", path))
    assert "something else" in line and str(path) in line
    assert snapshot(folder) == before  # no tables added, no WAL switch, no -wal file, no lock files
    assert sqlite3.connect(path).execute("pragma journal_mode").fetchone()[0] == "delete"


def test_an_archive_from_a_newer_govarchive_is_refused_naming_the_migration(tmp_path):
    path = tmp_path / "a.db"
    Archive(path).close()
    db = sqlite_utils.Database(path)
    db["_sqlite_migrations"].insert({"migration_set": "govarchive", "name": "add_time_machine",
                                     "applied_at": "2027-01-01"})
    db.close()
    with pytest.raises(ArchiveError, match=r"newer govarchive .*'add_time_machine'"):
        Archive(path)
    line = one_line(run("status", "--db", path))
    assert "add_time_machine" in line and "upgrade govarchive" in line


@pytest.mark.parametrize("command", [["status"], ["serve", "--port", "1"], ["reextract"]])
def test_commands_that_read_an_archive_refuse_one_that_does_not_exist(tmp_path, command, config_path):
    path = tmp_path / "typo" / "govarchive.db"
    line = one_line(run(*command, "--db", path, *(["--config", config_path] if command == ["reextract"]
                                                   else [])))
    assert "no such archive" in line and str(path) in line
    assert not path.parent.exists()  # nothing created
    with pytest.raises(NoArchive):
        Archive(path, create=False)


def test_a_damaged_archive_is_named_damaged_not_a_traceback(tmp_path, config_path):
    path = tmp_path / "a.db"
    result = CliRunner().invoke(cli, ["crawl", "--config", str(config_path), "--db", str(path)])
    assert result.exit_code == 0, result.output
    conn = sqlite3.connect(path)
    conn.execute("pragma wal_checkpoint(truncate)")
    page_size = conn.execute("pragma page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    for page in range(2, len(data) // page_size, 3):  # scribble over every third page's header
        data[page * page_size:page * page_size + 16] = b"\xff" * 16
    path.write_bytes(bytes(data))
    for command in (["status"], ["crawl", "--config", config_path]):
        line = one_line(run(*command, "--db", path))
        assert "damaged" in line and "malformed" in line and "backup" in line, line


def unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True,
                           check=False)
    return probe.returncode == 0


needs_unshare = pytest.mark.skipif(not unshare_available(), reason="needs user and mount namespaces")


def in_namespace(mount: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run govarchive with a mount (a read-only bind, a small tmpfs) only it can see."""
    return subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                           f'{mount} && exec "$@"', "sh", sys.executable, "-m", "crawler", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)


@needs_unshare
def test_a_read_only_archive_is_called_read_only(tmp_path, config_path):
    folder = tmp_path / "archive"
    result = CliRunner().invoke(cli, ["crawl", "--config", str(config_path), "--db", str(folder / "a.db")])
    assert result.exit_code == 0, result.output
    (folder / "a.db-shm").unlink(missing_ok=True)
    ro = f"mount --bind -o ro {folder} {folder}"
    for command in (["crawl", "--config", config_path], ["status"]):
        line = one_line(in_namespace(ro, *command, "--db", folder / "a.db"))
        assert "read-only" in line and "not an SQLite database" not in line, line


@needs_unshare
def test_a_first_crawl_on_a_full_disk_fails_with_one_line(tmp_path, config_path):
    folder = tmp_path / "small"
    folder.mkdir()
    result = in_namespace(f"mount -t tmpfs -o size=400k tmpfs {folder}", "crawl", "--config", config_path,
                          "--db", folder / "a.db")
    line = one_line(result)
    assert result.returncode == 1 and "disk is full" in line, line


def test_a_full_database_stops_the_crawl_with_one_line(tmp_path, config_path, monkeypatch):
    """The same without namespaces: SQLite's max_page_count makes the database 'full'."""
    path = tmp_path / "a.db"
    Archive(path).close()
    opened = Archive._open

    def small(self: Archive) -> None:
        opened(self)
        self.db.execute("pragma max_page_count = 60")

    monkeypatch.setattr(Archive, "_open", small)
    result = CliRunner().invoke(cli, ["crawl", "--config", str(config_path), "--db", str(path)])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1].endswith("free some space and run again")
    assert "disk is full" in result.output
