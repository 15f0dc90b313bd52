"""The ``govarchive`` command. Each command calls one public function and translates its errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from . import config as config_mod
from .config import ConfigError, Source
from .crawl import RunReport, crawl, reread_files
from .extract import Document, extract
from .store import Archive, ArchiveError, Failure, RunCounts, RunRow, archive_error
from .workers import WorkerPool

T = TypeVar("T")

CONFIG_HELP = "sources.toml to read (default: $GOVARCHIVE_CONFIG, else sources.toml)."
DB_HELP = "Archive database (default: $GOVARCHIVE_DB, else archive/govarchive.db)."


def config_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--config", "config_path", type=click.Path(dir_okay=False), help=CONFIG_HELP)(f)


def db_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--db", "db_path", type=click.Path(dir_okay=False), help=DB_HELP)(f)


def archive_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Errors of the archive file (missing, read-only, full, damaged, not ours) as one line, exit 1."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except (ArchiveError, sqlite3.DatabaseError) as e:
            error = archive_error(config_mod.resolve_db_path(kwargs.get("db_path")), e)
            if error is None:
                raise
            raise click.ClickException(str(error)) from None

    return wrapper


def logging_options(f: Callable[..., Any]) -> Callable[..., Any]:
    @click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
                  help="One line per event: readable text, or JSON for log collectors.")
    @click.option("-v", "--verbose", is_flag=True, help="Log every request, not just each run.")
    @functools.wraps(f)
    def wrapper(*args: Any, log_format: str, verbose: bool, **kwargs: Any) -> Any:
        setup_logging(log_format, logging.DEBUG if verbose else logging.INFO)
        return f(*args, **kwargs)

    return wrapper


@click.group()
@click.version_option(package_name="govarchive")
def cli() -> None:
    """Crawl Chinese government information-disclosure pages into a versioned archive.

    \b
    Quick start:
        govarchive demo                # a sample site, crawled and browsable, offline
        govarchive crawl               # crawl the sources in sources.toml
        govarchive serve               # browse the archive in Datasette
    """


@cli.command(name="crawl")
@config_option
@db_option
@click.option("--source", "names", multiple=True, metavar="NAME",
              help="Crawl only this source (repeatable).")
@click.option("--full", is_flag=True, help="Revisit every known document now, whatever its schedule.")
@logging_options
@archive_errors
def crawl_command(config_path: str | None, db_path: str | None, names: tuple[str, ...], full: bool) -> None:
    """One pass over the configured sources.

    Exits 0 when the pass ran, even if some fetches failed (they are recorded in the fetches
    table); exits 2 on a bad configuration, 1 when the archive cannot be written. SIGTERM, SIGHUP
    or Ctrl-C stop it: each run is recorded as interrupted, with the requests in flight.

    \b
    Example:
        govarchive crawl --source hunchun-tzgg --db archive/govarchive.db
    """
    sources = load_sources(config_path, names)
    configured = load_sources(config_path, ()) if names else sources
    with open_archive(db_path) as archive:
        for adopted in archive.sync_sources(configured):
            click.echo(f"source {adopted.new!r} adopted the {adopted.documents} documents of "
                       f"{adopted.old!r}, which is no longer configured and watched the same URLs", err=True)
        started = time.monotonic()
        progress = _Progress() if sys.stderr.isatty() else None
        try:
            reports = run_stoppable(crawl(sources, archive, full=full, progress=progress))
        finally:
            if progress:
                progress.clear()
        click.echo(summary(reports, time.monotonic() - started, archive))
        notify_runs(archive, sources, reports)


@cli.command()
@config_option
@db_option
@logging_options
@archive_errors
def schedule(config_path: str | None, db_path: str | None) -> None:
    """Run unattended: each source on its own schedule, until SIGTERM or Ctrl-C.

    \b
    Example:
        govarchive schedule --config sources.toml --db /data/govarchive.db
    """
    from .schedule import run_scheduler

    sources = load_sources(config_path, ())
    try:
        timezone = local_timezone()
    except ValueError as e:
        raise BadConfig(str(e)) from None
    run_scheduler(sources, config_mod.resolve_db_path(db_path), timezone=timezone)


@cli.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("-p", "--port", default=8001, show_default=True, type=int, help="Port to listen on.")
@archive_errors
def serve(db_path: str | None, host: str, port: int) -> None:
    """Browse the archive in Datasette, with its metadata, search and canned queries.

    \b
    Example:
        govarchive serve --db archive/govarchive.db --port 8001
    """
    path = config_mod.resolve_db_path(db_path)
    with open_archive(str(path), create=False):
        pass  # migrates it, so Datasette opens a complete archive
    run_datasette(path, host, port)


@cli.command()
@click.option("-p", "--port", default=8001, show_default=True, type=int, help="Datasette's port.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address Datasette listens on (0.0.0.0 in a container).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False),
              help="Where the demo archive goes (default: demo.db beside the archive of --db's default, "
                   "else in the temporary folder when that is not writable).")
@click.option("--no-serve", is_flag=True, help="Crawl the sample site, print the summary, and exit.")
@archive_errors
def demo(port: int, host: str, db_path: str | None, no_serve: bool) -> None:
    """Crawl the bundled sample site into a demo archive and browse it; no internet needed.

    The sample site is crawled, then one page is edited and another removed, and it is crawled
    again, so the archive has changes, removals and diffs to show. Running it again rebuilds the
    same demo archive.

    \b
    Example:
        govarchive demo --port 8001
    """
    from .demo import NotADemo, demo_db_path, run_demo
    from .serve import port_in_use

    if not no_serve and port_in_use(host, port):
        raise click.ClickException(f"port {port} is in use; try --port")
    setup_logging("text", logging.WARNING)
    path = Path(db_path) if db_path else demo_db_path(config_mod.resolve_db_path(None))
    try:
        runs = run_demo(path)
    except NotADemo as e:
        raise click.ClickException(str(e)) from None
    with open_archive(str(path)) as archive:
        for run in runs:
            click.echo(f"{run.label}: " + summary(run.reports, run.seconds, archive))
    click.echo(f"The demo archive is {path}")
    if not no_serve:
        click.echo(f"Browse it at http://{host}:{port}/{path.stem}  (Ctrl-C to stop)")
        run_datasette(path, host, port)


@cli.command(name="notify")
@config_option
@click.option("--source", "names", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--test", is_flag=True, required=True, help="Send a test message to each configured service.")
def notify_command(config_path: str | None, names: tuple[str, ...], test: bool) -> None:
    """Send a test notification to the services in each source's `notify` list.

    Exits 1 if a service could not be reached. The services' URLs are never printed (they hold
    credentials): each is named by its position in the list and its scheme.

    \b
    Example:
        govarchive notify --test --source hunchun-tzgg
    """
    from .notify import send_test

    sources = [s for s in load_sources(config_path, names) if s.settings.notify]
    if not sources:
        raise click.ClickException("no source has a `notify` setting: add notify = [\"<apprise url>\"] "
                                   "to a source or to [defaults]")
    failed = 0
    for source in sources:
        for service, error in send_test(source):
            click.echo(f"{source.name}: {service}: {error or 'sent'}")
            failed += bool(error)
    if failed:
        sys.exit(1)


@cli.command()
@config_option
@db_option
@click.option("--source", "names", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--dry-run", is_flag=True, help="Only say what would change; write nothing.")
@click.option("--yes", is_flag=True, help="Go ahead even if more than 10% of the versions would merge.")
@archive_errors
def reextract(config_path: str | None, db_path: str | None, names: tuple[str, ...], dry_run: bool,
              yes: bool) -> None:
    """Re-run the current extractor over the archived raw captures and files, without fetching.

    The text of every stored attachment file is read again first (in worker processes). Each
    version is re-read from its own capture; versions that now read the same are marked
    merged (never deleted: a later reextract with a better selector splits them again), so a
    better extractor never shows up as a wave of changes. Sources missing from the config are
    re-read with the default settings.

    \b
    Example:
        govarchive reextract --db archive/govarchive.db
    """
    selectors = {s.name: s.settings.body_selector for s in load_sources(config_path, ())}

    def again(raw: bytes, url: str, charset: str | None, source: str) -> Document:
        return extract(raw, url, body_selector=selectors.get(source, ""), encoding=charset)

    async def reread(archive: Archive) -> int:
        async with WorkerPool() as pool:
            return await reread_files(archive, pool, names)

    with open_archive(db_path, create=False) as archive:
        files = 0 if dry_run else asyncio.run(reread(archive))
        done = archive.reextract(again, sources=names, dry_run=dry_run, yes=yes)
    click.echo(("dry run, nothing written: " if dry_run else "")
               + f"{done.documents} documents re-extracted: {done.updated} read differently now; "
               f"{done.versions_before} versions became {done.versions_after} ({done.merged} merged, "
               f"{done.unmerged} split again; all {done.versions} kept); {files} attachment files read again")


@cli.command()
@db_option
@click.option("--stale-days", default=3.0, show_default=True, type=float,
              help="Flag sources without a successful run in this many days.")
@config_option
@archive_errors
def status(db_path: str | None, stale_days: float, config_path: str | None) -> None:
    """The crawler's health: each source's last run, its failures, and stale sources.

    Exits 1 when a source has not succeeded within --stale-days, so monitoring can alert, and
    when the archive does not exist. With a readable sources.toml, it also warns of sources no
    longer configured whose documents are therefore never revisited.

    \b
    Example:
        govarchive status --stale-days 2
    """
    with open_archive(db_path, create=False) as archive:
        rows = archive.status()
        orphans = archive.orphans(s.name for s in configured_sources(config_path))
    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=stale_days)).isoformat(timespec="seconds")
    click.echo(f"{'source':28} {'last run (UTC)':20} {'new':>5} {'chg':>4} {'same':>5} {'gone':>4} "
               f"{'fail':>4} {'docs':>6}  state")
    stale = []
    for r in rows:
        if not r.last_success or r.last_success < cutoff:
            stale.append(r.source)
        run = r.last_run
        counts = " ".join(f"{getattr(run, k) if run else 0:>{w}}" for k, w in
                          (("new", 5), ("changed", 4), ("unchanged", 5), ("removed", 4), ("failed", 4)))
        state = _state(run)
        if r.backlog:  # listed documents not yet archived: past max_documents or the time budget
            state += f", {r.backlog} listed documents waiting"
        click.echo(f"{r.source:28} {(run.started if run else '-')[:19].replace('T', ' '):20} {counts}"
                   f" {r.documents:>6}  {state}")
    for name, documents in orphans.items():
        click.echo(f"warning: source {name!r} is no longer configured: its {documents} documents are never "
                   "revisited (put its URLs in a configured source to adopt them)", err=True)
    if stale:
        click.echo(f"{len(stale)} source{'s' if len(stale) != 1 else ''} without a successful run in "
                   f"{stale_days:g} days: {', '.join(stale)}")
        sys.exit(1)


@cli.command()
def settings() -> None:
    """List every sources.toml setting with its default and meaning.

    \b
    Example:
        govarchive settings
    """
    for name, default, help_text in config_mod.describe_settings():
        click.echo(f"{name} = {default}\n    {help_text}")


@cli.command(name="export")
@db_option
@click.option("--format", type=click.Choice(["warc", "wacz"]), required=True,
              help="warc: one gzipped WARC 1.1 file; wacz: a WACZ package (WARC, index, page list).")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only this source (repeatable).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="DATE",
              help="Only what was fetched on or after this day (UTC), as YYYY-MM-DD.")
@click.argument("output", type=click.Path(dir_okay=False))
@archive_errors
def export_command(db_path: str | None, format: str, sources: tuple[str, ...], since: dt.datetime | None,
                   output: str) -> None:
    """Export the captures as WARC 1.1 or WACZ, for web archives, pywb and ReplayWeb.page.

    One response record per capture and per attachment file, a revisit record per 304 answer.
    See docs/export.md.

    \b
    Example:
        govarchive export --format wacz --source hunchun-tzgg hunchun.wacz
    """
    from .export import export_archive

    with existing_archive(db_path) as archive:
        known = {s.source for s in archive.status()}
        unknown = [n for n in sources if n not in known]
        if unknown:
            raise click.ClickException(f"source {unknown[0]!r} is not in {archive.path} "
                                       f"(it has: {', '.join(sorted(known)) or 'none'})")
        started = time.monotonic()
        progress = _Counting("export", "captures") if sys.stderr.isatty() else None
        report = export_archive(archive, output, format="wacz" if format == "wacz" else "warc",
                                sources=sources, since=since.date().isoformat() if since else None,
                                progress=progress)
        if progress:
            progress.clear()
    pages = f", {report.pages} pages" if format == "wacz" else ""
    click.echo(f"{report.path}: {report.responses} captures, {report.revisits} revisits, {report.files} files"
               f"{pages}; {report.bytes / 1e6:.1f} MB in {time.monotonic() - started:.1f}s")
    if report.mismatches:
        raise click.ClickException(f"{len(report.mismatches)} captures no longer match their recorded SHA-256 "
                                   f"(first: {report.mismatches[0]}); run govarchive verify")


@cli.command(name="import")
@config_option
@db_option
@click.option("--format", type=click.Choice(["warc"]), default="warc", show_default=True,
              help="The files' format.")
@click.option("--source", metavar="NAME",
              help="Archive every page as this source's document (default: the source of its host).")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@archive_errors
def import_command(config_path: str | None, db_path: str | None, format: str, source: str | None,
                   files: tuple[str, ...]) -> None:
    """Archive the HTML pages of WARC files as captures, as a crawl would have.

    Reads WARCs from Heritrix, Browsertrix, wget --warc-file or govarchive export; each page goes
    through the same extraction and versioning as a crawl. See docs/export.md.

    \b
    Example:
        govarchive import --format warc crawl-2024.warc.gz --source hunchun-tzgg
    """
    from .warcimport import WarcError, import_warcs

    configured = load_sources(config_path, (source,) if source else ())
    with open_archive(db_path) as archive:
        try:
            report = import_warcs(archive, files, configured, source=source)
        except WarcError as e:
            raise click.ClickException(str(e)) from None
    skipped = sum(n for _, n in report.skipped)
    detail = "; ".join(f"{n} {reason}" for reason, n in report.skipped)
    click.echo(f"{report.new} new, {report.changed} changed, {report.unchanged} unchanged; "
               f"{skipped} records skipped" + (f" ({detail})" if detail else ""))


@cli.command(name="verify")
@db_option
@archive_errors
def verify_command(db_path: str | None) -> None:
    """Recompute the SHA-256 of every capture and file; exit 1 on any mismatch.

    \b
    Example:
        govarchive verify --db archive/govarchive.db
    """
    from .fixity import verify

    with existing_archive(db_path) as archive:
        progress = _Counting("verify", "rows") if sys.stderr.isatty() else None
        report = verify(archive, progress=progress)
        if progress:
            progress.clear()
    for mismatch in report.mismatches:
        click.echo(f"mismatch: {mismatch}")
    click.echo(f"{report.captures} captures and {report.files} files checked: "
               f"{len(report.mismatches)} mismatch{'es' if len(report.mismatches) != 1 else ''}")
    if report.mismatches:
        sys.exit(1)


def existing_archive(db_path: str | None) -> Archive:
    """The archive at ``db_path``, which must exist: reading commands never create one."""
    return open_archive(db_path, create=False)


def _state(run: RunRow | None) -> str:
    if run is None:
        return "never run"
    if not run.finished:
        return "running"
    return f"flagged: {run.error}" if run.error else "ok"


def configured_sources(config_path: str | None) -> list[Source]:
    """The configured sources if the config can be read; none if it is missing and was not named."""
    path = config_mod.resolve_config_path(config_path)
    if config_path is None and not path.exists():
        return []
    return load_sources(str(path), ())


def load_sources(config_path: str | None, names: tuple[str, ...]) -> list[Source]:
    """The configured sources (or the named ones); a bad config exits 2 naming file, source, key."""
    path = config_mod.resolve_config_path(config_path)
    try:
        sources = config_mod.load_config(path)
    except ConfigError as e:
        raise BadConfig(str(e)) from None
    unknown = [n for n in names if n not in {s.name for s in sources}]
    if unknown:
        raise BadConfig(f"{path}: source {unknown[0]!r}: not configured "
                        f"(configured: {', '.join(s.name for s in sources)})")
    return [s for s in sources if not names or s.name in names]


def open_archive(db_path: str | None, *, create: bool = True) -> Archive:
    """The archive at --db; ``create=False`` for commands that only read one (a typo must fail)."""
    return Archive(config_mod.resolve_db_path(db_path), create=create)


class Stopped(click.ClickException):
    """The command was stopped by a signal; exit status 128 + its number, like a shell's."""

    def __init__(self, sig: signal.Signals) -> None:
        super().__init__(f"stopped by {sig.name}: the runs in progress are recorded as interrupted")
        self.exit_code = 128 + sig.value  # type: ignore[misc]  # click reads it from the instance


