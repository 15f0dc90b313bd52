"""Notifications: after a run, one digest per source to its ``notify`` services (Apprise URLs).

A digest names what the run found new, changed (with a short diff), removed or unlisted, and what
failed; it also alerts when the source is blocked, its list yields no links, or it has had no
successful run in STALE_DAYS days. Each message is kept in the ``notifications`` table, one row per
service, until it is sent: a service that fails is logged and tried again after the next run, and
never fails the crawl. The URLs themselves (they carry tokens and passwords) are never stored or
logged: a row names its service by a hash of the URL, a log line by its position and scheme.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise

from .config import Source
from .crawl import RunReport
from .diff import diff_excerpt, diff_text, version_text
from .store import Archive, Failure, Notification, RunEvent

__all__ = ["STALE_DAYS", "Delivery", "deliver", "describe_failures", "digest", "failure_summary",
           "notify_run", "notify_run_async", "send_test", "service_name", "target_key"]

log = logging.getLogger("govarchive")

#: A source without a successful run for this many days gets a "stale" alert (once per outage).
STALE_DAYS = 3.0
#: Documents listed per section of a digest; the rest are counted.
SECTION_LIMIT = 20
#: The time and level Apprise's log lines start with.
_LOG_PREFIX = re.compile(r"^[\d-]+ [\d:,]+ - \w+ - ")
_SECTIONS = (("new", "New"), ("changed", "Changed"), ("removed", "Removed"), ("unlisted", "No longer listed"))


@dataclass(frozen=True)
class Delivery:
    """How sending one message to one service went: ``error`` is empty when it was sent."""

    notification_id: int
    service: str
    error: str


def target_key(url: str) -> str:
    """The name a service's URL is kept under in the archive: a hash, since URLs hold credentials."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def service_name(index: int, url: str) -> str:
    """A service as logs and messages name it: its position in ``notify`` and its scheme, no secrets."""
    return f"notify[{index}] ({urlsplit(url).scheme or '?'}://)"


# -- what failed, in words ---------------------------------------------------------------------

_KINDS = (
    (re.compile(r"name or service not known|name resolution|nodename nor servname|no address associated"
                r"|getaddrinfo", re.IGNORECASE), "DNS lookup failed"),
    (re.compile(r"timeout|timed out", re.IGNORECASE), "timed out"),
    (re.compile(r"connection refused", re.IGNORECASE), "connection refused"),
    (re.compile(r"connection|connect", re.IGNORECASE), "connection failed"),
    (re.compile(r"robots", re.IGNORECASE), "disallowed by robots.txt"),
)


def _kind(failure: Failure) -> str:
    if failure.outcome == "Blocked":
        return "blocked"
    if failure.outcome == "Gone":
        return f"gone (HTTP {failure.status})" if failure.status else "gone"
    for pattern, kind in _KINDS:
        if pattern.search(failure.reason):
            return kind
    if failure.status:
        return f"HTTP {failure.status}"
    return failure.outcome or "failed"


def describe_failures(failures: Iterable[Failure]) -> list[tuple[str, int, int]]:
    """The kinds of failure, most frequent first: (kind, requests, hosts)."""
    requests: Counter[str] = Counter()
    hosts: dict[str, set[str]] = {}
    for f in failures:
        kind = _kind(f)
        requests[kind] += 1
        hosts.setdefault(kind, set()).add(urlsplit(f.url).hostname or "")
    return [(kind, n, len(hosts[kind])) for kind, n in requests.most_common()]


def failure_summary(failures: Iterable[Failure], limit: int = 2) -> str:
    """The main reasons, e.g. ``DNS lookup failed for 21 requests on 11 hosts (offline?)``; "" if none."""
    parts = []
    for kind, n, hosts in describe_failures(failures)[:limit]:
        hint = " (offline?)" if kind == "DNS lookup failed" else ""
        parts.append(f"{kind} for {n} request{'s' if n != 1 else ''} on {hosts} host{'s' if hosts != 1 else ''}"
                     + hint)
    return "; ".join(parts)


# -- the digest ----------------------------------------------------------------------------------

def _change_lines(event: RunEvent) -> list[str]:
    if event.before is None or event.after is None:
        return []
    diff = diff_text(version_text(*event.before), version_text(*event.after))
    return ["    " + line for line in diff_excerpt(diff, 300).splitlines()]


def digest(source: Source, report: RunReport, events: Sequence[RunEvent], failures: Sequence[Failure],
           alerts: Sequence[str]) -> tuple[str, str] | None:
    """A run's digest as (title, body), or None when the run found nothing worth a message."""
    by_event = {key: [e for e in events if e.event == key] for key, _ in _SECTIONS}
    counts = [f"{len(by_event[key])} {label.lower()}" for key, label in _SECTIONS if by_event[key]]
    if report.counts.failed:
        counts.append(f"{report.counts.failed} failed")
    if not counts and not alerts and not report.errors:
        return None
    title = f"govarchive · {source.name}: " + (", ".join(counts) if counts else "needs a look")
    lines = [f"{source.title or source.name} (run {report.run_id})"]
    for alert in alerts:
        lines += ["", f"ALERT: {alert}"]
    for key, label in _SECTIONS:
        found = by_event[key]
        if not found:
            continue
        lines += ["", f"{label} ({len(found)}):"]
        for e in found[:SECTION_LIMIT]:
            what = f": {e.detail}" if e.detail and key != "new" else ""
            lines += [f"- {e.title}{what}", f"  {e.url}"]
            if key == "changed":
                lines += _change_lines(e)
        if len(found) > SECTION_LIMIT:
            lines.append(f"… and {len(found) - SECTION_LIMIT} more")
    if report.errors or failures:
        lines += ["", "Failing:"]
        lines += [f"- {error}" for error in report.errors]
        lines += [f"- {n} request{'s' if n != 1 else ''} {kind} ({hosts} host{'s' if hosts != 1 else ''})"
                  for kind, n, hosts in describe_failures(failures)]
    return title, "\n".join(lines)


