from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

PHASE_CLASS = {
    "Succeeded": "ok", "Ready": "ok",
    "Failed": "bad", "NotReady": "bad", "Invalid": "bad",
    "Running": "run",
    "Pending": "wait",
    "Skipped": "warn", "Cancelled": "warn", "Paused": "warn",
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
def until(value: datetime | None) -> str:
    if not value:
        return "—"
    return "in " + seconds(max((value - timezone.now()).total_seconds(), 0))


@register.filter
def bytes_(value: Any) -> str:
    if value in (None, ""):
        return "—"
    return filesizeformat(value).replace("\xa0", " ")


@register.filter
def num(value: Any) -> str:
    if value in (None, ""):
        return "—"
    try:
        return f"{int(value):,}".replace(",", "\u202f")
    except (TypeError, ValueError):
        return str(value)


@register.filter
def shortid(value: Any) -> str:
    return str(value or "")[:8]
