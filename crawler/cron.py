"""Cron expressions: one parser for validating sources.toml and for scheduling.

Five fields (minute hour day month weekday), with crontab's weekday numbers (0 or 7 is Sunday).
APScheduler 3 parses them; this module fixes its weekday numbering and refuses expressions that
parse but never fire (``0 0 30 2 *``: February 30th).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

__all__ = ["cron_period", "cron_problem", "cron_trigger"]

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_problem(expression: str, now: dt.datetime | None = None) -> str | None:
    """Why ``expression`` is not a usable five-field cron expression, or None if it is."""
    if len(expression.split()) != 5:
        return f"not a five-field cron expression (minute hour day month weekday): {expression!r}"
    try:
        cron_period(expression, now or dt.datetime.now(dt.UTC))
    except ValueError as e:
        return f"not a valid cron expression {expression!r}: {e}"
    return None


def cron_trigger(expression: str, *, jitter: int = 0, timezone: Any = None) -> CronTrigger:
    """A trigger firing on a five-field cron expression with standard (Sunday = 0) weekday numbers.

    APScheduler 3's ``CronTrigger.from_crontab`` reads weekday numbers Monday-first (its issue 286),
    so "0 3 * * 1" would run on Tuesdays; the weekday field is rewritten as names before parsing.
    """
    from apscheduler.triggers.cron import CronTrigger  # imported here: config loads fast without it

    minute, hour, day, month, weekday = expression.split()
    trigger = CronTrigger.from_crontab(f"{minute} {hour} {day} {month} {_weekday_names(weekday)}",
                                       timezone=timezone)
    trigger.jitter = jitter or None  # from_crontab takes no jitter; None is the trigger's own "off"
    return trigger


def cron_period(expression: str, now: dt.datetime) -> dt.timedelta:
    """The gap between the next two fire times of a cron expression after ``now``; ValueError if
    it never fires (a day that no month has)."""
    trigger = cron_trigger(expression, timezone=now.tzinfo)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first) if first else None
    if first is None or second is None:
        raise ValueError("it never fires (no month has that day)")
    return second - first


def _weekday_names(field: str) -> str:
    """A cron weekday field (numbers 0-7, names, ranges, steps, lists) as a list of day names."""
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step = part.partition("/")
        first, _, last = base.partition("-")
        if base == "*":
            low, high = 0, 6
        else:
            low = _weekday_number(first)
            high = _weekday_number(last) if last else 6 if step else low  # "1/2": 1, 3, 5
        days.update(day % 7 for day in range(low, high + 1, int(step or 1)))
    if not days:
        raise ValueError(f"no weekday matches {field!r}")
    return ",".join(_WEEKDAYS[day] for day in sorted(days))


def _weekday_number(token: str) -> int:
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token in _WEEKDAYS:
        return _WEEKDAYS.index(token)
    raise ValueError(f"not a weekday: {token!r}")
