"""The pages govarchive adds to Datasette: the start page's figures, a document's own page, the
Atom feeds, and the search snippet. Queries run through Datasette's read-only connections."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from datasette.utils.asgi import NotFound, Response

from ..diff import diff_excerpt, diff_text, fields_text, version_text
from ..store import search_words
from ..text import nfkc
from .render import render_diff

__all__ = ["DEFAULT_TIMEZONE", "MARK_END", "MARK_START", "STALE_DAYS", "SourceRow", "archive_timezone",
           "document_page", "feed", "is_archive", "local_time", "search_snippet", "source_flag",
           "source_rows"]

#: Times are shown in this zone unless the plugin setting or $GOVARCHIVE_TIMEZONE says otherwise.
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: A source without a successful run in this many days is flagged stale (as by `govarchive status`).
STALE_DAYS = 3.0
#: A search snippet's matches are between these two characters (rendered as <mark> in the pages).
MARK_START, MARK_END = "\x02", "\x03"
#: Attachment texts up to this many characters are shown open on a document's page; longer ones folded.
ATTACHMENT_TEXT_OPEN = 400
#: Entries in a feed.
FEED_ENTRIES = 50
_UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00")


def archive_timezone(datasette: Any) -> ZoneInfo:
    """The zone times are shown in: $GOVARCHIVE_TIMEZONE, the plugin's ``timezone`` setting, or Beijing."""
    config = datasette.plugin_config("govarchive") or {}
    name = os.environ.get("GOVARCHIVE_TIMEZONE") or config.get("timezone") or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def local_time(value: str | None, zone: ZoneInfo) -> str | None:
    """An archive timestamp (ISO 8601, UTC) as ``YYYY-MM-DD HH:MM:SS`` in ``zone``; None if it is not one."""
    if not isinstance(value, str) or not _UTC_STAMP.fullmatch(value):
        return None
    return dt.datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


async def is_archive(datasette: Any, database: str | None) -> bool:
    """Whether ``database`` is a govarchive archive (it has the full-text index and the sources)."""
    if not database:
        return False
    try:
        names = set(await datasette.get_database(database).table_names())
    except KeyError:
        return False
    return {"documents_fts", "sources", "events"} <= names


# -- the start page ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceRow:
    """One source on the start page: its figures, each with the address of the list behind it."""

    name: str
    title: str
    figures: tuple[tuple[str, int, str], ...]  # (label, number, href)
    last_run: str
    last_run_href: str
    flag: str


_OVERVIEW = """
select s.name, coalesce(s.title, '') as title,
  (select count(*) from documents d where d.source = s.name) as documents,
  (select count(*) from documents d where d.source = s.name and d.published >= :week) as published_7,
  (select count(*) from documents d where d.source = s.name and d.published >= :month) as published_30,
  (select count(*) from events e join documents d on d.id = e.document_id
   where d.source = s.name and e.event = 'new' and e.time >= :new_since) as new,
  (select count(*) from events e join documents d on d.id = e.document_id
   where d.source = s.name and e.event = 'changed' and e.time >= :changed_since) as changed,
  (select count(*) from documents d where d.source = s.name
   and (d.online = 0 or d.unlisted is not null)) as removed,
  (select max(finished) from runs where source = s.name and finished is not null
   and coalesce(error, '') = '') as last_success,
  r.id as run_id, r.started, r.finished, coalesce(r.error, '') as error, r.new as run_new,
  r.changed as run_changed, r.removed as run_removed, r.failed as run_failed
from sources s
left join runs r on r.id = (select max(id) from runs where source = s.name)
order by s.name
"""


def source_flag(row: dict[str, Any], now: dt.datetime, stale_days: float = STALE_DAYS) -> str:
    """Why a source needs a look ("failing: …", "stale: …"), or "" when it is fine."""
    if row["run_id"] is None:
        return "never crawled"
    if row["error"]:
        return f"failing: {row['error']}"
    success = row["last_success"]
    if not success:
        return "stale: no successful run yet"
    age = now - dt.datetime.fromisoformat(success)
    if age > dt.timedelta(days=stale_days):
        return f"stale: no successful run in {age.days} days"
    return ""


