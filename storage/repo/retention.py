"""Retention (`forget`) as a pure function, with KubeStash RetentionPolicy semantics.

successfulSnapshots {last, hourly, daily, weekly, monthly, yearly} keep, among snapshots
whose status is not "Failed", the newest N, and the newest snapshot of each of the N most
recent hours/days/ISO weeks/months/years that have one (restic's --keep-* rules; buckets in
UTC). failedSnapshots {last} keeps the newest N failed snapshots. maxRetentionPeriod
removes every snapshot older than now - period, whatever the other rules say.
A rule left unset (None) keeps nothing by itself; if no successful rule is set at all,
every successful snapshot is kept (a policy with no rules never empties a repository),
and with failed_last unset every failed snapshot is kept (subject to the period).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_PERIOD = re.compile(r"(\d+)\s*(mo|[smhdwy])", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "mo": 30 * 86400,
          "y": 365 * 86400}


def parse_period(text: str | dt.timedelta | None) -> dt.timedelta | None:
    """"30d", "2w", "1y", "12h", "6mo", "1y6mo" (Go-style "720h" too) -> timedelta."""
    if text is None or isinstance(text, dt.timedelta):
        return text
    text = text.strip()
    if not text:
        return None
    pos, seconds = 0, 0
    for m in _PERIOD.finditer(text):
        if m.start() != pos:
            break
        seconds += int(m.group(1)) * _UNITS[m.group(2).lower()]
        pos = m.end()
    if pos != len(text) or not seconds:
        raise ValueError(f"invalid retention period {text!r}: use e.g. 30d, 2w, 6mo, 1y")
    return dt.timedelta(seconds=seconds)


@dataclass
class RetentionRules:
    last: int | None = None
    hourly: int | None = None
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None
    yearly: int | None = None
    failed_last: int | None = None
    max_retention_period: str | dt.timedelta | None = None

    @property
    def has_successful_rule(self) -> bool:
        return any(v is not None for v in (self.last, self.hourly, self.daily, self.weekly,
                                           self.monthly, self.yearly))


@dataclass
class Decision:
    id: str
    time: dt.datetime
    failed: bool
    keep: bool = False
    reasons: list[str] = field(default_factory=list)


_BUCKETS: list[tuple[str, Callable[[dt.datetime], tuple[int, ...]]]] = [
    ("hourly", lambda t: (t.year, t.month, t.day, t.hour)),
    ("daily", lambda t: (t.year, t.month, t.day)),
    ("weekly", lambda t: tuple(t.isocalendar()[:2])),
    ("monthly", lambda t: (t.year, t.month)),
    ("yearly", lambda t: (t.year,)),
]


def apply_retention(snapshots: Sequence[tuple[str, dt.datetime, bool]], rules: RetentionRules,
                    now: dt.datetime | None = None) -> list[Decision]:
    """Decide keep/remove for (id, time, failed) triples; newest first, with reasons."""
    now = now or dt.datetime.now(dt.UTC)
    period = parse_period(rules.max_retention_period)
    decisions = sorted((Decision(i, t.astimezone(dt.UTC), f) for i, t, f in snapshots),
                       key=lambda d: (d.time, d.id), reverse=True)
    ok = [d for d in decisions if not d.failed]
    failed = [d for d in decisions if d.failed]

    if not rules.has_successful_rule:
        for d in ok:
            d.reasons.append("no successful-snapshot rule")
    else:
        if rules.last:
            for d in ok[:rules.last]:
                d.reasons.append("last")
        for name, bucket in _BUCKETS:
            n = getattr(rules, name)
            if not n:
                continue
            seen: set[tuple[int, ...]] = set()
            for d in ok:  # newest first: the first of each bucket is its newest
                key = bucket(d.time)
                if key in seen:
                    continue
                if len(seen) >= n:
                    break
                seen.add(key)
                d.reasons.append(name)
    if rules.failed_last is None:
        for d in failed:
            d.reasons.append("no failed-snapshot rule")
    else:
        for d in failed[:rules.failed_last]:
            d.reasons.append("failed last")
    for d in decisions:
        d.keep = bool(d.reasons)
        if period is not None and d.time < now - period:
            d.keep = False
            d.reasons = [f"older than maxRetentionPeriod {rules.max_retention_period}"]
    return decisions
