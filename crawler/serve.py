"""Browsing: Datasette over the archive, and the Datasette plugin that makes it readable.

The plugin is registered through the ``datasette`` entry point, so a plain ``datasette
archive/govarchive.db`` gets it too. On an archive's connections it provides:

- ``escape_fts(search)``: Datasette's table search box, turned into phrases of the bigrams the
  full-text index holds (``store.search_query``), so Chinese words are found;
- ``govarchive_text(title, published, publisher, fields, body)``: a version as plain text, its
  fields one per line, for diffing;
- ``govarchive_diff(old, new)``: a compact line diff of two texts, paragraphs prefixed ``+ `` / ``− ``;
- ``govarchive_fields(fields)``: a document's 信息公开 fields (JSON) as ``label：value`` lines.

In the HTML pages, a ``diff`` column is shown as a coloured diff, texts keep their line breaks
(a few lines of them in a table, all on a row's page), fields read as ``label：value`` lines, and
titles and version counts link to the document and its versions. Everything the archive holds is
shown as escaped text: archived HTML is never rendered.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import yaml
from datasette import hookimpl
from datasette.utils.asgi import Response
from markupsafe import Markup, escape

from .store import search_query

__all__ = ["diff_text", "fields_text", "load_metadata", "render_diff", "serve_archive", "version_text"]

METADATA_NAME = "metadata.yml"
#: The database name metadata.yml is written for; links in it are rewritten for other names.
DATABASE = "govarchive"

ADDED, REMOVED, SKIPPED = "+ ", "− ", "⋯ "
FIRST_VERSION = "(first version)"
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
details.govarchive-columns { margin: 0 0 1em 0; }
details.govarchive-columns summary { cursor: pointer; color: #666; }
body.query td.col-diff { min-width: 28em; }
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
#: Long texts of these tables: a few lines of them in a table, all of them on a row's page.
TEXT_COLUMNS = {("documents", "body"), ("versions", "body")}
FIELDS_COLUMNS = {("documents", "fields"), ("versions", "fields")}


def load_metadata(db_path: Path) -> dict[str, Any]:
    """The archive's Datasette metadata, keyed to this database's name (its file stem)."""
    candidates = [db_path.parent / METADATA_NAME, Path("archive") / METADATA_NAME,
                  Path(__file__).resolve().parents[1] / "archive" / METADATA_NAME]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        return {}
    text = path.read_text(encoding="utf-8")
    if db_path.stem != DATABASE:  # links between pages name the database
        text = text.replace(f'href="/{DATABASE}/', f'href="/{db_path.stem}/')
    meta: dict[str, Any] = yaml.safe_load(text) or {}
    databases = meta.get("databases", {})
    if DATABASE in databases and db_path.stem != DATABASE:
        databases[db_path.stem] = databases.pop(DATABASE)
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


# -- SQL functions ---------------------------------------------------------------------------

def fields_text(fields: str | None) -> str:
    """The 信息公开 fields (a JSON object) as ``label：value`` lines; anything else as it is."""
    if not fields:
        return ""
    if not isinstance(fields, str):
        return str(fields)
    try:
        parsed = json.loads(fields)
    except ValueError:
        return fields
    if not isinstance(parsed, dict):
        return fields
    return "\n".join(f"{k}：{v}" for k, v in parsed.items())


def version_text(title: str | None, published: str | None, publisher: str | None,
                 fields: str | None, body: str | None) -> str:
    """A version as the plain text that versions are compared by: its fields, then its body."""
    head = [f"标题：{title or ''}", f"发布日期：{published or ''}", f"发布机构：{publisher or ''}"]
    extra = fields_text(fields)
    return "\n".join(head + ([extra] if extra else []) + ["", str(body or "")])


def _paragraphs(text: object) -> list[str]:
    return [line.strip() for line in str(text).splitlines() if line.strip()]


def diff_text(old: str | None, new: str | None) -> str | None:
    """What changed from ``old`` to ``new``, paragraph by paragraph, and only that.

    Removed paragraphs start with ``− ``, added ones with ``+ `` (a changed paragraph is both);
    ``⋯ n unchanged`` stands for the paragraphs between changes. ``old`` None: the first version.
    """
    if new is None:
        return None
    if old is None:
        return FIRST_VERSION
    a, b = _paragraphs(old), _paragraphs(new)
    lines: list[str] = []
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for tag, a1, a2, b1, b2 in opcodes:
        if tag == "equal":
            lines.append(f"{SKIPPED}{a2 - a1} unchanged")
            continue
        lines.extend(REMOVED + p for p in a[a1:a2])
        lines.extend(ADDED + p for p in b[b1:b2])
    if not any(line.startswith((ADDED, REMOVED)) for line in lines):
        return "(no change in the text)"
    return "\n".join(lines)


@hookimpl(trylast=True)
def prepare_connection(conn: sqlite3.Connection) -> None:
    conn.create_function("govarchive_diff", 2, diff_text, deterministic=True)
    conn.create_function("govarchive_text", 5, version_text, deterministic=True)
    conn.create_function("govarchive_fields", 1, fields_text, deterministic=True)
    # Datasette's table search runs `fts match escape_fts(:search)`; on an archive, that
    # function turns the words into phrases of the bigrams the index holds (store.search_text).
    try:
        ours = conn.execute("select 1 from sqlite_master where name = 'documents_fts'").fetchone()
    except sqlite3.Error:
        return
    if ours:
        conn.create_function("escape_fts", 1, search_query, deterministic=True)


# -- HTML rendering --------------------------------------------------------------------------

_LINE = ('<span style="display:block;background:{bg}">{text}</span>')
_MARK = '<mark style="background:{bg};padding:0">{text}</mark>'
#: Paragraph pairs longer than this (product of lengths) are not compared character by character.
MAX_CHARACTER_DIFF = 4_000_000
_COLOURS = {ADDED: ("#e6ffec", "#abf2bc"), REMOVED: ("#ffebe9", "#ffc1bd")}


def _marked(text: str, spans: list[tuple[int, int]], prefix: str) -> Markup:
    """``text`` escaped, with the character ranges in ``spans`` highlighted."""
    out, at = [], 0
    for start, end in spans:
        out.append(escape(text[at:start]))
        out.append(Markup(_MARK).format(bg=_COLOURS[prefix][1], text=text[start:end]))
        at = end
    out.append(escape(text[at:]))
    return Markup("").join(out)


def _render_block(removed: list[str], added: list[str]) -> list[Markup]:
    """A run of removed then added paragraphs; paired ones get their changed characters marked."""
    spans_old: list[list[tuple[int, int]]] = [[] for _ in removed]
    spans_new: list[list[tuple[int, int]]] = [[] for _ in added]
    if len(removed) == len(added):
        for k, (old, new) in enumerate(zip(removed, added)):
            if len(old) * len(new) > MAX_CHARACTER_DIFF:
                continue
            matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
            if matcher.ratio() < 0.5:
                continue
            for tag, a1, a2, b1, b2 in matcher.get_opcodes():
                if tag != "equal":
                    if a2 > a1:
                        spans_old[k].append((a1, a2))
                    if b2 > b1:
                        spans_new[k].append((b1, b2))
    lines = []
    for prefix, texts, spans in ((REMOVED, removed, spans_old), (ADDED, added, spans_new)):
        for text, marks in zip(texts, spans):
            body = _marked(text, marks, prefix)
            lines.append(Markup(_LINE).format(bg=_COLOURS[prefix][0], text=Markup(escape(prefix)) + body))
    return lines


def render_diff(diff: str) -> Markup:
    """A ``diff_text`` result as HTML: every character of it escaped, added and removed paragraphs
    coloured, the changed characters of a changed paragraph marked."""
    html: list[Markup] = []
    removed: list[str] = []
    added: list[str] = []
    for line in diff.splitlines():
        if line.startswith(REMOVED) and not added:
            removed.append(line[len(REMOVED):])
            continue
        if line.startswith(ADDED):
            added.append(line[len(ADDED):])
            continue
        if removed or added:
            html += _render_block(removed, added)
            removed, added = [], []
        if line.startswith(REMOVED):
            removed.append(line[len(REMOVED):])
        else:
            html.append(Markup('<span style="display:block;color:#666">{}</span>').format(line))
    if removed or added:
        html += _render_block(removed, added)
    return Markup('<pre class="govarchive-diff" style="white-space:pre-wrap;margin:0;font-family:inherit">'
                  '{}</pre>').format(Markup("").join(html))


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str,
                datasette: Any) -> Markup | None:
    if table is None and column == "diff" and isinstance(value, str):
        return render_diff(value)
    if (table, column) in TEXT_COLUMNS and isinstance(value, str) and value:
        return Markup('<div class="govarchive-text">{}</div>').format(value)
    if (table, column) in FIELDS_COLUMNS and isinstance(value, str) and value not in ("", "{}"):
        return Markup('<div class="govarchive-text">{}</div>').format(fields_text(value))
    # Links to the canned queries of metadata.yml, when they are there (not under a bare `datasette`).
    linked = (table is None and column == "document_id" and isinstance(value, int)) or (
        table == "documents" and column in ("versions", "title") and value not in (None, ""))
    if not linked or not _has_queries(datasette, database):
        return None
    queries = datasette.urls.database(database)
    if table is None:  # a document_id in a canned query's results
        return Markup('<a href="{}/document?document={}">{}</a>').format(queries, value, value)
    try:
        doc_id = int(row["id"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None
    if column == "title":  # to the document's text, with its fields
        return Markup('<a href="{}/document?document={}">{}</a>').format(queries, doc_id, value)
    label = "1 version" if value == 1 else f"{value} versions"
    return Markup('<a href="{}/document_versions?document={}">{}</a>').format(queries, doc_id, label)


def _has_queries(datasette: Any, database: str) -> bool:
    queries = datasette.metadata("queries", database=database) or {}
    return "document" in queries and "document_versions" in queries


@hookimpl
def extra_css_urls(datasette: Any) -> list[str]:
    return [datasette.urls.path(CSS_PATH)]


@hookimpl
def extra_body_script(view_name: str) -> str:
    return FOLD_COLUMN_DESCRIPTIONS if view_name == "table" else ""


async def _css() -> Response:
    return Response(CSS, content_type="text/css; charset=utf-8",
                    headers={"cache-control": "max-age=3600"})


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(re.escape(CSS_PATH) + "$", _css)]