def _run_text(row: dict[str, Any], zone: ZoneInfo) -> str:
    if row["run_id"] is None:
        return "never"
    when = local_time(row["started"], zone) or row["started"]
    if not row["finished"]:
        return f"{when[:16]}: running (or was stopped)"
    counts = (f"{row['run_new'] or 0} new, {row['run_changed'] or 0} changed, "
              f"{row['run_removed'] or 0} removed, {row['run_failed'] or 0} failed")
    return f"{when[:16]}: {'flagged' if row['error'] else 'ok'}, {counts}"


async def source_rows(datasette: Any, database: str, now: dt.datetime | None = None) -> list[SourceRow]:
    """Each source's figures for the start page; each number links to the list it counts."""
    zone = archive_timezone(datasette)
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(zone).date()
    params = {"week": (today - dt.timedelta(days=7)).isoformat(),
              "month": (today - dt.timedelta(days=30)).isoformat(),
              "new_since": (now - dt.timedelta(days=7)).isoformat(timespec="seconds"),
              "changed_since": (now - dt.timedelta(days=30)).isoformat(timespec="seconds")}
    result = await datasette.get_database(database).execute(_OVERVIEW, params)
    base = datasette.urls.database(database)
    rows = []
    for r in result.rows:
        row = dict(r)
        src = urlencode({"source": row["name"]})
        figures = (
            ("documents", row["documents"], f"{base}/documents?{src}"),
            ("published, last 7 days", row["published_7"], f"{base}/published_this_week?{src}"),
            ("published, last 30 days", row["published_30"],
             f"{base}/documents?{src}&{urlencode({'published__gte': params['month']})}"),
            ("first archived, last 7 days", row["new"], f"{base}/new_this_week?{src}"),
            ("changed, last 30 days", row["changed"], f"{base}/changed_recently?{src}"),
            ("removed or unlisted", row["removed"], f"{base}/removed?{src}"),
        )
        run_href = f"{base}/runs/{row['run_id']}" if row["run_id"] is not None else f"{base}/runs"
        rows.append(SourceRow(row["name"], row["title"], figures, _run_text(row, zone), run_href,
                              source_flag(row, now)))
    return rows


# -- one document -----------------------------------------------------------------------------

async def document_page(datasette: Any, request: Any) -> Response:
    """``/<database>/-/document/<id>``: a document to read, with its attachments and every version."""
    database, doc_id = request.url_vars["database"], int(request.url_vars["id"])
    if not await is_archive(datasette, database):
        raise NotFound(f"{database} is not a govarchive archive")
    db = datasette.get_database(database)
    docs = (await db.execute("select * from documents where id = ?", [doc_id])).rows
    if not docs:
        raise NotFound(f"No document {doc_id} in {database}")
    doc = dict(docs[0])
    zone = archive_timezone(datasette)
    versions = [dict(v) for v in (await db.execute(
        "select v.*, (select a.text from version_attachments a where a.version_id = v.id) as attachment_text"
        " from versions v where v.document_id = ? and v.merged_into is null order by v.version", [doc_id])).rows]
    events = {(e["time"], e["event"]): e["detail"] for e in (await db.execute(
        "select time, event, detail from events where document_id = ? order by id", [doc_id])).rows}
    shown, previous = [], None
    for v in versions:
        text = version_text(v["title"], v["published"], v["publisher"], v["fields"], v["body"],
                            v["attachment_text"])
        shown.append({"version": v["version"], "captured": local_time(v["captured"], zone),
                      "what": events.get((v["captured"], "changed"), "") if previous else "first archived",
                      "diff_html": render_diff(diff_text(previous, text) or "")})
        previous = text
    attachments = [dict(a) for a in (await db.execute(
        "select a.url, a.text, a.size, a.content_type, a.sha256, a.error, f.name, f.kind, f.pages,"
        " f.text_status, f.text_reason, f.text as file_text from attachments a"
        " left join files f on f.sha256 = a.sha256 where a.document_id = ? order by a.id", [doc_id])).rows]
    base = datasette.urls.database(database)
    for a in attachments:
        a["download"] = (f"{base}/files/{a['sha256']}.blob?_blob_column=content" if a["sha256"] else "")
        # A file listed in its column is the document itself: its text is the body above.
        a["paragraphs"] = [] if a["url"] == doc["url"] else (a["file_text"] or "").splitlines()
        a["short"] = len(a["file_text"] or "") <= ATTACHMENT_TEXT_OPEN
    status = "online"
    if not doc["online"]:
        status = f"removed {local_time(doc['removed'], zone) or ''} ({doc['removed_reason'] or 'gone'})"
    elif doc["unlisted"]:
        status = f"no longer listed in its column since {local_time(doc['unlisted'], zone)}"
    context = {
        "database": database, "doc": doc, "status": status, "versions": list(reversed(shown)),
        "fields": [line.split("：", 1) for line in fields_text(doc["fields"]).splitlines() if "：" in line],
        "paragraphs": [p for p in (doc["body"] or "").splitlines() if p.strip()],
        "attachments": attachments, "timezone": zone.key,
        "first_seen": local_time(doc["first_seen"], zone), "last_seen": local_time(doc["last_seen"], zone),
        "versions_href": f"{base}/document_versions?document={doc_id}",
        "row_href": f"{base}/documents/{doc_id}",
        "source_href": f"{base}/documents?{urlencode({'source': doc['source']})}",
        "feed_href": f"{base}/feed.atom?{urlencode({'source': doc['source']})}",
    }
    html = await datasette.render_template("govarchive_document.html", context, request=request,
                                           view_name="govarchive_document")
    return Response.html(html)


