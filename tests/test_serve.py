"""Datasette over a crawled archive: metadata, Chinese full-text search, the JSON API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlite_utils
import yaml
from click.testing import CliRunner
from datasette.app import Datasette
from test_crawl import crawl

from crawler.cli import cli
from crawler.demo import SITE, serve_site
from crawler.serve import diff_text, load_metadata, render_diff
from crawler.store import TABLES

METADATA = Path(__file__).parents[1] / "crawler" / "serve" / "metadata.yml"


@pytest.fixture
def archive_path(config_path, db_path) -> Path:
    result = CliRunner().invoke(cli, ["crawl", "--config", str(config_path), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    return db_path


def get_json(db_path: Path, path: str) -> dict:
    async def fetch() -> dict:
        ds = Datasette([str(db_path)], metadata=load_metadata(db_path))
        response = await ds.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    return asyncio.run(fetch())


@pytest.mark.parametrize("word, expected", [
    ("复议", {"示范县行政复议工作情况通报", "示范市司法局2024年行政复议工作总结"}),
    ("行政复议", {"示范县行政复议工作情况通报", "示范市司法局2024年行政复议工作总结"}),
    ("枫桥经验", {"示范市关于推进“枫桥经验”的实施意见"}),
    ("法治政府", {"示范县2023年法治政府建设工作报告", "示范市2024年法治政府建设年度报告"}),
])
def test_the_documents_table_search_finds_chinese_words(archive_path, word, expected):
    data = get_json(archive_path, f"/test/documents.json?_shape=array&_size=100&_search="
                                  f"{urllib.parse.quote(word)}")
    titles = {row["title"] for row in data}
    assert expected <= titles
    db = sqlite_utils.Database(archive_path)
    containing = {r["title"] for r in db.query(
        "select title from documents where title like ? or body like ?", [f"%{word}%"] * 2)}
    assert titles == containing  # every document that contains the word, and only those


def test_documents_are_newest_first_and_faceted_by_source(archive_path):
    data = get_json(archive_path, "/test/documents.json?_size=5")
    dates = [row[data["columns"].index("published")] for row in data["rows"]]
    assert dates == sorted(dates, reverse=True)
    assert {"source", "publisher"} <= set(data["facet_results"])


def test_metadata_describes_every_table_and_is_keyed_to_the_served_database(archive_path):
    raw = yaml.safe_load(METADATA.read_text(encoding="utf-8"))
    tables = raw["databases"]["govarchive"]["tables"]
    assert set(TABLES) <= set(tables)
    for name in TABLES:
        assert tables[name].get("title") and tables[name].get("description"), name
    assert "test" in load_metadata(archive_path)["databases"]  # test.db is served as "test"


# -- A browsable archive with a history: several sources, an edited, a removed and a hostile page --

EDITED = "zwgk/tzgg/202403/t20240306_451851.html"            # gets a second version
EDITED_TITLE = "示范县2023年法治政府建设工作报告"
REMOVED = "zwgk/tzgg/202303/t20230315_451444.html"           # 404 on the second crawl
REMOVED_TITLE = "示范县2022年法治政府建设工作报告"
HOSTILE = "zwgk/tzgg/202404/t20240410_451888.html"           # its text holds a <script> tag
HOSTILE_TITLE = "关于网站安全检查情况的通报"
MISSING = "xxgk/c123697/202506/0123456789abcdef.shtml"       # listed, never there: a failed fetch
SCRIPT = "<script>alert(1)</script>"
OLD_PARAGRAPH = "深入学习贯彻习近平法治思想，全面落实"
NEW_PARAGRAPH = "深入学习贯彻习近平法治思想和述职评议制度，全面落实"
LONG_AGO = "2025-01-02T03:04:05+00:00"                       # demo-xxgk's history is moved here


def _edit(site: Path, path: str, old: str, new: str) -> None:
    page = site / path
    text = page.read_text(encoding="utf-8")
    assert old in text, f"{path} no longer holds {old!r}"
    page.write_text(text.replace(old, new, 1), encoding="utf-8")


def build_history_archive(root: Path) -> tuple[Path, dict[str, int]]:
    """Crawl a copy of the sample site twice, with an edit, a removal and hostile text between.

    Returns the database (named govarchive.db, so pages are under /govarchive/) and the ids of the
    edited, removed and hostile documents. demo-xxgk's events and versions are moved back in time
    (LONG_AGO), so "this week" and "last 30 days" see demo-tzgg's only.
    """
    site, db = root / "site", root / "archive" / "govarchive.db"
    shutil.copytree(SITE, site)
    hostile = (site / EDITED).read_text(encoding="utf-8")
    hostile = hostile.replace(EDITED_TITLE, HOSTILE_TITLE).replace("2024-03-06", "2024-04-10")
    hostile = re.sub(r'<div class="TRS_Editor">.*?</div>', (
        '<div class="TRS_Editor"><p>本次检查发现网站页面被植入可疑代码'
        '&lt;script&gt;alert(1)&lt;/script&gt;，已全部清除。</p>'
        '<p>请各单位加强网站内容安全管理。</p><p style="text-align:right">示范县人民政府</p></div>'),
        hostile, flags=re.DOTALL)
    (site / HOSTILE).parent.mkdir(parents=True)
    (site / HOSTILE).write_text(hostile, encoding="utf-8")
    _edit(site, "zwgk/tzgg/index.html", '<ul class="list">\n', '<ul class="list">\n'
          f'<li><a href="./202404/t20240410_451888.html" title="{HOSTILE_TITLE}">{HOSTILE_TITLE}</a>'
          '<span>2024-04-10</span></li>\n')
    with serve_site(site) as base:
        config = root / "sources.toml"
        config.write_text((site / "sources.toml").read_text(encoding="utf-8").replace("{base}", base)
                          .replace("delay = 0.05", "delay = 0.0"), encoding="utf-8")
        assert crawl(config, db).startswith("2 sources: 19 new, 0 changed")
        _edit(site, EDITED, "深入学习贯彻习近平法治思想", "深入学习贯彻习近平法治思想和述职评议制度")
        (site / REMOVED).unlink()
        _edit(site, "xxgk/c123697/index.shtml", '<div class="list-box"><ul>\n', '<div class="list-box"><ul>\n'
              f'<li><span class="date">2025-06-01</span><a href="/{MISSING}">示范市不存在的文件</a></li>\n')
        assert crawl(config, db, "--full").startswith("2 sources: 0 new, 1 changed, 17 unchanged, 1 removed")
        ids = {name: _doc_id(db, f"{base}/{path}")
               for name, path in (("edited", EDITED), ("removed", REMOVED), ("hostile", HOSTILE))}
    archive = sqlite_utils.Database(db)
    xxgk = "select id from documents where source = 'demo-xxgk'"
    with archive.conn:
        archive.execute(f"update events set time = ? where document_id in ({xxgk})", [LONG_AGO])
        archive.execute(f"update versions set captured = ? where document_id in ({xxgk})", [LONG_AGO])
    archive.close()
    return db, ids


def _doc_id(db: Path, url: str) -> int:
    rows = list(sqlite_utils.Database(db).query("select id from documents where url = ?", [url]))
    assert len(rows) == 1, url
    return int(rows[0]["id"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def govarchive_serve(db: Path) -> Iterator[str]:
    """`govarchive serve` on a free 127.0.0.1 port, for real; yields its base URL."""
    port = free_port()
    log = db.with_name(f"serve-{port}.log")
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "crawler", "serve", "--db", str(db), "--port",
                                   str(port)], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/-/versions.json", timeout=5).raise_for_status()
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"govarchive serve did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    return build_history_archive(tmp_path_factory.mktemp("history"))


@pytest.fixture(scope="module")
def served(history) -> Iterator[str]:
    """The history archive behind a real `govarchive serve`; its /govarchive/ URL."""
    with govarchive_serve(history[0]) as base:
        yield f"{base}/govarchive"


def get(url: str) -> httpx.Response:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text[:500]}"
    return response


def rows(served: str, query: str, **params: object) -> list[dict]:
    return get(f"{served}/{query}.json?" + urllib.parse.urlencode({"_shape": "array", **params})).json()


def test_the_served_json_api_finds_a_chinese_word(served, history):
    hits = rows(served, "documents", _search="复议", _size=100)
    titles = {row["title"] for row in hits}
    db = sqlite_utils.Database(history[0])
    expected = {r["title"] for r in db.query(
        "select title from documents where title like '%复议%' or body like '%复议%'")}
    assert titles == expected and {"示范县行政复议工作情况通报", "示范市司法局2024年行政复议工作总结"} <= titles
    assert HOSTILE_TITLE not in titles


@pytest.mark.parametrize("query, params, count", [
    ("new_this_week", {}, 13),                          # demo-tzgg's 12 and the hostile page
    ("new_this_week", {"source": "demo-xxgk"}, 0),      # its history is months old
    ("new_this_week", {"source": "demo-tzgg"}, 13),
    ("changed_recently", {}, 1),
    ("changed_recently", {"source": "demo-xxgk"}, 0),
    ("removed", {}, 1),
    ("failed_fetches", {}, 2),                          # one per source in their last runs
    ("document_versions", {"document": "edited"}, 2),
    ("document_versions", {"document": "hostile"}, 1),
    ("document", {"document": "edited"}, 11),            # one row per field, the text last
    ("document", {"document": "edited", "as_of": "2020-01-01"}, 0),  # not archived yet
])
def test_each_canned_query_returns_the_expected_rows(served, history, query, params, count):
    ids = history[1]
    params = {k: ids.get(v, v) for k, v in params.items()}
    assert len(rows(served, query, **params)) == count


def document(served: str, **params: object) -> dict:
    """The document canned query's rows (field, value) as one dict."""
    return {r["field"]: r["value"] for r in rows(served, "document", **params)}


