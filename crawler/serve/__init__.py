"""Browsing: Datasette over the archive, and the Datasette plugin that makes it readable.

The plugin is registered through the ``datasette`` entry point, so a plain ``datasette
archive/govarchive.db`` gets it too (the metadata, with the canned queries, comes with
``govarchive serve`` or ``--metadata archive/metadata.yml``). On an archive it provides:

- a start page (the database page): each source's figures, each linking to the list it counts;
- ``/<db>/-/document/<id>``: a document to read, with attachments and every version's diff;
- ``/<db>/feed.atom`` and ``/<db>/feed.atom?source=NAME``: Atom feeds linking to those pages;
- times shown in the archive's time zone (``pages.archive_timezone``), texts with their line breaks,
  titles linking to the document page, diffs coloured, search snippets with the matches marked;
- SQL functions: ``escape_fts`` (Chinese search, ``store.search_query``), ``govarchive_text``,
  ``govarchive_diff``, ``govarchive_fields`` (crawler.diff), ``govarchive_snippet(q, body)``
  (``pages.search_snippet``) and ``govarchive_today()`` (the date in the archive's time zone).

Everything the archive holds is shown as escaped text: archived HTML is never rendered.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import re
import socket
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import yaml
from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from ..diff import diff_text, fields_text, version_text
from ..store import search_query
from .pages import (
    MARK_END,
    MARK_START,
    archive_timezone,
    document_page,
    feed,
    is_archive,
    local_time,
    search_snippet,
    source_rows,
    sources_json,
)
from .render import render_diff

__all__ = ["METADATA", "PortInUse", "diff_text", "fields_text", "load_metadata", "port_in_use",
           "render_diff", "serve_archive", "version_text"]

#: The Datasette metadata (titles, descriptions, canned queries), shipped inside the package;
#: archive/metadata.yml in the repository is a link to it, for plain `datasette --metadata`.
METADATA = Path(__file__).with_name("metadata.yml")
#: The database name metadata.yml is written for; links in it are rewritten for other names.
DATABASE = "govarchive"

CSS_PATH = "/-/govarchive.css"
#: Served at CSS_PATH on every page: texts keep their line breaks, long ones are clamped in tables.
CSS = """
body.row .govarchive-text, body.query-document td.col-value { white-space: pre-wrap; }
body.query-document td.col-field { font-weight: bold; width: 8em; }
body.table .govarchive-text { display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 3;
  line-clamp: 3; overflow: hidden; }
