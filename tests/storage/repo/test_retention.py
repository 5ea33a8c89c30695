"""Retention tables: given snapshot times (and statuses), which are kept."""
from __future__ import annotations

import datetime as dt

import pytest

from storage.repo import RetentionRules, apply_retention, parse_period

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def kept(times: list[str], rules: RetentionRules, failed: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    decisions = apply_retention([(t, at(t), t in failed) for t in times], rules, now=NOW)
    return sorted(d.id for d in decisions if d.keep)


HOURS = ["2026-06-15T09:10", "2026-06-15T09:40", "2026-06-15T10:05", "2026-06-15T10:50",
         "2026-06-15T11:30"]
DAYS = ["2026-06-10T01:00", "2026-06-12T01:00", "2026-06-12T23:00", "2026-06-13T08:00",
        "2026-06-14T08:00", "2026-06-14T20:00"]
# 2026-06-01 is a Monday; ISO weeks 23, 24 and the start of 25 (Mon 15 June).
WEEKS = ["2026-06-01T10:00", "2026-06-03T10:00", "2026-06-08T10:00", "2026-06-14T23:00",
         "2026-06-15T01:00"]
MONTHS = ["2026-03-31T10:00", "2026-04-02T10:00", "2026-04-30T10:00", "2026-05-15T10:00",
          "2026-06-01T10:00"]
YEARS = ["2023-12-31T23:00", "2024-01-01T00:30", "2024-07-01T00:00", "2025-05-01T00:00",
         "2026-01-01T00:00"]


@pytest.mark.parametrize(("times", "rules", "expected"), [
    pytest.param(HOURS, RetentionRules(last=2), HOURS[-2:], id="last"),
    pytest.param(HOURS, RetentionRules(last=10), HOURS, id="last-more-than-there-are"),
    pytest.param(HOURS, RetentionRules(hourly=2), ["2026-06-15T10:50", "2026-06-15T11:30"],
                 id="hourly-keeps-newest-per-hour"),
    pytest.param(HOURS, RetentionRules(hourly=3),
                 ["2026-06-15T09:40", "2026-06-15T10:50", "2026-06-15T11:30"], id="hourly-3"),
    pytest.param(DAYS, RetentionRules(daily=3),
                 ["2026-06-12T23:00", "2026-06-13T08:00", "2026-06-14T20:00"],
                 id="daily-skips-empty-days"),
    pytest.param(WEEKS, RetentionRules(weekly=2), ["2026-06-14T23:00", "2026-06-15T01:00"],
                 id="weekly-iso-weeks-start-monday"),
    pytest.param(WEEKS, RetentionRules(weekly=3),
                 ["2026-06-03T10:00", "2026-06-14T23:00", "2026-06-15T01:00"], id="weekly-3"),
    pytest.param(MONTHS, RetentionRules(monthly=3),
                 ["2026-04-30T10:00", "2026-05-15T10:00", "2026-06-01T10:00"], id="monthly"),
    pytest.param(YEARS, RetentionRules(yearly=2), ["2025-05-01T00:00", "2026-01-01T00:00"],
                 id="yearly"),
    pytest.param(YEARS, RetentionRules(yearly=5),
                 ["2023-12-31T23:00", "2024-07-01T00:00", "2025-05-01T00:00",
                  "2026-01-01T00:00"], id="yearly-newest-of-each-year"),
    pytest.param(DAYS, RetentionRules(last=1, daily=2),
                 ["2026-06-13T08:00", "2026-06-14T20:00"], id="rules-overlap"),
    pytest.param(MONTHS, RetentionRules(last=1, monthly=2),
                 ["2026-05-15T10:00", "2026-06-01T10:00"], id="last-and-monthly"),
    pytest.param(DAYS, RetentionRules(), DAYS, id="no-rules-keeps-everything"),
    pytest.param(DAYS, RetentionRules(max_retention_period="3d"),
                 ["2026-06-12T23:00", "2026-06-13T08:00", "2026-06-14T08:00",
                  "2026-06-14T20:00"], id="max-period-alone"),
    pytest.param(DAYS, RetentionRules(last=10, max_retention_period="2d"),
                 ["2026-06-14T08:00", "2026-06-14T20:00"],
                 id="max-period-overrides-last"),
    pytest.param(YEARS, RetentionRules(yearly=10, max_retention_period="1y"),
                 ["2026-01-01T00:00"], id="max-period-1y"),
])
def test_successful_snapshot_rules(times: list[str], rules: RetentionRules,
                                   expected: list[str]) -> None:
    assert kept(times, rules) == sorted(expected)


def test_failed_snapshots_are_kept_by_their_own_rule() -> None:
    times = ["2026-06-10T00:00", "2026-06-11T00:00", "2026-06-12T00:00", "2026-06-13T00:00",
             "2026-06-14T00:00"]
    failed = {"2026-06-11T00:00", "2026-06-13T00:00", "2026-06-14T00:00"}
    assert kept(times, RetentionRules(last=1, failed_last=1), failed) == \
        ["2026-06-12T00:00", "2026-06-14T00:00"]
    assert kept(times, RetentionRules(last=5, failed_last=0), failed) == \
        ["2026-06-10T00:00", "2026-06-12T00:00"]
    # Unset: failed snapshots are not removed by count...
    assert kept(times, RetentionRules(last=1), failed) == sorted(failed | {"2026-06-12T00:00"})
    # ...but the period still applies to them.
    assert kept(times, RetentionRules(last=1, max_retention_period="3d"), failed) == \
        ["2026-06-13T00:00", "2026-06-14T00:00"]


def test_decisions_carry_reasons() -> None:
    decisions = apply_retention([("a", at("2026-06-14T10:00"), False),
                                 ("b", at("2026-06-14T11:00"), False),
                                 ("c", at("2026-01-01T00:00"), False)],
                                RetentionRules(last=1, daily=2, max_retention_period="30d"),
                                now=NOW)
    by_id = {d.id: d for d in decisions}
    assert by_id["b"].reasons == ["last", "daily"]
    assert by_id["a"].reasons == [] and not by_id["a"].keep
    assert by_id["c"].reasons == ["older than maxRetentionPeriod 30d"]


@pytest.mark.parametrize(("text", "seconds"), [
    ("30d", 30 * 86400), ("2w", 14 * 86400), ("1y", 365 * 86400), ("12h", 43200),
    ("6mo", 180 * 86400), ("1y6mo", 545 * 86400), ("720h", 720 * 3600), ("90m", 5400),
])
def test_periods_parse(text: str, seconds: int) -> None:
    assert parse_period(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["30", "d", "3 days", "-1d", "1d junk"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid retention period"):
        parse_period(text)