def test_new_this_week_lists_titles_urls_sources_and_dates_newest_first(served, history):
    found = rows(served, "new_this_week")
    assert {r["source"] for r in found} == {"demo-tzgg"}
    assert HOSTILE_TITLE in {r["title"] for r in found}
    assert all(r["url"].startswith("http://127.0.0.1:") and r["published"] for r in found)
    assert [r["found"] for r in found] == sorted((r["found"] for r in found), reverse=True)


def test_changed_removed_and_failed_say_what_when_and_how(served, history):
    ids = history[1]
    [changed] = rows(served, "changed_recently")
    assert (changed["document_id"], changed["title"]) == (ids["edited"], EDITED_TITLE)
    assert changed["what_changed"] == "changed: body (+1 −1 paragraphs)"
    assert "+ " in changed["diff"] and "述职评议" in changed["diff"]
    [removed] = rows(served, "removed")
    assert (removed["document_id"], removed["title"], removed["how"]) == (ids["removed"], REMOVED_TITLE,
                                                                          "HTTP 404")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", removed["removed"])  # ISO, UTC
    failed = rows(served, "failed_fetches")
    assert {(f["source"], f["status"], f["outcome"]) for f in failed} == {
        ("demo-tzgg", 404, "Gone"), ("demo-xxgk", 404, "Gone")}
    by_source = {f["source"]: f for f in failed}
    assert by_source["demo-tzgg"]["title"] == REMOVED_TITLE
    assert by_source["demo-xxgk"]["url"].endswith(MISSING) and by_source["demo-xxgk"]["title"] is None
    last_runs = {r["source"]: r["id"] for r in rows(served, "runs", _sort_desc="id")[::-1]}
    assert {f["run_id"] for f in failed} == set(last_runs.values())


