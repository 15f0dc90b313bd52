"""`govarchive reextract` never deletes a version: a bad selector merges versions, and the right
one splits them again; --dry-run writes nothing; merging many at once needs --yes."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils
from click.testing import CliRunner, Result

from crawler.cli import cli

EDITED = ["zwgk/tzgg/202401/t20240110_451592.html", "zwgk/tzgg/202401/t20240115_451629.html",
          "zwgk/tzgg/202402/t20240208_451703.html"]


def govarchive(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def versions(db_path: Path) -> list[dict]:
    return list(sqlite_utils.Database(db_path).query(
        "select id, document_id, version, body, merged_into from versions order by id"))


def test_a_bad_selector_merges_versions_recoverably_and_the_right_one_splits_them(config_path, db_path, site):
    assert govarchive("crawl", "--config", config_path, "--db", db_path).exit_code == 0
    for path in EDITED:
        page = site / path
        page.write_text(page.read_text(encoding="utf-8").replace(
            '<div class="TRS_Editor">', '<div class="TRS_Editor"><p>补充说明：本文内容已更新。</p>'), encoding="utf-8")
    assert govarchive("crawl", "--full", "--config", config_path, "--db", db_path).exit_code == 0
    good = versions(db_path)
    assert len(good) == 21

    # A body_selector that picks the page footer: every version of a document reads the same.
    text = config_path.read_text(encoding="utf-8")
    bad = config_path.parent / "bad.toml"
    bad.write_text(text.replace('[[sources]]\nname = "demo-tzgg"',
                                '[[sources]]\nname = "demo-tzgg"\nbody_selector = "div.footer"'), encoding="utf-8")
    assert 'body_selector = "div.footer"' in bad.read_text(encoding="utf-8")

    dry = govarchive("reextract", "--dry-run", "--config", bad, "--db", db_path)
    assert dry.exit_code == 0 and dry.stdout.startswith("dry run, nothing written:"), dry.output
    assert "(3 merged, 0 split again; all 21 kept)" in dry.stdout
    assert versions(db_path) == good

    refused = govarchive("reextract", "--config", bad, "--db", db_path)
    assert refused.exit_code == 1 and "would merge 3 of 21 versions" in refused.output
    assert "--yes" in refused.output
    assert versions(db_path) == good

    merged = govarchive("reextract", "--yes", "--config", bad, "--db", db_path)
    assert merged.exit_code == 0 and "all 21 kept" in merged.stdout, merged.output
    after = versions(db_path)
    assert len(after) == 21  # not one version row deleted
    assert sum(v["merged_into"] is not None for v in after) == 3
    db = sqlite_utils.Database(db_path)
    assert sorted(r["versions"] for r in db["documents"].rows).count(1) == 18

    # The right selector (none) again: the merged versions come back with their own text.
    fixed = govarchive("reextract", "--config", config_path, "--db", db_path)
    assert fixed.exit_code == 0 and "(0 merged, 3 split again; all 21 kept)" in fixed.stdout, fixed.output
    assert versions(db_path) == good
    assert sorted(r["versions"] for r in db["documents"].rows).count(2) == 3
