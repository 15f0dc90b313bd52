"""Configuration: ``sources.toml`` → a list of :class:`Source`.

Every setting, its default and its help text is declared once, in :class:`Settings`.
Precedence, lowest first: the defaults here < the file's ``[defaults]`` table <
the source's own section < command-line options.
"""

from __future__ import annotations

import dataclasses
import json
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


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Everything a source may set; ``[defaults]`` in sources.toml may set any of these too."""

    schedule: str = _setting(
        "0 3 * * *", "When `govarchive schedule` crawls the source: a five-field cron expression."
    )
    jitter: int = _setting(
        1800, "Seconds of random delay added to each scheduled start, so sources don't start together."
    )
    delay: float = _setting(1.0, "Seconds between two requests to the same host.")
    timeout: float = _setting(
        30.0, "Seconds a connection or a read may stall before the request fails; a whole request may "
        "take four times this.")
    retries: int = _setting(
        3, "Retries of a request that failed quickly and transiently (5xx, 429, a broken connection); a "
        "timeout is not retried at once, nor is anything while other URLs of the host fail: those wait "
        "for the next run.")
    backoff: float = _setting(2.0, "Seconds before the first retry; doubles with each further retry.")
    max_retry_after: float = _setting(
        120.0, "Longest Retry-After (seconds) honoured; a longer one fails the request instead."
    )
    max_bytes: int = _setting(20_000_000, "Largest response body, in bytes, read before giving up.")
    user_agent: str = _setting(
        "govarchive/0.1 (+https://github.com/govarchive/govarchive; archiving public government information)",
        "User-Agent header sent with every request; it names the crawler and where to learn about it.",
    )
    obey_robots: bool = _setting(True, "Fetch and obey each host's robots.txt.")
    browser: str = _setting(
        "auto", "When pages are loaded in a headless browser (Chromium): \"auto\" only for pages that need "
        "one (a JavaScript challenge, a list its scripts build), \"always\", or \"never\".")
    max_pages: int = _setting(20, "List pages followed per column URL (the first page included).")
    max_documents: int = _setting(
        2000, "Documents fetched per source in one crawl; listed ones past it wait for the next crawl "
        "(`govarchive status` shows how many).")
    run_budget: float = _setting(
        14400.0, "Seconds one crawl of a source may take; documents not reached by then wait for the "
        "next crawl (counted as deferred, not failed).")
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
        "as skipped.")
    revisit_min_days: float = _setting(
        1.0, "Shortest revisit interval (days): how often a fresh document is fetched again."
    )
    revisit_max_days: float = _setting(
        30.0, "Longest revisit interval (days): however old a document is, it is fetched again within "
        "this many days."
    )
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
        rows.append((f.name, text, f.metadata["help"]))
    return rows


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
    unknown = set(data) - {"sources", "defaults"}
    if unknown:
        key = min(unknown)
        raise ConfigError(path, "unknown top-level key (expected [defaults] and [[sources]])",
                          key=key, line=_line_of_key(text, key))
    defaults = _settings(path, text, data.get("defaults", {}), Settings(), source=None)
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise ConfigError(path, "no [[sources]] configured", key="sources")
    sources: list[Source] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_sources):
        source = _source(path, text, raw, defaults, i)
        if source.name in seen:
            raise ConfigError(path, "duplicate source name", source=source.name, key="name",
                              line=_line_of_value(text, "name", source.name, nth=2))
        seen.add(source.name)
        sources.append(source)
    return sources


def _source(path: Path, text: str, raw: Any, defaults: Settings, index: int) -> Source:
    if not isinstance(raw, dict):
        raise ConfigError(path, "each [[sources]] entry must be a table", source=f"#{index + 1}")
    name = raw.get("name")
    label = name if isinstance(name, str) and name else f"#{index + 1}"
    if not isinstance(name, str) or not name:
        raise ConfigError(path, "missing `name` (a unique slug such as \"hunchun-tzgg\")",
                          source=label, key="name")
    if not _NAME.match(name):
        raise ConfigError(path, "`name` must be a slug of lowercase letters, digits, - and _",
                          source=label, key="name", line=_line_of_value(text, "name", name))
    if "urls" not in raw:
        raise ConfigError(path, "missing `urls` (one or more column list page URLs)",
                          source=name, key="urls")
    urls = _urls(path, text, raw, "urls", name)
    pages = _urls(path, text, raw, "pages", name)
    title = raw.get("title", "")
    if not isinstance(title, str):
        raise ConfigError(path, "`title` must be a string", source=name, key="title")
    options = {k: v for k, v in raw.items() if k not in _SOURCE_KEYS}
    settings = _settings(path, text, options, defaults, source=name)
    return Source(name=name, urls=urls, settings=settings, title=title, pages=pages)


def _urls(path: Path, text: str, raw: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
    urls = raw.get(key, [])
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or (key == "urls" and not urls):
        raise ConfigError(path, "must be a list of one or more URLs", source=name, key=key)
    for url in urls:
        if not isinstance(url, str) or not _is_http_url(url):
            raise ConfigError(path, f"not an http(s) URL: {url!r}", source=name, key=key,
                              line=_line_of_value(text, key, str(url)))
        if has_credentials(url):
            # Refused, not stripped: they would be sent as an Authorization header, and stored
            # and published with every URL of the source.
            raise ConfigError(path, f"URL with credentials (user:password@) is not allowed: "
                              f"{canonical(url)!r} without them", source=name, key=key,
                              line=_line_of_value(text, key, url))
    return tuple(canonical(url) for url in urls)


def _settings(path: Path, text: str, raw: Any, base: Settings, *, source: str | None) -> Settings:
    if not isinstance(raw, dict):
        raise ConfigError(path, "[defaults] must be a table", source=source, key="defaults")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        spec = _FIELDS.get(key)
        if spec is None:
            known = ", ".join(sorted(_FIELDS) + ([] if source is None else sorted(_SOURCE_KEYS)))
            raise ConfigError(path, f"unknown key (known keys: {known})", source=source, key=key,
                              line=_line_of_key(text, key))
        values[key] = _coerce(path, text, key, value, spec.default, source)
    settings = dataclasses.replace(base, **values)
    _check(path, text, settings, source, set(values))
    return settings


def _coerce(path: Path, text: str, key: str, value: Any, default: Any, source: str | None) -> Any:
    expected = type(default)
    if expected is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(path, "must be a list of strings", source=source, key=key,
                              line=_line_of_key(text, key))
        return tuple(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        raise ConfigError(path, f"must be {expected.__name__}, not {type(value).__name__}",
                          source=source, key=key, line=_line_of_key(text, key))
    return value


def _check(path: Path, text: str, s: Settings, source: str | None, given: set[str]) -> None:
    def fail(key: str, message: str) -> None:
        raise ConfigError(path, message, source=source, key=key, line=_line_of_key(text, key))

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
    for key in ("delay", "timeout", "backoff", "max_retry_after", "revisit_min_days", "run_budget"):
        if getattr(s, key) < 0 or (key in ("timeout", "run_budget") and getattr(s, key) == 0):
            fail(key, "must be positive")
    for key in ("retries", "jitter", "max_bytes", "max_pages", "max_documents", "max_attachment_bytes"):
        if getattr(s, key) < 0 or (key in ("max_pages", "max_bytes") and getattr(s, key) == 0):
            fail(key, "must be a positive whole number")


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


def _line_of_key(text: str, key: str) -> int | None:
    m = re.search(rf"^\s*{re.escape(key)}\s*=", text, re.MULTILINE)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _line_of_value(text: str, key: str, value: str, nth: int = 1) -> int | None:
    hits = list(re.finditer(f"[\"']{re.escape(value)}[\"']", text))
    if len(hits) < nth:
        return _line_of_key(text, key)
    return text.count("\n", 0, hits[nth - 1].start()) + 1


def _line_of_error(message: str, text: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    if m:
        return int(m.group(1))
    return text.rstrip("\n").count("\n") + 1 if "end of document" in message else None