def test_the_versions_of_a_document_show_the_edited_paragraph_as_a_diff(served, history):
    ids = history[1]
    by_id = rows(served, "document_versions", document=ids["edited"])
    url = document(served, document=ids["edited"])["url"]
    assert rows(served, "document_versions", document=url) == by_id  # the URL works as well as the id
    assert [v["version"] for v in by_id] == [2, 1]
    new, first = by_id
    assert first["diff"] == "(first version)" and first["what_changed"] is None
    assert new["what_changed"] == "changed: body (+1 −1 paragraphs)"
    removed_lines = [line for line in new["diff"].splitlines() if line.startswith("− ")]
    added_lines = [line for line in new["diff"].splitlines() if line.startswith("+ ")]
    assert len(removed_lines) == len(added_lines) == 1
    assert OLD_PARAGRAPH in removed_lines[0] and NEW_PARAGRAPH in added_lines[0]
    assert "标题" not in new["diff"]  # unchanged fields are not repeated
    page = get(f"{served}/document_versions?document={ids['edited']}").text
    assert '<pre class="govarchive-diff"' in page
    assert re.search(r"<mark[^>]*>和述职评议制度</mark>", page)  # the changed words, highlighted


def test_a_document_reads_as_it_did_on_a_date(served, history):
    edited = history[1]["edited"]
    now = document(served, document=edited)
    assert list(now) == ["title", "published", "publisher", "status", "version", "captured", "url", "source",
                         "document_id", "fields", "text"]
    assert (now["title"], now["version"], now["status"]) == (EDITED_TITLE, "2 of 2", "online")
    assert "述职评议" in now["text"] and "\n" in now["text"]  # paragraphs stay paragraphs
    assert document(served, document=now["url"]) == now
    assert document(served, document=edited, as_of="2020-01-01") == {}  # not archived yet
    removed = document(served, document=history[1]["removed"])
    assert removed["status"].startswith("removed ") and "HTTP 404" in removed["status"]
    fields = document(served, document=history[1]["hostile"])["fields"]
    assert fields == "" or "：" in fields  # label：value lines, not JSON
    with_fields = next(sqlite_utils.Database(history[0]).query(
        "select id from documents where fields like '%文号%' limit 1"))["id"]
    shtml = document(served, document=with_fields)
    assert "文号：" in shtml["fields"] and "{" not in shtml["fields"]
    page = get(f"{served}/document?document={edited}").text
    assert 'class="query db-govarchive query-document"' in page and "/-/govarchive.css" in page


