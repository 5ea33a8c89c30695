"""Small server-rendered SVG charts: no JavaScript, readable without colour alone
(axis labels carry the numbers), and scalable to any width."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from dashboard.templatetags.stash import format_num, seconds

W, H = 640, 200
PAD_L, PAD_R, PAD_T, PAD_B = 64, 12, 12, 28


def _fmt(value: float, unit: str) -> str:
    if unit == "bytes":
        return filesizeformat(value).replace("\xa0", " ")
    if unit == "seconds":
        return seconds(value)
    return format_num(value)


def line_chart(points: Sequence[tuple[datetime, float]], *, unit: str = "", label: str = "") -> SafeString:
    if len(points) < 1:
        return format_html('<p class="empty">No data yet for {}.</p>', label.lower() or "this chart")
    xs = [p[0].timestamp() for p in points]
    ys = [float(p[1]) for p in points]
    x0, x1 = min(xs), max(xs)
    y1 = max(ys) * 1.1 or 1.0
    span = (x1 - x0) or 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def sx(x: float) -> float:
        return PAD_L + (plot_w * (x - x0) / span if len(points) > 1 else plot_w / 2)

    def sy(y: float) -> float:
        return PAD_T + plot_h - plot_h * y / y1

    coords = [(sx(x), sy(y)) for x, y in zip(xs, ys, strict=True)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(coords))
    area = f"{path} L{coords[-1][0]:.1f},{PAD_T + plot_h} L{coords[0][0]:.1f},{PAD_T + plot_h} Z"
    grid = format_html_join("", '<line class="grid-line" x1="{}" x2="{}" y1="{}" y2="{}"/><text x="{}" y="{}" text-anchor="end">{}</text>',
                            ((PAD_L, W - PAD_R, f"{sy(y1 * f):.1f}", f"{sy(y1 * f):.1f}", PAD_L - 6, f"{sy(y1 * f) + 4:.1f}",
                              _fmt(y1 * f, unit)) for f in (0, 0.5, 1)))
    dots = format_html_join("", '<circle class="dot" cx="{}" cy="{}" r="3"><title>{}: {}</title></circle>',
                            ((f"{x:.1f}", f"{y:.1f}", p[0].strftime("%Y-%m-%d %H:%M"), _fmt(p[1], unit)) for (x, y), p in zip(coords, points, strict=True)))
    first, last = points[0][0].strftime("%b %d"), points[-1][0].strftime("%b %d")
    desc = f"{label}: {len(points)} points from {first} to {last}, latest {_fmt(ys[-1], unit)}, highest {_fmt(max(ys), unit)}."
    svg = format_html(
        '<svg viewBox="0 0 {w} {h}" role="img" aria-label="{desc}"><title>{desc}</title>{grid}'
        '<line class="axis" x1="{l}" x2="{r}" y1="{b}" y2="{b}"/>'
        '<path class="area" d="{area}" opacity=".6"/><path class="line" d="{path}"/>{dots}'
        '<text x="{l}" y="{ty}">{first}</text><text x="{r}" y="{ty}" text-anchor="end">{last}</text></svg>',
        w=W, h=H, desc=desc, grid=grid, l=PAD_L, r=W - PAD_R, b=PAD_T + plot_h, area=area, path=path, dots=dots,
        ty=H - 8, first=first, last=last)
    return mark_safe(f'<div class="chart">{svg}</div>')