def run_stoppable(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``; SIGTERM and SIGHUP cancel it as Ctrl-C does, so every run in progress
    is recorded as interrupted (the default action would kill the process mid-write)."""
    received: list[signal.Signals] = []

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def stop(sig: signal.Signals) -> None:
            received.append(sig)
            task.cancel()

        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, stop, sig)
        try:
            return await coro
        finally:
            for sig in (signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        if received:
            raise Stopped(received[0]) from None
        raise


def local_timezone() -> Any:
    """The time zone cron expressions are read in ($TZ, else the host's); ValueError naming $TZ if
    it is not one."""
    from tzlocal import get_localzone

    try:
        return get_localzone()
    except (LookupError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"$TZ: {os.environ.get('TZ', '')!r} is not a time zone (use a name such as "
                         "Asia/Shanghai)") from None


class BadConfig(click.ClickException):
    """A configuration error: exit status 2, one line."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


def run_datasette(path: Path, host: str, port: int) -> None:
    """Serve the archive; a port already in use is a one-line error."""
    from .serve import PortInUse, serve_archive

    try:
        serve_archive(path, host=host, port=port)
    except PortInUse as e:
        raise click.ClickException(str(e)) from None


def notify_runs(archive: Archive, sources: list[Source], reports: list[RunReport]) -> None:
    """Each source's digest to its `notify` services; failures are logged, never fatal."""
    wanted = {s.name: s for s in sources if s.settings.notify}
    if not wanted:
        return
    from .notify import notify_run

    for report in reports:
        if report.source in wanted:
            notify_run(archive, wanted[report.source], report)


def summary(reports: list[RunReport], seconds: float, archive: Archive | None = None) -> str:
    total = sum((r.counts for r in reports), RunCounts())
    flagged = sum(1 for r in reports if r.errors)
    line = (f"{len(reports)} source{'s' if len(reports) != 1 else ''}: {total.new} new, "
            f"{total.changed} changed, {total.unchanged} unchanged, {total.removed} removed, "
            f"{total.failed} failed in {seconds:.1f}s")
    if total.deferred:
        line += f"; {total.deferred} deferred to the next crawl"
    failures: list[Failure] = []
    if (total.failed or flagged) and archive is not None:  # documents, or list pages and robots.txt
        failures = archive.run_failures(r.run_id for r in reports)
    if flagged:
        line += f" ({flagged} source{'s' if flagged != 1 else ''} flagged: see the runs table)"
    if failures:
        from .notify import failure_summary

        n = len(failures)
        line += f"\n{n} request{'s' if n != 1 else ''} failed: {failure_summary(failures)}"
    return line


class _Progress:
    """One self-rewriting status line on a terminal."""

    def __call__(self, source: str, counts: RunCounts) -> None:
        sys.stderr.write(f"\r\033[K{source}: {counts.documents} documents ({counts.new} new, {counts.changed} "
                         f"changed, {counts.failed} failed)")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


class _Counting:
    """One self-rewriting line on a terminal: how far a long job is."""

    def __init__(self, job: str, unit: str) -> None:
        self.job, self.unit = job, unit

    def __call__(self, done: int, total: int, size: int | None = None) -> None:
        written = f", {size / 1e6:.1f} MB" if size is not None else ""
        sys.stderr.write(f"\r\033[K{self.job}: {done}/{total} {self.unit}{written}")
        sys.stderr.flush()

    def clear(self) -> None:
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


class _JsonFormatter(logging.Formatter):
    _SKIP = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        event = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname.lower(),
                 "event": record.getMessage()}
        event.update({k: v for k, v in vars(record).items() if k not in self._SKIP})
        if record.exc_info:
            event["error"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False, default=str)


class _TextFormatter(_JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in self._SKIP)
        line = f"{self.formatTime(record, '%Y-%m-%d %H:%M:%S')} {record.levelname.lower():7} " \
               f"{record.getMessage()}" + (f" {extra}" if extra else "")
        return line + ("\n" + self.formatException(record.exc_info) if record.exc_info else "")


def setup_logging(fmt: str, level: int) -> None:
    """One line per event on stderr: text for people, JSON for log collectors."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger("govarchive")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