ATOM = {"a": "http://www.w3.org/2005/Atom"}


def entries(feed: ElementTree.Element) -> dict[str, ElementTree.Element]:
    return {e.findtext("a:title", namespaces=ATOM): e for e in feed.findall("a:entry", ATOM)}


def test_the_atom_feed_of_a_source_names_it_and_says_what_changed(served, history):
    ids = history[1]
    feed = ElementTree.fromstring(get(f"{served}/feed.atom?source=demo-tzgg").content)
    title = feed.findtext("a:title", namespaces=ATOM)
    assert "demo-tzgg" in title and "示范县人民政府 · 通知公告" in title
    found = entries(feed)
    assert len(found) == 13 + 1 + 1  # 13 new, 1 changed, 1 removed
    assert f"New: {HOSTILE_TITLE}" in found
    changed = found[f"Changed: {EDITED_TITLE}"]
    content = changed.findtext("a:content", namespaces=ATOM)
    assert content.startswith("changed: body (+1 −1 paragraphs)")
    assert f"− 坚持以习近平新时代中国特色社会主义思想为指导，{OLD_PARAGRAPH}" in content
    assert f"+ 坚持以习近平新时代中国特色社会主义思想为指导，{NEW_PARAGRAPH}" in content
    links = {link.get("rel", "alternate"): link.get("href") for link in changed.findall("a:link", ATOM)}
    assert links["alternate"] == f"{served}/-/document/{ids['edited']}"  # the archived copy
    assert links["related"].endswith(EDITED)                               # and the original
    ids_seen = [e.findtext("a:id", namespaces=ATOM) for e in found.values()]
    assert len(set(ids_seen)) == len(ids_seen)
    removed = found[f"Removed: {REMOVED_TITLE}"]
    assert "HTTP 404" in removed.findtext("a:content", namespaces=ATOM)
    page = get(removed.find("a:link", ATOM).get("href")).text  # a removed document's entry opens
    assert REMOVED_TITLE in page and "HTTP 404" in page
    other = ElementTree.fromstring(get(f"{served}/feed.atom?source=demo-xxgk").content)
    assert len(other.findall("a:entry", ATOM)) == 6  # only that source's documents
    assert httpx.get(f"{served}/feed.atom?source=nosuch", timeout=10).status_code == 404


