"""A researcher's path through the archive, in a real browser: Debian's Chromium driven by Playwright,
against a real `govarchive serve` on 127.0.0.1.

Skipped only when /usr/bin/chromium is missing and GOVARCHIVE_REQUIRE_BROWSER is not set (CI sets
it, and installs Chromium: there a missing browser fails the test).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from test_serve import EDITED_TITLE, NEW_PARAGRAPH, build_history_archive, govarchive_serve

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage"]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("GOVARCHIVE_REQUIRE_BROWSER"):
        pytest.fail(f"{CHROMIUM} is missing and GOVARCHIVE_REQUIRE_BROWSER is set: apt-get install chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); set GOVARCHIVE_REQUIRE_BROWSER=1 "
                "to make this a failure")


@contextlib.contextmanager
def chromium_page(tmp_path: Path) -> Iterator[Any]:
    """A page of Debian's Chromium in a fresh profile, 1280×900, zh-CN, closed on leaving."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900}, locale="zh-CN")
        try:
            page = browser.new_page()
            page.set_default_timeout(10_000)
            yield page
        finally:
            browser.close()


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert len(data) > 20_000, f"{path} is only {len(data)} bytes: a blank page?"


@pytest.mark.browser
def test_search_in_chinese_then_read_what_changed(tmp_path):
    require_chromium()
    from playwright.sync_api import expect

    db, ids = build_history_archive(tmp_path)
    expected = sorted(r["title"] for r in sqlite_utils.Database(db).query(
        "select title from documents where title like '%行政复议%' or body like '%行政复议%'"))
    assert len(expected) >= 2
    with govarchive_serve(db) as base, chromium_page(tmp_path) as page:

        # The documents table: type the words in the search box, submit.
        page.goto(f"{base}/govarchive/documents")
        expect(page.locator("h1")).to_contain_text("Documents")
        page.fill("input[name=_search]", "行政复议")
        page.press("input[name=_search]", "Enter")
        page.wait_for_url("**/documents?_search=*")
        titles = page.locator("table.rows-and-columns td.col-title")
        expect(titles).to_have_count(len(expected))
        assert sorted(titles.all_inner_texts()) == expected
        page.screenshot(path=tmp_path / "search.png", full_page=True)

        # From the edited document's row, its versions, and the difference between them.
        page.goto(f"{base}/govarchive/documents?_search=" + "述职评议")
        row = page.locator("table.rows-and-columns tr", has_text=EDITED_TITLE)
        row.get_by_role("link", name="2 versions").click()
        page.wait_for_url(f"**/document_versions?document={ids['edited']}")
        expect(page.locator("h1")).to_contain_text("Versions of one document")
        diff = page.locator("pre.govarchive-diff").first
        expect(diff).to_be_visible()
        expect(diff).to_contain_text("+ 坚持以习近平新时代中国特色社会主义思想为指导，" + NEW_PARAGRAPH)
        expect(diff.locator("mark").filter(has_text="和述职评议制度")).to_be_visible()
        page.screenshot(path=tmp_path / "versions.png", full_page=True)
    assert_png(tmp_path / "search.png")
    assert_png(tmp_path / "versions.png")


def artifacts_dir(tmp_path: Path) -> Path:
    """Where screenshots go: $GOVARCHIVE_ARTIFACTS if set (to keep them), else the test's tmp/artifacts."""
    folder = Path(os.environ.get("GOVARCHIVE_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.browser
def test_the_morning_view_start_page_document_search_and_diff(tmp_path):
    require_chromium()
    from playwright.sync_api import expect

    db, ids = build_history_archive(tmp_path)
    shots = artifacts_dir(tmp_path)
    with govarchive_serve(db) as base, chromium_page(tmp_path) as page:

        # The start page: each source with its figures and its last run.
        page.goto(f"{base}/govarchive")
        row = page.locator("tr#source-demo-tzgg")
        expect(row).to_be_visible()
        expect(row.locator("td.flag")).to_have_text("ok")
        expect(row.get_by_title("changed, last 30 days")).to_have_text("1")
        expect(row.get_by_title("documents")).to_have_text("13")
        expect(page.locator("th", has_text="last run (Asia/Shanghai)")).to_be_visible()
        page.screenshot(path=shots / "start.png", full_page=True)

        # A number opens the list behind it; the source box there offers the sources.
        row.get_by_title("changed, last 30 days").click()
        page.wait_for_url("**/changed_recently?source=demo-tzgg")
        expect(page.locator("select[name=source]")).to_have_value("demo-tzgg")
        assert "demo-xxgk" in page.locator("select[name=source] option").all_inner_texts()[2]
        page.get_by_role("link", name=EDITED_TITLE).click()

        # The document's own page: its text, and its versions with the change highlighted.
        page.wait_for_url(f"**/govarchive/-/document/{ids['edited']}")
        expect(page.locator("h1")).to_have_text(EDITED_TITLE)
        expect(page.locator(".meta").first).to_contain_text("2024-03-06")
        expect(page.locator(".body")).to_contain_text(NEW_PARAGRAPH)
        page.screenshot(path=shots / "document.png", full_page=True)
        version = page.locator("#version-2")
        expect(version).to_contain_text("changed: body (+1 −1 paragraphs)")
        expect(version.locator("mark").filter(has_text="和述职评议制度")).to_be_visible()
        version.screenshot(path=shots / "diff.png")

        # Search from the start page: the matches in context, highlighted.
        page.goto(f"{base}/govarchive")
        page.fill("input[name=q]", "行政复议")
        page.press("input[name=q]", "Enter")
        page.wait_for_url("**/search?q=*")
        hits = page.locator("td.col-snippet mark.govarchive-hit")
        expect(hits.first).to_be_visible()
        assert set(hits.all_inner_texts()) == {"行政复议"}
        expect(page.locator("td.col-title a").first).to_be_visible()
        page.screenshot(path=shots / "search.png", full_page=True)
    for name in ("start", "document", "diff", "search"):
        assert_png(shots / f"{name}.png")
