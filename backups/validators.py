"""Validation of cluster URLs, cron schedules and index patterns, with messages
that say what to fix."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, croniter
from django.core.exceptions import ValidationError


def split_list(text: str | list[str] | None) -> list[str]:
    """'a, b\\nc' → ['a', 'b', 'c']."""
    if not text:
        return []
    if isinstance(text, list):
        return [t.strip() for t in text if t and t.strip()]
    return [t.strip() for t in re.split(r"[,\n]", text) if t.strip()]


def validate_cluster_urls(text: str) -> None:
    urls = split_list(text)
    if not urls:
        raise ValidationError("Give at least one URL, e.g. https://es.example.com:9200.")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValidationError(
                f"'{url}' has no http:// or https:// scheme: write the full URL, e.g. https://{url.split('://')[-1]}."
            )
        if parts.username or parts.password:
            # Credentials in a URL end up in logs and error messages; secrets may not.
            raise ValidationError(
                f"'{parts.scheme}://…@{parts.hostname}' has credentials in the URL: remove them and choose "
                "basic authentication with a secret holding username and password."
            )
        if not parts.hostname:
            raise ValidationError(f"'{url}' has no host name: write e.g. https://es.example.com:9200.")
        try:
            _ = parts.port
        except ValueError:
            raise ValidationError(f"'{url}' has an invalid port: use a number from 1 to 65535.") from None


def validate_cron(expression: str) -> None:
    if not expression or not expression.strip():
        raise ValidationError("Give a cron schedule, e.g. '0 2 * * *' for every day at 02:00.")
    fields = expression.split()
    if len(fields) != 5 and not expression.startswith("@"):
        raise ValidationError(
            f"'{expression}' has {len(fields)} fields; a cron schedule has 5: minute hour day-of-month month "
            "day-of-week, e.g. '*/30 * * * *' for every 30 minutes."
        )
    if not croniter.is_valid(expression):
        raise ValidationError(
            f"'{expression}' is not a valid cron schedule: check each field (minute 0-59, hour 0-23, "
            "day 1-31, month 1-12, weekday 0-6), e.g. '0 */6 * * *' for every 6 hours."
        )
    now = datetime.now(UTC)
    try:
        first = croniter(expression, now, max_years_between_matches=NEVER_YEARS).get_next(datetime)
    except CroniterBadDateError:
        first = None
    if first is None or first - now > timedelta(days=365 * NEVER_YEARS + 2):
        raise ValidationError(
            f"'{expression}' never runs in the next {NEVER_YEARS} years (a date that does not exist, such as "
            "February 31st?): choose a date that exists, e.g. '0 0 28 2 *', or L for the last day of the month: '0 0 L 2 *'."
        )


NEVER_YEARS = 5  # a schedule with no run in this many years is a mistake, not a plan


def next_runs(expression: str, tz: str = "UTC", count: int = 5, start: datetime | None = None) -> list[datetime]:
    zone = ZoneInfo(tz or "UTC")
    base = (start or datetime.now(zone)).astimezone(zone)
    it = croniter(expression, base)
    return [it.get_next(datetime) for _ in range(count)]


def validate_timezone(name: str) -> None:
    if name and name not in available_timezones():
        raise ValidationError(f"'{name}' is not a known time zone: use an IANA name such as UTC or Europe/Berlin.")


# Elasticsearch refuses index names with these characters, uppercase letters, or a
# leading '-', '_' or '+' (a leading '.' is allowed: hidden and system indices).
_FORBIDDEN = set('\\/?"<>| ,#:')


def validate_index_pattern(pattern: str) -> None:
    """A pattern that can never match any index is refused (wildcards '*' and '?' are fine)."""
    if not pattern:
        raise ValidationError("An index pattern is empty: remove it or write e.g. logs-*.")
    name = pattern.replace("*", "")
    bad = sorted({c for c in name if c in _FORBIDDEN - {"?"}})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise ValidationError(f"Index pattern '{pattern}' contains {shown}, which no index name can contain: remove it.")
    if name != name.lower():
        raise ValidationError(f"Index pattern '{pattern}' has uppercase letters, and index names are lowercase: write '{pattern.lower()}'.")
    if pattern[0] in "-_+":
        raise ValidationError(
            f"Index pattern '{pattern}' starts with '{pattern[0]}', which no index name does"
            + (": put exclusions in the exclude list instead." if pattern[0] == "-" else ".")
        )
    if pattern in (".", ".."):
        raise ValidationError(f"'{pattern}' can never be an index name.")
    if len(name.encode()) > 255:
        raise ValidationError(f"Index pattern '{pattern[:40]}…' is longer than the 255 bytes an index name may have.")


def validate_index_patterns(value: str | list[str]) -> None:
    errors = []
    for pattern in split_list(value):
        try:
            validate_index_pattern(pattern)
        except ValidationError as e:
            errors.extend(e.messages)
    if errors:
        raise ValidationError(errors)