def test_the_feed_of_every_source_names_each_entry_s_source(served):
    feed = ElementTree.fromstring(get(f"{served}/feed.atom").content)
    assert "every source" in feed.findtext("a:title", namespaces=ATOM)
    titles = list(entries(feed))
    assert len(titles) == 15 + 6
    assert {t.rsplit("(", 1)[1].rstrip(")") for t in titles} == {"demo-tzgg", "demo-xxgk"}


def test_feed_and_page_links_follow_the_served_database_name(archive_path):
    """An archive file named test.db is served as /test/: its feed and pages link there."""
    feed = ElementTree.fromstring(get_text(archive_path, "/test/feed.atom"))
    links = [e.find("a:link", ATOM).get("href") for e in feed.findall("a:entry", ATOM)]
    assert links and all(re.fullmatch(r"http://localhost/test/-/document/\d+", link) for link in links)
    start = get_text(archive_path, "/test")
    assert 'href="/test/feed.atom"' in start and 'href="/test/documents?source=demo-tzgg"' in start
    assert 'href="/govarchive/' not in start


def get_text(db_path: Path, path: str) -> str:
    async def fetch() -> str:
        ds = Datasette([str(db_path)], metadata=load_metadata(db_path))
        response = await ds.client.get(path)
        assert response.status_code == 200, response.text
        return response.text

    return asyncio.run(fetch())


@pytest.mark.parametrize("page", [
    "documents?_search=可疑代码",
    "documents/{hostile}",
    "document?document={hostile}",
    "feed.atom?source=demo-tzgg",
    "-/document/{hostile}",
    "search?q=可疑代码",
])
def test_archived_text_is_shown_escaped_never_as_html(served, history, page):
    html = get(f"{served}/{page.format(**history[1])}").text
    assert SCRIPT not in html and "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_foreign_keys_show_document_titles(served, history):
    edited = history[1]["edited"]
    for table in ("versions", "events", "fetches"):
        html = get(f"{served}/{table}?document_id={edited}").text
        assert f'<a href="/govarchive/documents/{edited}">{EDITED_TITLE}</a>' in html, table
    attached = next(sqlite_utils.Database(history[0]).query(
        "select d.id, d.title from attachments a join documents d on d.id = a.document_id limit 1"))
    html = get(f"{served}/attachments?document_id={attached['id']}").text
    assert f'<a href="/govarchive/documents/{attached["id"]}">{attached["title"]}</a>' in html
    labelled = rows(served, "versions", document_id=edited, _labels="on")
    assert labelled[0]["document_id"] == {"value": edited, "label": EDITED_TITLE}


def test_documents_link_to_their_versions_and_keep_line_breaks(served, history):
    edited = history[1]["edited"]
    html = get(f"{served}/documents").text
    assert f'<a href="/govarchive/document_versions?document={edited}">2 versions</a>' in html
    assert f'<a href="/govarchive/-/document/{edited}">{EDITED_TITLE}</a>' in html
    css = get(f"{served.rsplit('/', 1)[0]}/-/govarchive.css")
    assert "pre-wrap" in css.text and "/-/govarchive.css" in html


def test_every_column_and_canned_query_is_described():
    raw = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["govarchive"]
    db = sqlite_utils.Database(memory=True)
    from crawler.store import migrations
    migrations.apply(db)
    for name in TABLES:
        described = set(raw["tables"][name].get("columns", {}))
        missing = set(db[name].columns_dict) - described
        assert not missing, f"metadata.yml: {name} columns without a description: {sorted(missing)}"
    for name, query in raw["queries"].items():
        assert query.get("title") and query.get("description") and query.get("sql"), name


def test_the_browsing_guide_links_every_canned_query_and_the_feed_pattern():
    guide = (METADATA.parents[2] / "docs" / "browsing.md").read_text(encoding="utf-8")
    queries = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["govarchive"]["queries"]
    for name in queries:
        assert f"(http://127.0.0.1:8001/govarchive/{name})" in guide, name
    assert "http://127.0.0.1:8001/govarchive/feed.atom?source=NAME" in guide
    assert "(http://127.0.0.1:8001/govarchive/feed.atom)" in guide


