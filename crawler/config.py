"""Configuration: ``sources.toml`` → a list of :class:`Source`.

Every setting, its default and its help text is declared once, in :class:`Settings`.
Precedence, lowest first: the defaults here < the file's ``[defaults]`` table <
the source's own section < command-line options.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .cron import cron_problem
from .urls import canonical, has_credentials, origin

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DB_PATH",
    "ConfigError",
    "Settings",
    "Source",
    "describe_settings",
    "load_config",
    "resolve_config_path",
    "resolve_db_path",
]

DEFAULT_CONFIG_PATH = "sources.toml"
DEFAULT_DB_PATH = "archive/govarchive.db"

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _setting(default: Any, help: str, *, low: float | None = None, high: float | None = None,
             above: bool = False) -> Any:
    """A setting: its default, its help, and for numbers its bounds: from ``low`` (or, when
    ``above``, more than ``low``) to ``high``. Checked in one place, :func:`_out_of_bounds`."""
    return field(default=default, metadata={"help": help, "low": low, "high": high, "above": above})


@dataclass(frozen=True)
class Settings:
    """Everything a source may set; ``[defaults]`` in sources.toml may set any of these too."""

    schedule: str = _setting(
        "0 3 * * *", "When `govarchive schedule` crawls the source: a five-field cron expression."
    )
    jitter: int = _setting(
        1800, "Seconds of random delay added to each scheduled start, so sources don't start together.",
        low=0, high=86_400)
    delay: float = _setting(1.0, "Seconds between two requests to the same host.", low=0, high=3600)
    timeout: float = _setting(
        30.0, "Seconds a connection or a read may stall before the request fails; a whole request may "
        "take four times this.", low=0, above=True, high=3600)
    retries: int = _setting(
        3, "Retries of a request that failed quickly and transiently (5xx, 429, a broken connection); a "
        "timeout is not retried at once, nor is anything while other URLs of the host fail: those wait "
        "for the next run.", low=0, high=20)
    backoff: float = _setting(2.0, "Seconds before the first retry; doubles with each further retry.",
                              low=0, high=3600)
    max_retry_after: float = _setting(
        120.0, "Longest Retry-After (seconds) honoured; a longer one fails the request instead.",
        low=0, high=86_400)
    # SQLite stores no value larger than 1,000,000,000 bytes (SQLITE_MAX_LENGTH).
    max_bytes: int = _setting(20_000_000, "Largest response body, in bytes, read before giving up.",
                              low=1, high=1_000_000_000)
    user_agent: str = _setting(
        "govarchive/0.1 (+https://github.com/govarchive/govarchive; archiving public government information)",
        "User-Agent header sent with every request; it names the crawler and where to learn about it.",
    )
    obey_robots: bool = _setting(True, "Fetch and obey each host's robots.txt.")
    browser: str = _setting(
        "auto", "When pages are loaded in a headless browser (Chromium): \"auto\" only for pages that need "
        "one (a JavaScript challenge, a list its scripts build), \"always\", or \"never\".")
    max_pages: int = _setting(20, "List pages followed per column URL (the first page included).",
                              low=1, high=100_000)
    max_documents: int = _setting(
        2000, "Documents fetched per source in one crawl; listed ones past it wait for the next crawl "
        "(`govarchive status` shows how many).", low=0, high=10_000_000)
    run_budget: float = _setting(
        14400.0, "Seconds one crawl of a source may take; documents not reached by then wait for the "
        "next crawl (counted as deferred, not failed).", low=0, above=True, high=7 * 86_400)
    allowed_hosts: tuple[str, ...] = _setting(
        (), "Hosts besides those of `urls` whose documents and redirects the crawler may follow (ports 80 "
        "and 443; `host:port` or a URL for another port)."
    )
    link_pattern: str = _setting(
        "", "Regular expression a document URL must match (searched, not anchored); empty: any."
    )
    exclude_pattern: str = _setting("", "Regular expression of document URLs to skip; empty: none.")
    list_selector: str = _setting(
        "", "CSS selector of the element holding a list page's items; empty: found automatically."
    )
    body_selector: str = _setting(
        "", "CSS selector of the element holding a document's body; empty: found automatically."
    )
    attachments: bool = _setting(
        True, "Download the files documents link to (pdf, doc, xls …), up to `max_bytes` each, and "
        "index their text with the document; a changed file is a change of its document.")
    max_attachment_bytes: int = _setting(
        100_000_000, "Most bytes of attachments downloaded per document; files past it are recorded "
        "as skipped.", low=0, high=100_000_000_000)
    revisit_min_days: float = _setting(
        1.0, "Shortest revisit interval (days): how often a fresh document is fetched again.",
        low=0, high=3650)
    revisit_max_days: float = _setting(
        30.0, "Longest revisit interval (days): however old a document is, it is fetched again within "
        "this many days.", low=0, high=3650)
    notify: tuple[str, ...] = _setting(
        (), "Apprise URLs (mailto://…, json://host/path, dingtalk://…) that get a digest after each run "
        "that found something new, changed, removed or failing; see docs/browsing.md.")


@dataclass(frozen=True)
class Source:
    """One configured column (栏目) or set of pages: a name, its list URLs and its settings."""

    name: str
    urls: tuple[str, ...]
    settings: Settings = field(default_factory=Settings)
    title: str = ""
    #: Document URLs watched directly, besides whatever the column lists.
    pages: tuple[str, ...] = ()

    @property
    def hosts(self) -> frozenset[str]:
        """Hosts the crawler may request for this source."""
        own = {urlsplit(u).hostname or "" for u in self.urls + self.pages}
        return frozenset(own | set(self.settings.allowed_hosts))

    @property
    def origins(self) -> tuple[str, ...]:
        """What the crawler may request for this source, as :class:`crawler.urls.Scope` entries:
        the origins of its URLs, and its ``allowed_hosts``."""
        own = {str(o) for o in map(origin, self.urls + self.pages) if o is not None}
        return tuple(sorted(own | set(self.settings.allowed_hosts)))


class ConfigError(Exception):
    """sources.toml cannot be used; the message names the file, source, key and line where known."""

    def __init__(self, path: str | Path, message: str, *, source: str | None = None,
                 key: str | None = None, line: int | None = None) -> None:
        self.path, self.source, self.key, self.line = str(path), source, key, line
        where = str(path) + (f":{line}" if line else "")
        if source is not None:
            where += f": source {source!r}"
        if key is not None:
            where += f": key {key!r}"
        super().__init__(f"{where}: {message}")


def describe_settings() -> list[tuple[str, str, str]]:
    """Each setting as (name, default in TOML syntax, help), in declaration order."""
    rows = []
    for f in dataclasses.fields(Settings):
        default = f.default
        if isinstance(default, bool):
            text = str(default).lower()
        elif isinstance(default, (str, tuple)):
            text = json.dumps(list(default) if isinstance(default, tuple) else default, ensure_ascii=False)
        else:
            text = str(default)
        rows.append((f.name, text, f.metadata["help"] + _bounds_text(f)))
    return rows


def _bounds_text(spec: dataclasses.Field[Any]) -> str:
    words = _range(spec)
    return f" {words[0].upper()}{words[1:]}." if words else ""


def _range(spec: dataclasses.Field[Any]) -> str | None:
    """A setting's bounds in words ("from 0 to 3600"), or None if it has none."""
    low, high = spec.metadata.get("low"), spec.metadata.get("high")
    if low is None or high is None:
        return None
    low_, high_ = (str(int(x)) if float(x).is_integer() else str(x) for x in (low, high))
    return f"above {low_} and at most {high_}" if spec.metadata.get("above") else f"from {low_} to {high_}"


