"""A renamed source keeps its documents: the configured source that watches the same URLs adopts
them; documents of a source that is simply gone are flagged by `status`."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from click.testing import CliRunner, Result

from crawler.cli import cli


def govarchive(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def by_source(db_path: Path) -> dict[str, int]:
    return {r["source"]: r["n"] for r in sqlite_utils.Database(db_path).query(
        "select source, count(*) as n from documents group by source")}


def test_a_renamed_source_adopts_its_documents_by_url(config_path, db_path):
    assert govarchive("crawl", "--config", config_path, "--db", db_path).exit_code == 0
    assert by_source(db_path) == {"demo-tzgg": 12, "demo-xxgk": 6}
    config_path.write_text(config_path.read_text(encoding="utf-8").replace('name = "demo-tzgg"',
                                                                           'name = "demo-notices"'),
                           encoding="utf-8")
    result = govarchive("crawl", "--full", "--config", config_path, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "source 'demo-notices' adopted the 12 documents of 'demo-tzgg'" in result.stderr
    assert result.stdout.startswith("2 sources: 0 new, 0 changed, 18 unchanged")  # revisited, not lost
    assert by_source(db_path) == {"demo-notices": 12, "demo-xxgk": 6}
    db = sqlite_utils.Database(db_path)
    assert db["events"].count_where("event = 'adopted'") == 12
    status = govarchive("status", "--config", config_path, "--db", db_path)
    assert "no longer configured" not in status.output


def test_status_warns_of_documents_no_configured_source_revisits(config_path, db_path):
    assert govarchive("crawl", "--config", config_path, "--db", db_path).exit_code == 0
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(text[:text.index('[[sources]]\nname = "demo-xxgk"')], encoding="utf-8")
    status = govarchive("status", "--config", config_path, "--db", db_path)
    assert "warning: source 'demo-xxgk' is no longer configured: its 6 documents are never revisited" \
        in status.stderr