@pytest.mark.parametrize("old, new, expected", [
    (None, "a", "(first version)"),
    ("a\nb\nc", "a\n b \nc\n", "(no change in the text)"),
    ("a\nb\nc", "a\nB\nc", "⋯ 1 unchanged\n− b\n+ B\n⋯ 1 unchanged"),
    ("a\nb", "a\nb\nc", "⋯ 2 unchanged\n+ c"),
    ("a\n\nb", "b", "− a\n⋯ 1 unchanged"),
    (12, "12\n13", "⋯ 1 unchanged\n+ 13"),        # whatever SQLite hands over
])
def test_diff_text_lists_changed_paragraphs_only(old, new, expected):
    assert diff_text(old, new) == expected


def test_the_rendered_diff_escapes_everything():
    html = str(render_diff(f"− {SCRIPT} old\n+ {SCRIPT} new\n⋯ 1 unchanged <b>"))
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_bare_datasette_links_to_no_missing_query(history):
    """`datasette archive.db` without the metadata: the plugin's pages link to no missing query."""
    async def fetch() -> str:
        ds = Datasette([str(history[0])])
        response = await ds.client.get("/govarchive/documents")
        assert response.status_code == 200
        return response.text

    html = asyncio.run(fetch())
    assert "document_versions" not in html and "document?document=" not in html
    assert '<div class="govarchive-text">' in html  # still line breaks, still escaped


def test_the_removed_query_includes_documents_gone_from_their_column(tmp_path, config_path, site, db_path):
    runner = CliRunner()
    runner.invoke(cli, ["crawl", "--config", str(config_path), "--db", str(db_path)], catch_exceptions=False)
    page = site / "zwgk/tzgg/index.html"
    lines = page.read_text(encoding="utf-8").splitlines()
    page.write_text("\n".join(x for x in lines if "t20240306_451851" not in x), encoding="utf-8")
    runner.invoke(cli, ["crawl", "--config", str(config_path), "--db", str(db_path), "--full"],
                  catch_exceptions=False)
    rows = get_json(db_path, "/test/removed.json?_shape=array&source=")
    assert [(r["title"], r["how"]) for r in rows] == [
        ("示范县2023年法治政府建设工作报告", "no longer listed in its column (the page still answers)")]


# -- The start page, a document's page, search snippets, times in the archive's zone ----------------

FIGURE = re.compile(r'<td><a href="([^"]+)" title="([^"]+)">(\d+)</a></td>')


def test_the_start_page_counts_each_source_and_each_number_opens_its_list(served, history):
    html = get(served).text
    rows = dict(re.findall(r'<tr id="source-([^"]+)">(.*?)</tr>', html, re.DOTALL))
    assert set(rows) == {"demo-tzgg", "demo-xxgk"}
    figures = {name: {label: (int(n), href) for href, label, n in FIGURE.findall(row)}
               for name, row in rows.items()}
    tzgg = {label: n for label, (n, _) in figures["demo-tzgg"].items()}
    assert tzgg == {"documents": 13, "published, last 7 days": 0, "published, last 30 days": 0,
                    "first archived, last 7 days": 13, "changed, last 30 days": 1, "removed or unlisted": 1}
    assert figures["demo-xxgk"]["first archived, last 7 days"][0] == 0  # its history is months old
    root = served.rsplit("/", 1)[0]
    for name, found in figures.items():
        for label, (number, href) in found.items():
            path, _, query = href.replace("&amp;", "&").partition("?")
            listed = get(f"{root}{path}.json?{query}&_shape=array&_size=max").json()
            assert len(listed) == number, (name, label, href)
            assert {r["source"] for r in listed} <= {name}, (name, label)
    assert re.search(r'<td class="run"><a href="/govarchive/runs/\d+">\d{4}-\d\d-\d\d \d\d:\d\d: ok, 0 new, '
                     r'1 changed, 1 removed, 0 failed</a></td>', rows["demo-tzgg"])
    assert '<td class="flag good">ok</td>' in rows["demo-tzgg"]