# -- feeds ------------------------------------------------------------------------------------

_ATOM = "http://www.w3.org/2005/Atom"

_FEED = """
with items as (
  select e.id, e.time, e.event, e.detail, e.document_id,
    (select max(version) from versions v where v.document_id = e.document_id and v.captured <= e.time)
      as version
  from events e join documents d on d.id = e.document_id
  where (:source = '' or d.source = :source) and e.event in ('new', 'changed', 'removed', 'unlisted')
  order by e.time desc, e.id desc
  limit :limit
)
select i.*, d.source, d.url, d.versions as version_count, coalesce(v.title, d.title, d.url) as title,
  v.published, coalesce(v.publisher, d.publisher) as publisher, v.fields, v.body,
  p.title as p_title, p.published as p_published, p.publisher as p_publisher, p.fields as p_fields,
  p.body as p_body,
  (select a.text from version_attachments a where a.version_id = v.id) as attachment_text,
  (select a.text from version_attachments a where a.version_id = p.id) as p_attachment_text
from items i
join documents d on d.id = i.document_id
left join versions v on v.document_id = i.document_id and v.version = i.version
left join versions p on p.document_id = i.document_id and p.version = i.version - 1
order by i.time desc, i.id desc
"""

_EVENT_WORDS = {"new": "New", "changed": "Changed", "removed": "Removed", "unlisted": "Unlisted"}


def _entry_content(row: dict[str, Any]) -> str:
    if row["event"] == "new":
        body = row["body"] or ""
        return (f"Published {row['published'] or 'on an unknown date'}"
                + (f" by {row['publisher']}" if row["publisher"] else "") + "\n\n"
                + body[:800] + (" …" if len(body) > 800 else ""))
    if row["event"] == "changed":
        diff = diff_text(version_text(row["p_title"], row["p_published"], row["p_publisher"], row["p_fields"],
                                      row["p_body"], row["p_attachment_text"]),
                         version_text(row["title"], row["published"], row["publisher"], row["fields"],
                                      row["body"], row["attachment_text"]))
        return f"{row['detail'] or 'changed'}\n\n{diff_excerpt(diff, 2000)}"
    return (f"{_EVENT_WORDS[row['event']]}: {row['detail'] or 'no longer online'}. Its "
            f"{row['version_count']} archived version(s) stay in the archive.")