def _alerts(archive: Archive, source: Source, report: RunReport, failures: Sequence[Failure],
            now: dt.datetime) -> tuple[list[str], bool]:
    """Alerts for this run, and whether one of them is a new "stale" alert."""
    alerts = []
    blocked = sum(1 for f in failures if f.outcome == "Blocked")
    if blocked:
        alerts.append(f"blocked: {blocked} request{'s' if blocked != 1 else ''} refused as a bot or by a "
                      "challenge page")
    alerts += [f"the list yields no links: {e}" for e in report.errors if e.startswith("0 links found")]
    success = archive.last_success(source.name)
    age = now - dt.datetime.fromisoformat(success) if success else None
    stale = (age is not None and age > dt.timedelta(days=STALE_DAYS)) or (
        success is None and bool(report.errors or report.counts.failed) and _first_run_age(archive, source, now)
        > dt.timedelta(days=STALE_DAYS))
    if stale and not archive.notified_since(source.name, "stale", success):
        alerts.append(f"stale: no successful run in {STALE_DAYS:g} days"
                      + (f" (last success {success})" if success else " (never succeeded)"))
        return alerts, True
    return alerts, False


def _first_run_age(archive: Archive, source: Source, now: dt.datetime) -> dt.timedelta:
    first = archive.first_run(source.name)
    return now - dt.datetime.fromisoformat(first) if first else dt.timedelta(0)


def prepare(archive: Archive, source: Source, report: RunReport,
            now: dt.datetime | None = None) -> list[Notification]:
    """Queue this run's digest (if any) for each of the source's services; return every unsent message
    of the source whose service is still configured."""
    targets = {target_key(url) for url in source.settings.notify}
    if not targets:
        return []
    failures = archive.run_failures([report.run_id])
    alerts, stale = _alerts(archive, source, report, failures, now or dt.datetime.now(dt.UTC))
    message = digest(source, report, archive.run_events(report.run_id), failures, alerts)
    if message is not None:
        archive.queue_notification(source.name, "stale" if stale else "digest", *message, sorted(targets))
    return [n for n in archive.pending_notifications(source.name) if n.target in targets]


def deliver(source: Source, pending: Sequence[Notification]) -> list[Delivery]:
    """Send each pending message to its service (network only: no archive, safe in a thread)."""
    urls = {target_key(url): (i, url) for i, url in enumerate(source.settings.notify)}
    out = []
    for n in pending:
        index, url = urls[n.target]
        out.append(Delivery(n.id, service_name(index, url), _send(url, n.title, n.body)))
    return out


def _send(url: str, title: str, body: str) -> str:
    """Send one message; the reason it failed, or "" once sent."""
    service = apprise.Apprise()
    if not service.add(url):
        return "not a valid Apprise URL (or its plugin is not installed)"
    with apprise.LogCapture(level=logging.WARNING) as captured:
        sent = service.notify(title=title, body=body)
    if sent:
        return ""
    lines = captured.getvalue().strip().splitlines()
    reason = _LOG_PREFIX.sub("", lines[-1])[:200] if lines else ""
    return "not delivered" + (f": {reason}" if reason else "")


def record(archive: Archive, source: Source, deliveries: Sequence[Delivery]) -> None:
    """Note each try; a failed one is logged and stays pending for the next run."""
    for d in deliveries:
        archive.notification_tried(d.notification_id, d.error)
        if d.error:
            log.warning("notification not sent; it is tried again after the next run",
                        extra={"source": source.name, "service": d.service, "error": d.error})
        else:
            log.info("notification sent", extra={"source": source.name, "service": d.service})


def notify_run(archive: Archive, source: Source, report: RunReport) -> list[Delivery]:
    """After a run: queue its digest, send what is pending. Never raises for a failed notification."""
    try:
        deliveries = deliver(source, prepare(archive, source, report))
        record(archive, source, deliveries)
    except Exception:  # a notification must never fail the crawl
        log.exception("notifications failed", extra={"source": source.name})
        return []
    return deliveries


async def notify_run_async(archive: Archive, source: Source, report: RunReport) -> list[Delivery]:
    """:func:`notify_run` for the scheduler: the archive on the loop's thread, the sending in another."""
    try:
        pending = prepare(archive, source, report)
        if not pending:
            return []
        deliveries = await asyncio.to_thread(deliver, source, pending)
        record(archive, source, deliveries)
    except Exception:  # a notification must never fail the crawl
        log.exception("notifications failed", extra={"source": source.name})
        return []
    return deliveries


def send_test(source: Source) -> list[tuple[str, str]]:
    """A test message to each of the source's services: (service, error or "")."""
    title = f"govarchive · {source.name}: test notification"
    body = (f"This is a test from govarchive. The digests of {source.title or source.name} will arrive "
            "here after each crawl that finds something new, changed, removed or failing.")
    return [(service_name(i, url), _send(url, title, body)) for i, url in enumerate(source.settings.notify)]
