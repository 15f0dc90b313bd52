"""Browsing: Datasette over the archive, and the Datasette plugin that makes Chinese search work.

The plugin is registered through the ``datasette`` entry point, so a plain ``datasette
archive/govarchive.db`` gets it too.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import yaml
from datasette import hookimpl

from .store import search_query

__all__ = ["load_metadata", "serve_archive"]

METADATA_NAME = "metadata.yml"


def load_metadata(db_path: Path) -> dict[str, Any]:
    """The archive's Datasette metadata, keyed to this database's name (its file stem)."""
    candidates = [db_path.parent / METADATA_NAME, Path("archive") / METADATA_NAME,
                  Path(__file__).resolve().parents[1] / "archive" / METADATA_NAME]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return {}
    meta: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    databases = meta.get("databases", {})
    if "govarchive" in databases and db_path.stem != "govarchive":
        databases[db_path.stem] = databases.pop("govarchive")
    return meta


def serve_archive(db_path: Path, *, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Run Datasette on the archive until interrupted."""
    from datasette.cli import cli as datasette_cli

    with tempfile.TemporaryDirectory() as tmp:
        meta = Path(tmp) / "metadata.json"
        meta.write_text(json.dumps(load_metadata(db_path), ensure_ascii=False), encoding="utf-8")
        datasette_cli.main(["serve", str(db_path), "--metadata", str(meta), "--host", host,
                            "--port", str(port), "--setting", "sql_time_limit_ms", "5000"],
                           prog_name="govarchive serve", standalone_mode=True)


@hookimpl(trylast=True)
def prepare_connection(conn: sqlite3.Connection) -> None:
    # Datasette's table search runs `fts match escape_fts(:search)`; on an archive, that
    # function turns the words into phrases of the bigrams the index holds (store.search_text).
    try:
        ours = conn.execute("select 1 from sqlite_master where name = 'documents_fts'").fetchone()
    except sqlite3.Error:
        return
    if ours:
        conn.create_function("escape_fts", 1, search_query, deterministic=True)
