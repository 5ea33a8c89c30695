"""Small server-rendered SVG charts: no JavaScript, no CDN, readable without colour alone
(axes carry labelled values and times, failures carry a mark as well as a colour), and
scalable to any width. Times are shown in the current time zone, which the axis names."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from dashboard.templatetags.stash import format_num, seconds

W, H = 900, 220   # drawn full width in a card: about one unit per pixel, so text stays its size
PAD_L, PAD_R, PAD_T, PAD_B = 76, 16, 14, 46

# Tick steps for a time axis, smallest first: the first that gives at most MAX_TICKS ticks wins.
STEPS = [timedelta(minutes=m) for m in (5, 15, 30)] + [timedelta(hours=h) for h in (1, 3, 6, 12)] + \
        [timedelta(days=d) for d in (1, 2, 7, 14, 30, 91, 182, 365)]
MAX_TICKS = 7


def _fmt(value: float, unit: str) -> str:
    if unit == "bytes":
        return filesizeformat(value).replace("\xa0", " ")
    if unit == "seconds":
        return seconds(value)
    if unit == "ratio":
        return f"{value:.1f}×"
    return format_num(value)


def _local(t: datetime) -> datetime:
    return timezone.localtime(t) if timezone.is_aware(t) else t


def _zone_name() -> str:
    return timezone.get_current_timezone_name()


def time_ticks(start: datetime, end: datetime) -> tuple[list[datetime], str]:
    """Ticks at round local times between start and end, and the strftime format that
    labels them (times of day for a span under two days, dates otherwise)."""
    a, b = _local(start), _local(end)
    span = max(b - a, timedelta(minutes=1))
    # Under two days: times of day; from two days on, dates (a tick per day at least).
    steps = [s for s in STEPS if (s < timedelta(days=1)) == (span < timedelta(days=2))]
    step = next((s for s in steps if span / s <= MAX_TICKS), steps[-1])
    # Round times: multiples of the step from local midnight.
    t = a.replace(hour=0, minute=0, second=0, microsecond=0)
    while t < a:
        t += step
    ticks = []
    while t <= b:
        ticks.append(t)
        t += step
    if step < timedelta(days=1):
        return ticks, "%H:%M" if a.date() == b.date() else "%b %d %H:%M"
    return ticks, "%b %d" if span < timedelta(days=300) else "%b %Y"


def line_chart(points: Sequence[tuple[datetime, float]], *, unit: str = "", label: str = "",
               failures: Sequence[datetime] = ()) -> SafeString:
    """Values over time: a labelled value axis (0, half, top), a time axis with round,
    labelled ticks in the current time zone, one dot per point (its exact value on hover)
    and, for `failures`, a red ✕ at the time of each failed run."""
    if len(points) < 1:
        return format_html('<p class="empty">No data yet for {}.</p>', label.lower() or "this chart")
    times = [p[0] for p in points] + list(failures)
    t0, t1 = min(times), max(times)
    if t0 == t1:   # one point: a day around it, so the axis still reads as time
        t0, t1 = t0 - timedelta(hours=12), t1 + timedelta(hours=12)
    x0, span = t0.timestamp(), (t1.timestamp() - t0.timestamp())
    ys = [float(p[1]) for p in points]
    y1 = max(ys) * 1.1 or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    bottom = PAD_T + plot_h

    def sx(t: datetime) -> float:
        return PAD_L + plot_w * (t.timestamp() - x0) / span

    def sy(y: float) -> float:
        return PAD_T + plot_h - plot_h * y / y1

    coords = [(sx(t), sy(y)) for t, y in zip((p[0] for p in points), ys, strict=True)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(coords))
    area = f"{path} L{coords[-1][0]:.1f},{bottom} L{coords[0][0]:.1f},{bottom} Z"
    grid = format_html_join("", '<line class="grid-line" x1="{}" x2="{}" y1="{}" y2="{}"/><text x="{}" y="{}" text-anchor="end">{}</text>',
                            ((PAD_L, W - PAD_R, f"{sy(y1 * f):.1f}", f"{sy(y1 * f):.1f}", PAD_L - 6, f"{sy(y1 * f) + 4:.1f}",
                              _fmt(y1 * f, unit)) for f in (0, 0.5, 1)))
    ticks, fmt = time_ticks(t0, t1)
    xaxis = format_html_join("", '<line class="tick" x1="{x}" x2="{x}" y1="{b}" y2="{b5}"/><text class="tick-label" x="{x}" y="{ty}" '
                                 'text-anchor="middle">{label}</text>',
                             ({"x": f"{sx(t):.1f}", "b": bottom, "b5": bottom + 5, "ty": bottom + 17, "label": t.strftime(fmt)}
                              for t in ticks))
    dots = format_html_join("", '<circle class="dot" cx="{}" cy="{}" r="3"><title>{}: {}</title></circle>',
                            ((f"{x:.1f}", f"{y:.1f}", _local(p[0]).strftime("%Y-%m-%d %H:%M"), _fmt(p[1], unit))
                             for (x, y), p in zip(coords, points, strict=True)))
    marks = format_html_join("", '<g class="fail"><line class="fail-line" x1="{x}" x2="{x}" y1="{top}" y2="{b}"/>'
                                 '<text class="fail-mark" x="{x}" y="{y}" text-anchor="middle">✕</text><title>{t}: failed</title></g>',
                             ({"x": f"{sx(t):.1f}", "top": PAD_T, "b": bottom, "y": bottom - 4,
                               "t": _local(t).strftime("%Y-%m-%d %H:%M")} for t in failures))
    first, last = _local(points[0][0]).strftime("%b %d"), _local(points[-1][0]).strftime("%b %d")
    desc = (f"{label}: {len(points)} points from {first} to {last}, latest {_fmt(ys[-1], unit)}, "
            f"highest {_fmt(max(ys), unit)}" + (f", {len(failures)} failed" if failures else "") + ".")
    svg = format_html(
        '<svg viewBox="0 0 {w} {h}" role="img" aria-label="{desc}"><title>{desc}</title>{grid}'
        '<line class="axis" x1="{l}" x2="{r}" y1="{b}" y2="{b}"/>'
        '<path class="area" d="{area}" opacity=".6"/><path class="line" d="{path}"/>{dots}{marks}{xaxis}'
        '<text class="axis-title" x="{mid}" y="{ty}" text-anchor="middle">time ({zone})</text></svg>',
        w=W, h=H, desc=desc, grid=grid, l=PAD_L, r=W - PAD_R, b=bottom, area=area, path=path, dots=dots, marks=marks,
        xaxis=xaxis, mid=PAD_L + plot_w / 2, ty=H - 6, zone=_zone_name())
    legend = format_html('<p class="chart-legend"><span class="key-line"></span> {}{}</p>', label,
                         mark_safe(' · <span class="fail-key">✕</span> failed run') if failures else "")
    return mark_safe(f'<div class="chart">{svg}{legend}</div>')


# -- the overview's 30 days ------------------------------------------------------------
CELL, GAP, LABEL_W, COUNT_W, ROW_H, HEAD = 16, 3, 150, 70, 22, 24
OUTCOME_WORDS = {"ok": "succeeded", "bad": "failed", "warn": "skipped or cancelled", "run": "running", "": "no backup"}


def days_grid(rows: Sequence[tuple[str, Sequence[dict[str, object]]]], today: date) -> SafeString:
    """One row per configuration, one cell per day (oldest left, today right): green
    succeeded, red with a ✕ failed, amber with a dash skipped or cancelled, empty outline
    no backup. Dates label the axis every week; each row ends with its failure count.
    `rows`: (name, cells) with cells as overview._strip() makes them."""
    if not rows:
        return format_html('<p class="empty">{}</p>', "No configuration yet.")
    days = len(rows[0][1])
    width = LABEL_W + days * (CELL + GAP) + COUNT_W
    height = HEAD + len(rows) * ROW_H + 8
    parts = []
    for i in range(days):
        day = today - timedelta(days=days - 1 - i)
        if (days - 1 - i) % 7 == 0:   # every week back from today, today included
            x = LABEL_W + i * (CELL + GAP) + CELL / 2
            parts.append(format_html('<text class="tick-label" x="{}" y="14" text-anchor="middle">{}</text>', f"{x:.1f}",
                                     "today" if day == today else day.strftime("%b %d")))
    for r, (name, cells) in enumerate(rows):
        y = HEAD + r * ROW_H
        failed = sum(1 for c in cells if c["cls"] == "bad")
        parts.append(format_html('<text class="row-label" x="{}" y="{}" text-anchor="end">{}</text>', LABEL_W - 8, y + 12,
                                 name if len(name) <= 20 else name[:19] + "…"))
        for i, c in enumerate(cells):
            x = LABEL_W + i * (CELL + GAP)
            cls = str(c["cls"])
            mark = {"bad": "✕", "warn": "–"}.get(cls, "")
            parts.append(format_html('<g class="day day-{}"><rect x="{}" y="{}" width="{}" height="{}" rx="3"/>{}<title>{}</title></g>',
                                     cls or "none", x, y, CELL, CELL,
                                     format_html('<text x="{}" y="{}" text-anchor="middle">{}</text>', x + CELL / 2, y + 12, mark)
                                     if mark else "", c["label"]))
        parts.append(format_html('<text class="{}" x="{}" y="{}">{}</text>', "fail-count" if failed else "row-note",
                                 LABEL_W + days * (CELL + GAP) + 6, y + 12,
                                 f"{failed} failed" if failed else "no failure"))
    desc = f"Backups of the last {days} days, one row per configuration; " + "; ".join(
        f"{name}: {sum(1 for c in cells if c['cls'] == 'bad')} failed" for name, cells in rows) + "."
    svg = format_html('<svg viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>{}</svg>', width, height, desc, desc,
                      mark_safe("".join(parts)))
    legend = mark_safe('<p class="chart-legend"><span class="key key-ok"></span> succeeded · <span class="key key-bad">✕</span> failed · '
                       '<span class="key key-warn">–</span> skipped or cancelled · <span class="key key-none"></span> no backup</p>')
    return mark_safe(f'<div class="chart days-grid">{svg}{legend}</div>')