def resolve_config_path(path: str | Path | None = None) -> Path:
    """The config file: the given path, else $GOVARCHIVE_CONFIG, else ``sources.toml``."""
    return Path(path or os.environ.get("GOVARCHIVE_CONFIG") or DEFAULT_CONFIG_PATH)


def resolve_db_path(path: str | Path | None = None) -> Path:
    """The database file: the given path, else $GOVARCHIVE_DB, else ``archive/govarchive.db``."""
    return Path(path or os.environ.get("GOVARCHIVE_DB") or DEFAULT_DB_PATH)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_SOURCE_KEYS = {"name", "urls", "title", "pages"}


def load_config(path: str | Path) -> list[Source]:
    """Read and validate a sources.toml; raise :class:`ConfigError` on the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(path, f"cannot read the file ({e.strerror or e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = getattr(e, "lineno", None) or _line_of_error(str(e), text)
        raise ConfigError(path, f"not valid TOML: {e}", line=line) from None
    except RecursionError:
        raise ConfigError(path, "not valid TOML: arrays or tables nested too deeply") from None
    whole = _Table(text)
    unknown = set(data) - {"sources", "defaults"}
    if unknown:
        key = min(unknown)
        raise ConfigError(path, "unknown top-level key (expected [defaults] and [[sources]])"
                          + _did_you_mean(key, ["defaults", "sources"]), key=key, line=whole.line(key))
    defaults_table, tables = _tables(text)
    defaults = _settings(path, defaults_table, data.get("defaults", {}), Settings(), source=None)
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ConfigError(path, "no [[sources]] configured", key="sources")
    if len(tables) != len(raw_sources):  # written some other way (an inline array): search the file
        tables = [whole] * len(raw_sources)
    sources: list[Source] = []
    seen: set[str] = set()
    for raw, table in zip(raw_sources, tables, strict=True):
        source = _source(path, table, raw, defaults, len(sources))
        if source.name in seen:
            raise ConfigError(path, "duplicate source name", source=source.name, key="name",
                              line=table.value_line("name", source.name))
        seen.add(source.name)
        sources.append(source)
    return sources


def _source(path: Path, table: _Table, raw: Any, defaults: Settings, index: int) -> Source:
    if not isinstance(raw, dict):
        raise ConfigError(path, "each [[sources]] entry must be a table", source=f"#{index + 1}")
    name = raw.get("name")
    label = name if isinstance(name, str) and name else f"#{index + 1}"
    if not isinstance(name, str) or not name:
        raise ConfigError(path, "missing `name` (a unique slug such as \"hunchun-tzgg\")",
                          source=label, key="name")
    if not _NAME.match(name):
        raise ConfigError(path, "`name` must be a slug of lowercase letters, digits, - and _",
                          source=label, key="name", line=table.value_line("name", name))
    if "urls" not in raw:
        raise ConfigError(path, "missing `urls` (one or more column list page URLs)",
                          source=name, key="urls")
    urls = _urls(path, table, raw, "urls", name)
    pages = _urls(path, table, raw, "pages", name)
    title = raw.get("title", "")
    if not isinstance(title, str):
        raise ConfigError(path, "`title` must be a string", source=name, key="title")
    options = {k: v for k, v in raw.items() if k not in _SOURCE_KEYS}
    settings = _settings(path, table, options, defaults, source=name)
    return Source(name=name, urls=urls, settings=settings, title=title, pages=pages)


def _urls(path: Path, table: _Table, raw: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
    urls = raw.get(key, [])
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or (key == "urls" and not urls):
        raise ConfigError(path, "must be a list of one or more URLs", source=name, key=key)
    for url in urls:
        if not isinstance(url, str) or not _is_http_url(url):
            raise ConfigError(path, f"not an http(s) URL: {url!r}", source=name, key=key,
                              line=table.value_line(key, str(url)))
        if has_credentials(url):
            # Refused, not stripped: they would be sent as an Authorization header, and stored
            # and published with every URL of the source.
            raise ConfigError(path, f"URL with credentials (user:password@) is not allowed: "
                              f"{canonical(url)!r} without them", source=name, key=key,
                              line=table.value_line(key, url))
    return tuple(canonical(url) for url in urls)


def _settings(path: Path, table: _Table, raw: Any, base: Settings, *, source: str | None) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(path, "[defaults] must be a table", source=source, key="defaults")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = _FIELDS.get(key)
        if spec is None:
            known = sorted(_FIELDS) + ([] if source is None else sorted(_SOURCE_KEYS))
            raise ConfigError(path, "unknown key" + _did_you_mean(key, known), source=source, key=key,
                              line=table.line(key))
        values[key] = _coerce(path, table, key, value, spec.default, source)
    settings = dataclasses.replace(base, **values)
    _check(path, table, settings, source, set(values))
    return settings


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"; did you mean {close[0]}?" if close else f" (known keys: {', '.join(known)})"


def _coerce(path: Path, table: _Table, key: str, value: Any, default: Any, source: str | None) -> Any:
    expected = type(default)
    if expected is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(path, "must be a list of strings", source=source, key=key,
                              line=table.line(key))
        return tuple(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        raise ConfigError(path, f"must be {expected.__name__}, not {type(value).__name__}",
                          source=source, key=key, line=table.line(key))
    return value


def _check(path: Path, table: _Table, s: Settings, source: str | None, given: set[str]) -> None:
    def fail(key: str, message: str) -> None:
        raise ConfigError(path, message, source=source, key=key, line=table.line(key))

    _check_numbers(s, fail)
    if s.browser not in ("auto", "always", "never"):
        fail("browser", f"must be \"auto\", \"always\" or \"never\", not {s.browser!r}")
    if s.revisit_max_days < s.revisit_min_days:
        fail("revisit_max_days", "must not be less than revisit_min_days")
    for key in ("link_pattern", "exclude_pattern"):
        try:
            re.compile(getattr(s, key))
        except re.error as e:
            fail(key, f"not a valid regular expression: {e}")
    for key in ("list_selector", "body_selector"):
        if key in given and getattr(s, key) and not _valid_selector(getattr(s, key)):
            fail(key, "not a valid CSS selector")
    if "schedule" in given or source is None:
        problem = cron_problem(s.schedule)
        if problem:
            fail("schedule", problem)


def _check_numbers(s: Settings, fail: Callable[[str, str], None]) -> None:
    """Every setting within its bounds (declared with :func:`_setting`)."""
    for spec in dataclasses.fields(s):
        problem = _out_of_bounds(spec, getattr(s, spec.name))
        if problem:
            fail(spec.name, problem)


def _out_of_bounds(spec: dataclasses.Field[Any], value: Any) -> str | None:
    """Why a number is outside its setting's bounds (see :func:`_setting`), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    words, low, high = _range(spec), spec.metadata.get("low"), spec.metadata.get("high")
    if words is None or low is None or high is None:
        return None
    if (value <= low if spec.metadata.get("above") else value < low) or value > high:
        return f"must be {'a whole number' if isinstance(spec.default, int) else 'a number'} {words}"
    return None