def test_a_failing_or_stale_source_is_flagged_on_the_start_page(tmp_path, archive_path):
    db = sqlite_utils.Database(archive_path)
    with db.conn:
        db.execute("update runs set error = '0 links found on http://x/' where source = 'demo-xxgk'")
        db.execute("update runs set started = '2020-01-01T00:00:00+00:00', finished = '2020-01-01T00:10:00+00:00'"
                   " where source = 'demo-tzgg'")
    html = get_text(archive_path, "/test")
    rows = dict(re.findall(r'<tr id="source-([^"]+)">(.*?)</tr>', html, re.DOTALL))
    assert '<td class="flag bad">failing: 0 links found on http://x/</td>' in rows["demo-xxgk"]
    assert re.search(r'<td class="flag bad">stale: no successful run in \d+ days</td>', rows["demo-tzgg"])


def test_published_this_week_is_by_publication_date_not_by_archiving(archive_path):
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    db = sqlite_utils.Database(archive_path)
    recent = next(db.query("select id, title from documents order by id limit 1"))
    with db.conn:
        db.execute("update documents set published = ? where id = ?", [today.isoformat(), recent["id"]])
        db.execute("update documents set published = ? where id = ?",
                   [(today - dt.timedelta(days=8)).isoformat(), recent["id"] + 1])
    published = get_json(archive_path, "/test/published_this_week.json?_shape=array&source=")
    assert [r["title"] for r in published] == [recent["title"]]
    first_archived = get_json(archive_path, "/test/new_this_week.json?_shape=array&source=")
    assert len(first_archived) == 18  # a first crawl archives the old ones too


def test_times_are_shown_in_beijing_time_unless_configured(archive_path, monkeypatch):
    started = next(sqlite_utils.Database(archive_path).query("select started from runs order by id"))["started"]
    beijing = dt.datetime.fromisoformat(started).astimezone(ZoneInfo("Asia/Shanghai"))
    html = get_text(archive_path, "/test/runs")
    assert f'<time datetime="{started}" title="{started[:19]} UTC">{beijing:%Y-%m-%d %H:%M:%S}</time>' in html
    assert get_json(archive_path, "/test/runs.json?_shape=array&_sort=id")[0]["started"] == started  # JSON keeps UTC
    monkeypatch.setenv("GOVARCHIVE_TIMEZONE", "UTC")
    assert f">{started[:10]} {started[11:19]}</time>" in get_text(archive_path, "/test/runs")


def test_a_document_has_a_page_to_read_with_fields_attachments_and_every_version(served, history):
    ids = history[1]
    html = get(f"{served}/-/document/{ids['edited']}").text
    assert f"<h1>{EDITED_TITLE}</h1>" in html and "2024-03-06" in html and "示范县司法局" in html
    assert NEW_PARAGRAPH in html and "Version 2" in html and "Version 1" in html
    assert re.search(r"<mark[^>]*>和述职评议制度</mark>", html)  # the diff, the change highlighted
    removed = get(f"{served}/-/document/{ids['removed']}").text
    assert "removed" in removed and "HTTP 404" in removed and REMOVED_TITLE in removed
    attached = next(sqlite_utils.Database(history[0]).query(
        "select document_id, text from attachments where sha256 is not null limit 1"))
    page = get(f"{served}/-/document/{attached['document_id']}").text
    assert attached["text"] in page and "archived copy" in page
    with_fields = next(sqlite_utils.Database(history[0]).query(
        "select id from documents where fields like '%文号%' limit 1"))["id"]
    assert '<th scope="row">文号</th>' in get(f"{served}/-/document/{with_fields}").text
    assert httpx.get(f"{served}/-/document/999999", timeout=10).status_code == 404


