"""Building blocks of the report's inline SVG charts: escaped text, compact numbers, axis
ticks, a viridis-like colour ramp and the accessible ``<svg>`` wrapper.

Plain strings and no dependency: a chart is a few kilobytes of markup built in
milliseconds, where a plotting library cost seconds per report. Nothing here uses an
``id``, so any number of charts can share one page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

FONT = "system-ui, -apple-system, 'Segoe UI', sans-serif"
AXIS_COLOUR = "#444"
GRID_COLOUR = "#e3e3e3"
MAX_TICK_LABELS = 25
MAX_LABEL_CHARS = 20
CHAR_WIDTH = 0.58
"""An average glyph's width as a share of the font size (to size margins for labels)."""

# Matplotlib's viridis at nine evenly spaced points; shades between are interpolated.
VIRIDIS_STOPS = (
    "#440154",
    "#472d7b",
    "#3b528b",
    "#2c728e",
    "#21918c",
    "#28ae80",
    "#5ec962",
    "#addc30",
    "#fde725",
)
RAMP_LEVELS = 256


def num(value: float) -> str:
    """A coordinate with one decimal at most (``12``, ``3.5``): enough at screen scale."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def text_width(label: str, size: float) -> float:
    """The approximate width of ``label`` in pixels at font ``size``."""
    return len(label) * size * CHAR_WIDTH


def short(label: str, limit: int = MAX_LABEL_CHARS) -> str:
    """``label`` cut to ``limit`` characters with an ellipsis (the full one is in a tooltip)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def text(
    x: float,
    y: float,
    content: str,
    *,
    size: float = 11,
    anchor: str = "start",
    rotate: float | None = None,
    bold: bool = False,
) -> str:
    """An escaped ``<text>`` element, optionally rotated about its anchor point."""
    attrs = f'x="{num(x)}" y="{num(y)}" font-size="{num(size)}"'
    if anchor != "start":
        attrs += f' text-anchor="{anchor}"'
    if rotate is not None:
        attrs += f' transform="rotate({num(rotate)} {num(x)} {num(y)})"'
    if bold:
        attrs += ' font-weight="bold"'
    return f"<text {attrs}>{escape(content)}</text>"


def line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    """A ``<line>`` of colour ``stroke`` (``extra``: more attributes, already escaped)."""
    tail = f" {extra}" if extra else ""
    return (
        f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" y2="{num(y2)}" '
        f'stroke="{stroke}"{tail}/>'
    )


def svg(width: float, height: float, label: str, body: str) -> str:
    """A whole chart: fixed ``viewBox`` (it scales with CSS), ``role="img"``, and ``label`` as
    both its ``aria-label`` and its ``<title>``."""
    w, h = num(width), num(height)
    name = escape(label)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="{name}" font-family="{FONT}" '
        f'fill="#222"><title>{name}</title>{body}</svg>'
    )


def nice_ticks(top: float, target: int = 5) -> tuple[list[float], float]:
    """Round tick values from 0 covering ``top`` (about ``target`` of them), and the axis end
    (the last tick, so the highest value never leaves the plot)."""
    top = top if top > 0 and math.isfinite(top) else 1.0
    raw = top / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
    count = math.ceil(top / step - 1e-9)
    ticks = [round(i * step, 12) for i in range(count + 1)]
    return ticks, ticks[-1]


def tick_label(value: float) -> str:
    """A tick value without float noise (``0.15``, not ``0.15000000000000002``)."""
    return f"{round(value, 10):g}"


def sparse_positions(count: int, limit: int = MAX_TICK_LABELS) -> range:
    """Every k-th index of ``count`` labels, so that at most ``limit`` are written."""
    return range(0, count, max(1, math.ceil(count / limit)))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _ramp(stops: Sequence[str], levels: int) -> tuple[str, ...]:
    rgb = [_rgb(s) for s in stops]
    shades = []
    for level in range(levels):
        at = level / (levels - 1) * (len(rgb) - 1)
        i = min(int(at), len(rgb) - 2)
        f = at - i
        mixed = (round(a + (b - a) * f) for a, b in zip(rgb[i], rgb[i + 1], strict=True))
        shades.append("#{:02x}{:02x}{:02x}".format(*mixed))
    return tuple(shades)


RAMP = _ramp(VIRIDIS_STOPS, RAMP_LEVELS)


def shade(fraction: float) -> str:
    """The ramp's colour at ``fraction`` (clipped to [0, 1]): dark purple to yellow."""
    clipped = min(1.0, max(0.0, fraction)) if math.isfinite(fraction) else 0.0
    return RAMP[round(clipped * (RAMP_LEVELS - 1))]