td.col-body { min-width: 24em; }
body.row td.col-body { min-width: 36em; }
td.col-fields { min-width: 16em; }
td.col-title { min-width: 12em; }
td.col-url { word-break: break-all; min-width: 16em; }
td.col-snippet { min-width: 30em; }
details.govarchive-columns { margin: 0 0 1em 0; }
details.govarchive-columns summary { cursor: pointer; color: #666; }
body.query td.col-diff { min-width: 28em; }
mark.govarchive-hit { background: #fff3a3; padding: 0 1px; }
.govarchive-start table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; }
.govarchive-start th, .govarchive-start td { padding: 4px 10px; border-bottom: 1px solid #ddd;
  text-align: right; vertical-align: top; }
.govarchive-start th:first-child, .govarchive-start td:first-child,
.govarchive-start td.run, .govarchive-start td.flag { text-align: left; }
.govarchive-start td.flag.bad { color: #b00020; font-weight: bold; }
.govarchive-start td.flag.good { color: #1a7f37; }
.govarchive-start .source-title { color: #666; font-size: 0.85em; }
.govarchive-start th { font-size: 0.85em; font-weight: normal; color: #444; max-width: 7.5em;
  white-space: normal; vertical-align: bottom; }
.govarchive-start td:first-child { min-width: 17em; }
.govarchive-start td.run { min-width: 15em; font-size: 0.9em; }
.govarchive-start td a.feed { font-size: 0.8em; margin-left: 0.5em; }
.govarchive-start form.search input[type=search] { width: 24em; font-size: 1.1em; padding: 4px; }
.govarchive-start ul.questions li { margin: 0.2em 0; }
.govarchive-doc .meta { color: #444; }
.govarchive-doc .meta span { margin-right: 1.5em; }
.govarchive-doc .body p { max-width: 48em; line-height: 1.7; margin: 0 0 0.8em 0; }
.govarchive-doc table.fields th { text-align: left; padding-right: 1em; white-space: nowrap; }
.govarchive-doc .version { border-top: 1px solid #ddd; padding: 0.5em 0; }
.govarchive-doc .removed { color: #b00020; font-weight: bold; }
.govarchive-doc ul.attachments li { margin: 0 0 0.8em 0; }
.govarchive-doc .file-info { color: #666; }
.govarchive-doc details.file-text summary { cursor: pointer; color: #444; }
.govarchive-doc details.file-text .body { border-left: 3px solid #ddd; padding-left: 0.8em; }
"""
#: Datasette lists every column's description above a table, pushing the rows out of sight; this
#: folds the list away (each description is also in its column's ⚙ menu).
FOLD_COLUMN_DESCRIPTIONS = """
document.querySelectorAll("dl.column-descriptions").forEach(function (dl) {
  var details = document.createElement("details"), summary = document.createElement("summary");
  summary.textContent = "What the columns mean";
  details.className = "govarchive-columns";
  dl.parentNode.insertBefore(details, dl);
  details.appendChild(summary);
  details.appendChild(dl);
});
"""
#: A canned query's free-text `source` box becomes a choice of the archive's sources.
SOURCE_PICKER = """
(function (sources) {
  document.querySelectorAll("form input[name=source]").forEach(function (input) {
    var select = document.createElement("select");
    select.name = "source"; select.id = input.id;
    [["", "every source"]].concat(sources).forEach(function (s) {
      var option = document.createElement("option");
      option.value = s[0]; option.textContent = s[0] ? s[0] + (s[1] ? " · " + s[1] : "") : s[1];
      option.selected = s[0] === input.value;
      select.appendChild(option);
    });
    input.replaceWith(select);
  });
})(SOURCES);
"""
#: Long texts of these tables: a few lines of them in a table, all of them on a row's page.
TEXT_COLUMNS = {("documents", "body"), ("versions", "body")}
FIELDS_COLUMNS = {("documents", "fields"), ("versions", "fields")}


class PortInUse(Exception):
    """Another program listens on the port Datasette was to use."""


def load_metadata(db_path: Path) -> dict[str, Any]:
    """The archive's Datasette metadata, keyed to this database's name (its file stem)."""
    text = METADATA.read_text(encoding="utf-8")
    if db_path.stem != DATABASE:  # links between pages name the database
        text = text.replace(f'href="/{DATABASE}/', f'href="/{db_path.stem}/')
    meta: dict[str, Any] = yaml.safe_load(text) or {}
    databases = meta.get("databases", {})
    if DATABASE in databases and db_path.stem != DATABASE:
        databases[db_path.stem] = databases.pop(DATABASE)
    return meta


def port_in_use(host: str, port: int) -> bool:
    """Whether ``host:port`` cannot be listened on because something else already does."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind((host, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False


def serve_archive(db_path: Path, *, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Run Datasette on the archive until interrupted; :class:`PortInUse` if the port is taken."""
    from datasette.cli import cli as datasette_cli

    if port_in_use(host, port):
        raise PortInUse(f"port {port} is in use; try --port")
    with tempfile.TemporaryDirectory() as tmp:
        meta = Path(tmp) / "metadata.json"
        meta.write_text(json.dumps(load_metadata(db_path), ensure_ascii=False), encoding="utf-8")
        datasette_cli.main(["serve", str(db_path), "--metadata", str(meta), "--host", host,
                            "--port", str(port), "--setting", "sql_time_limit_ms", "5000"],
                           prog_name="govarchive serve", standalone_mode=True)


# -- SQL functions ---------------------------------------------------------------------------

@hookimpl(trylast=True)
def prepare_connection(conn: sqlite3.Connection, datasette: Any) -> None:
    conn.create_function("govarchive_diff", 2, diff_text, deterministic=True)
    conn.create_function("govarchive_text", 5, version_text, deterministic=True)
    conn.create_function("govarchive_text", 6, version_text, deterministic=True)
    conn.create_function("govarchive_fields", 1, fields_text, deterministic=True)
    conn.create_function("govarchive_snippet", 2, search_snippet, deterministic=True)
    zone = archive_timezone(datasette)
    conn.create_function("govarchive_today", 0, lambda: dt.datetime.now(zone).date().isoformat())
    # Datasette's table search runs `fts match escape_fts(:search)`; on an archive, that
    # function turns the words into phrases of the bigrams the index holds (store.search_text).
    try:
        ours = conn.execute("select 1 from sqlite_master where name = 'documents_fts'").fetchone()
    except sqlite3.Error:
        return
    if ours:
        conn.create_function("escape_fts", 1, search_query, deterministic=True)


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Markup | None:
    if table is None and column == "diff" and isinstance(value, str):
        return render_diff(value)
    if table is None and column == "snippet" and isinstance(value, str):
        return _render_snippet(value)
    if (table, column) in TEXT_COLUMNS and isinstance(value, str) and value:
        return Markup('<div class="govarchive-text">{}</div>').format(value)
    if (table, column) in FIELDS_COLUMNS and isinstance(value, str) and value not in ("", "{}"):
        return Markup('<div class="govarchive-text">{}</div>').format(fields_text(value))
    shown = local_time(value, archive_timezone(datasette)) if isinstance(value, str) else None
    if shown is not None:  # archive times are UTC; people read them in the archive's zone
        return Markup('<time datetime="{}" title="{} UTC">{}</time>').format(value, value[:19], shown)
    if column == "title" and value not in (None, ""):
        doc_id = _document_id(row, table)
        if doc_id is not None:  # to the document's own page
            return Markup('<a href="{}/-/document/{}">{}</a>').format(
                datasette.urls.database(database), doc_id, value)
        return None
    # Links to the canned queries of metadata.yml, when they are there (not under a bare `datasette`).
    linked = (table is None and column == "document_id" and isinstance(value, int)) or (
        table == "documents" and column == "versions" and value not in (None, ""))
    if not linked or not _has_queries(datasette, database):
        return None
    queries = datasette.urls.database(database)
    if table is None:  # a document_id in a canned query's results
        return Markup('<a href="{}/-/document/{}">{}</a>').format(queries, value, value)
    doc_id = _document_id(row, table)
    if doc_id is None:
        return None
    label = "1 version" if value == 1 else f"{value} versions"
    return Markup('<a href="{}/document_versions?document={}">{}</a>').format(queries, doc_id, label)


def _document_id(row: Any, table: str | None) -> int | None:
    """The document a row is about: its id in the documents table, its document_id in a query."""
    key = "id" if table == "documents" else "document_id" if table is None else None
    if key is None:
        return None
    try:
        return int(row[key])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


def _render_snippet(value: str) -> Markup:
    parts = re.split(f"({MARK_START}.*?{MARK_END})", value)
    html = [Markup('<mark class="govarchive-hit">{}</mark>').format(p[1:-1]) if p.startswith(MARK_START)
            else escape(p) for p in parts]
    return Markup('<span class="govarchive-snippet">{}</span>').format(Markup("").join(html))


def _has_queries(datasette: Any, database: str) -> bool:
    queries = datasette.metadata("queries", database=database) or {}
    return "document" in queries and "document_versions" in queries


@hookimpl
def extra_css_urls(datasette: Any) -> list[str]:
    return [datasette.urls.path(CSS_PATH)]


@hookimpl
def extra_body_script(template: str, database: str | None, view_name: str, datasette: Any) -> Any:
    async def script() -> str:
        fold = FOLD_COLUMN_DESCRIPTIONS if view_name == "table" else ""
        if template != "query.html" or not await is_archive(datasette, database):
            return fold
        result = await datasette.get_database(database).execute(
            "select name, coalesce(title, '') from sources order by name")
        return fold + SOURCE_PICKER.replace("SOURCES", sources_json([(r[0], r[1]) for r in result.rows]))

    return script


@hookimpl
def extra_template_vars(template: str, database: str | None, view_name: str, datasette: Any) -> Any:
    async def start() -> dict[str, Any]:
        if view_name != "database" or template != "database.html" or not await is_archive(datasette, database):
            return {}
        assert database is not None
        return {"govarchive_start": {
            "sources": await source_rows(datasette, database), "base": datasette.urls.database(database),
            "timezone": archive_timezone(datasette).key, "queries": _has_queries(datasette, database)}}

    return start


async def _css() -> Response:
    return Response(CSS, content_type="text/css; charset=utf-8",
                    headers={"cache-control": "max-age=3600"})


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(re.escape(CSS_PATH) + "$", _css),
            (r"^/(?P<database>[^/]+)/-/document/(?P<id>\d+)$", document_page),
            (r"^/(?P<database>[^/.]+)/feed\.atom$", feed)]