def _valid_selector(selector: str) -> bool:
    from selectolax.lexbor import LexborHTMLParser, SelectolaxError

    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError:
        return False
    return True


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True)
class _Table:
    """One table of sources.toml (``[defaults]``, one ``[[sources]]`` entry, or the whole file), as
    the span of text where its keys are looked up, so an error is reported at its own line."""

    text: str
    start: int = 0
    end: int = -1

    def line(self, key: str) -> int | None:
        """The line of ``key = …`` within the table."""
        return self._line(re.compile(rf"^\s*{re.escape(key)}\s*=", re.MULTILINE))

    def value_line(self, key: str, value: str) -> int | None:
        """The line where the string ``value`` is written within the table, else that of ``key``."""
        return self._line(re.compile(f"[\"']{re.escape(value)}[\"']")) or self.line(key)

    def _line(self, pattern: re.Pattern[str]) -> int | None:
        end = len(self.text) if self.end < 0 else self.end
        m = pattern.search(self.text, self.start, end)
        return self.text.count("\n", 0, m.start()) + 1 if m else None


_HEADER = re.compile(r"^[ \t]*(\[\[?)[ \t]*([\w.\"' -]+?)[ \t]*\]", re.MULTILINE)


def _tables(text: str) -> tuple[_Table, list[_Table]]:
    """The ``[defaults]`` table (the whole file if there is none) and each ``[[sources]]`` table."""
    headers = list(_HEADER.finditer(text))
    ends = [h.start() for h in headers[1:]] + [len(text)]
    defaults, sources = _Table(text), []
    for header, end in zip(headers, ends, strict=True):
        if header.group(2) == "sources" and header.group(1) == "[[":
            sources.append(_Table(text, header.start(), end))
        elif header.group(2) == "defaults" and header.group(1) == "[":
            defaults = _Table(text, header.start(), end)
    return defaults, sources


def _line_of_error(message: str, text: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    if m:
        return int(m.group(1))
    return text.rstrip("\n").count("\n") + 1 if "end of document" in message else None