def test_search_results_show_the_match_in_context_highlighted(served, history):
    found = rows(served, "search", q="述职评议")
    assert [r["title"] for r in found] == [EDITED_TITLE]
    snippet = found[0]["snippet"]
    assert "\x02述职评议\x03" in snippet and "\x02" not in snippet.replace("\x02述职评议\x03", "")
    html = get(f"{served}/search?q=" + urllib.parse.quote("行政复议 2024")).text
    hits = re.findall(r'<mark class="govarchive-hit">([^<]*)</mark>', html)
    assert hits and set(hits) <= {"行政复议", "2024"} and "行政复议" in hits
    assert '<a href="/govarchive/-/document/' in html
    assert rows(served, "search", q="") == []  # an empty search is no error


@pytest.mark.parametrize("title, body, query, expected", [
    ("", "第一段。深化行政复议体制改革，全年共收到申请。", "行政复议", "第一段。深化\x02行政复议\x03体制改革，全年共收到申请。"),
    ("", "Annual REPORT on 法治政府 2024", "report 2024", "Annual \x02REPORT\x03 on 法治政府 \x022024\x03"),
    ("行政复议", "正文里没有。", "行政复议", "正文里没有。"),                     # the title matched: the text starts
    ("", "复议", "复", "\x02复议\x03"),                                          # one character: a prefix
    ("", "全角ＲＥＰＯＲＴ报告", "report", "全角\x02ＲＥＰＯＲＴ\x03报告"),          # full-width kept as written
    ("", "㈠行政复议", "行政复议", "(一)\x02行政复议\x03"),                        # NFKC expanded: normalised
    ("", "reporting on the REPORT", "report", "reporting on the \x02REPORT\x03"),  # whole words only
    ("", "防控COVID-19疫情", "covid-19", "防控\x02COVID-19\x03疫情"),              # words of several runs
    ("", "行政，复议。行政复议", "行政复议 复议", "行政，\x02复议\x03。\x02行政复议\x03"),   # phrases, not pairs
])
def test_search_snippet_marks_the_query_in_the_readable_text(title, body, query, expected):
    from crawler.serve.pages import search_snippet
    from crawler.store import search_query, search_text

    db = sqlite3.connect(":memory:")
    db.execute("create virtual table t using fts5(title, body)")
    db.execute("insert into t values (?, ?)", [search_text(title), search_text(body)])
    assert db.execute("select 1 from t where t match ?", [search_query(query)]).fetchone()  # found
    assert search_snippet(query, body) == expected  # the text as written, not as indexed


def test_the_source_box_of_a_query_offers_the_configured_sources(served):
    html = get(f"{served}/changed_recently").text
    picker = re.search(r"\(function \(sources\).*?\}\)\((\[.*?\])\);", html, re.DOTALL)
    assert picker is not None
    assert [name for name, _ in json.loads(picker.group(1))] == ["demo-tzgg", "demo-xxgk"]


def test_a_bare_datasette_gets_the_start_page_and_document_pages(history):
    """The templates and pages come with the plugin: `datasette archive.db` needs no --template-dir."""
    async def fetch() -> tuple[str, str]:
        ds = Datasette([str(history[0])])
        start, doc = await ds.client.get("/govarchive"), await ds.client.get(
            f"/govarchive/-/document/{history[1]['edited']}")
        assert start.status_code == doc.status_code == 200
        return start.text, doc.text

    start, doc = asyncio.run(fetch())
    assert 'class="govarchive-start"' in start and 'id="source-demo-tzgg"' in start
    assert EDITED_TITLE in doc


def test_archive_metadata_yml_is_the_packaged_metadata():
    """One source of truth: archive/metadata.yml (for `datasette --metadata`) is the package's file."""
    link = METADATA.parents[2] / "archive" / "metadata.yml"
    assert link.resolve() == METADATA.resolve()


def test_an_installed_wheel_carries_its_metadata_and_templates(tmp_path):
    root = METADATA.parents[2]
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path), str(root)], capture_output=True, text=True, timeout=300,
                            check=False, cwd=tmp_path)
    if result.returncode != 0 and "No module named" in result.stderr:
        pytest.skip(f"cannot build a wheel here: {result.stderr[-200:]}")
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("govarchive-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"crawler/serve/metadata.yml", "crawler/serve/templates/database.html",
            "crawler/serve/templates/govarchive_document.html"} <= names