async def feed(datasette: Any, request: Any) -> Response:
    """``/<database>/feed.atom[?source=NAME]``: the latest new, changed, removed and unlisted documents."""
    database = request.url_vars["database"]
    if not await is_archive(datasette, database):
        raise NotFound(f"{database} is not a govarchive archive")
    db = datasette.get_database(database)
    source = request.args.get("source", "")
    title = f"govarchive · {database}: every source"
    if source:
        found = (await db.execute("select name, title from sources where name = ?", [source])).rows
        if not found:
            return Response.text(f"No source named {source!r} in {database}; see {datasette.urls.table(database, 'sources')}",
                                 status=404)
        title = f"govarchive · {source}" + (f" · {found[0]['title']}" if found[0]["title"] else "")
    rows = [dict(r) for r in (await db.execute(_FEED, {"source": source, "limit": FEED_ENTRIES})).rows]
    self_url = datasette.absolute_url(request, request.path + (f"?{urlencode({'source': source})}" if source else ""))
    root = ET.Element("feed", xmlns=_ATOM)
    ET.SubElement(root, "title").text = title + ": new, changed and removed documents"
    ET.SubElement(root, "id").text = self_url
    ET.SubElement(root, "link", href=self_url, rel="self")
    ET.SubElement(root, "link", href=datasette.absolute_url(request, datasette.urls.database(database)))
    ET.SubElement(root, "updated").text = rows[0]["time"] if rows else "1970-01-01T00:00:00+00:00"
    ET.SubElement(root, "generator").text = "govarchive"
    for row in rows:
        entry = ET.SubElement(root, "entry")
        ET.SubElement(entry, "id").text = f"{row['url']}#{row['event']}-{row['time']}"
        ET.SubElement(entry, "title").text = f"{_EVENT_WORDS[row['event']]}: {row['title']}" + (
            "" if source else f" ({row['source']})")
        ET.SubElement(entry, "updated").text = row["time"]
        view = datasette.absolute_url(request, f"{datasette.urls.database(database)}/-/document/{row['document_id']}")
        ET.SubElement(entry, "link", href=view)
        ET.SubElement(entry, "link", href=row["url"], rel="related")
        if row["publisher"]:
            ET.SubElement(ET.SubElement(entry, "author"), "name").text = row["publisher"]
        ET.SubElement(entry, "content", type="text").text = _entry_content(row)
    xml = ET.tostring(root, encoding="unicode", xml_declaration=True)
    return Response(xml, content_type="application/atom+xml; charset=utf-8")


# -- search snippets --------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
#: A letter or digit that is not Chinese: what may not touch a matched Latin word or number.
_ALNUM = f"[^\\W_{_HAN}]"
_SPACES = re.compile(r"\s+")


def _pattern(pieces: list[str]) -> str:
    """A query word as a pattern over readable text: its runs in order, anything but letters
    between them; a word of one Chinese character matches the pair the index found it in."""
    if len(pieces) == 1 and len(pieces[0]) == 1 and re.fullmatch(f"[{_HAN}]", pieces[0]):
        return re.escape(pieces[0]) + f"[{_HAN}]?"
    pattern = r"\W*".join(re.escape(p) for p in pieces)
    if re.match(_ALNUM, pieces[0]):
        pattern = f"(?<!{_ALNUM})" + pattern
    if re.match(_ALNUM, pieces[-1][-1]):
        pattern += f"(?!{_ALNUM})"
    return pattern


def search_snippet(query: str | None, body: str | None, width: int = 120) -> str:
    """A stretch of ``body`` around the first match of ``query``, matches between MARK_START and
    MARK_END.

    The index keeps no text to highlight (store.SEARCH_INDEX), so the query's words
    (``store.search_words``) are found in the readable text, in NFKC and ignoring case as the
    index does.
    """
    shown = _SPACES.sub(" ", body or "").strip()
    text = nfkc(shown)  # as the index has it
    if len(text) != len(shown):  # NFKC expanded a character: show the normalised text
        shown = text
    patterns = {_pattern(pieces) for pieces in search_words(query or "")}
    if not patterns:
        return shown[:width] + ("…" if len(shown) > width else "")
    matcher = re.compile("|".join(sorted(patterns, key=len, reverse=True)), re.IGNORECASE)
    first = matcher.search(text)
    if first is None:  # the title matched: the text starts
        return shown[:width] + ("…" if len(shown) > width else "")
    start = max(0, first.start() - width // 3)
    end = min(len(text), start + width)
    out, at = [], start
    for m in matcher.finditer(text, start, end):
        out += [shown[at:m.start()], MARK_START, shown[m.start():m.end()], MARK_END]
        at = m.end()
    out.append(shown[at:end])
    return ("…" if start else "") + "".join(out) + ("…" if end < len(text) else "")


def sources_json(names: list[tuple[str, str]]) -> str:
    """The configured sources for the source picker, as JSON safe inside a <script>."""
    return json.dumps(names, ensure_ascii=False).replace("</", "<\\/")
