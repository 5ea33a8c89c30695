from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

PHASE_CLASS = {
    "Succeeded": "ok", "Ready": "ok", "Verified": "ok",
    "Failed": "bad", "NotReady": "bad", "Invalid": "bad",
    "Running": "run",
    "Pending": "wait",
    "Skipped": "warn", "Cancelled": "warn", "Paused": "warn",
    # a cluster's state under a blueprint (backups.blueprints.preview)
    "Following": "ok", "Detached": "wait", "Conflict": "bad", "Problem": "bad",
}


@register.simple_tag
def phase(value: str | None, label: str | None = None) -> str:
    value = value or "—"
    return format_html('<span class="badge badge-{}">{}</span>', PHASE_CLASS.get(value, "wait"), label or value)


@register.filter
def seconds(value: float | None) -> str:
    """62.5 → '1m 3s'."""
    if value is None or value == "":
        return "—"
    s = int(round(float(value)))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h {m}m"
    return f"{h // 24}d {h % 24}h"


@register.filter
def age(value: datetime | None) -> str:
    if not value:
        return "never"
    delta = timezone.now() - value
    if delta < timedelta(0):
        return "in " + seconds(-delta.total_seconds())
    return seconds(delta.total_seconds()) + " ago"


@register.filter
def when(value: datetime | None, fmt: str = "Y-m-d H:i") -> str:
    """A time in the user's zone (dashboard.timezones), labelled: '2026-12-01 14:03 CET',
    in a <time> whose datetime attribute is UTC."""
    if not value:
        return "—"
    local = timezone.localtime(value)
    return format_html('<time datetime="{}">{} {}</time>', value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       date_format(local, fmt), local.tzname() or timezone.get_current_timezone_name())


@register.filter
def until(value: datetime | None) -> str:
    if not value:
        return "—"
    return "in " + seconds(max((value - timezone.now()).total_seconds(), 0))


@register.filter
def bytes_(value: Any) -> str:
    if value in (None, ""):
        return "—"
    return filesizeformat(value).replace("\xa0", " ")


def format_num(value: int | float) -> str:
    """20000 → '20 000' with a narrow no-break space: the one form of numbers on every page
    (templates use |num, Python code that builds labels calls this)."""
    return f"{value:,.0f}".replace(",", "\u202f")


@register.filter
def num(value: Any) -> str:
    if value in (None, ""):
        return "—"
    try:
        return format_num(int(value))
    except (TypeError, ValueError):
        return str(value)


def format_ibytes(value: int) -> str:
    """8388608 → '8 MiB': exact binary units for sizes people type as parameters."""
    n = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if n == int(n) else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


@register.filter
def param(value: Any, key: str) -> str:
    """A task parameter as people read it: sizes (…_bytes) in binary units, counts grouped."""
    if isinstance(value, bool) or value in (None, ""):
        return str(value)
    try:
        n = int(value)
    except (TypeError, ValueError):
        return str(value)
    return format_ibytes(n) if key.endswith("_bytes") else format_num(n)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


@register.filter
def shortid(value: Any) -> str:
    return str(value or "")[:8]


HEALTH_PHASE = {"green": "Succeeded", "yellow": "Skipped", "red": "Failed"}


@register.filter
def health_phase(value: Any) -> str:
    """A cluster or index health colour as the phase whose badge shows it (green ok, yellow warn, red bad)."""
    return HEALTH_PHASE.get(str(value or "").lower(), "Pending")


@register.filter
def selector(value: Any) -> str:
    """A blueprint's label selector as kubectl -l writes it."""
    from backups.labels import format_selector

    return format_selector(value or {}) if isinstance(value, dict) else ""
