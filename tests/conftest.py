"""Shared fixtures: a copy of the sample site served for real on 127.0.0.1, and a config for it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.demo import SITE, serve_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A private copy of the bundled sample site, so a test may edit its pages."""
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    return root


@pytest.fixture
def base_url(site: Path) -> Iterator[str]:
    """The sample site copy, served over HTTP on 127.0.0.1."""
    with serve_site(site) as base:
        yield base


@pytest.fixture
def config_path(tmp_path: Path, site: Path, base_url: str) -> Path:
    """The demo's sources.toml pointed at the served copy, with no politeness delay."""
    text = (site / "sources.toml").read_text(encoding="utf-8").replace("{base}", base_url)
    path = tmp_path / "sources.toml"
    path.write_text(text.replace("delay = 0.05", "delay = 0.0"), encoding="utf-8")
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "archive" / "test.db"
