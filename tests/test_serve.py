"""Datasette over a crawled archive: metadata, Chinese full-text search, the JSON API."""

from __future__ import annotations

import asyncio
import urllib.parse
from pathlib import Path

import pytest
import sqlite_utils
import yaml
from click.testing import CliRunner
from datasette.app import Datasette

from crawler.cli import cli
from crawler.serve import load_metadata
from crawler.store import TABLES

METADATA = Path(__file__).parents[1] / "archive" / "metadata.yml"


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
