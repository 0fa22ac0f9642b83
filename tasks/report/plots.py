"""Plots of the release report as inline SVG strings, drawn by hand (see :mod:`.svg`).

Three charts: a column's noisy and synthetic shares side by side (:func:`bar_plot`), a pair's
two heatmaps on one square-root colour scale (:func:`heatmap_plot`) and the dataset's budget
over time (:func:`budget_plot`). Each is a few kilobytes of markup with a fixed ``viewBox``,
built in milliseconds; all text is escaped and nothing external is referenced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from tasks.report.inputs import BudgetPoint, MarginalComparison
from tasks.report.svg import (
    AXIS_COLOUR,
    GRID_COLOUR,
    line,
    nice_ticks,
    num,
    shade,
    short,
    sparse_positions,
    svg,
    text,
    text_width,
    tick_label,
)

NOISY_COLOUR = "#4c72b0"
SYNTHETIC_COLOUR = "#dd8452"
CAP_COLOUR = "#c44e52"
TICK_SIZE = 10
LABEL_SIZE = 11
TITLE_SIZE = 14
SLANT = math.sin(math.radians(60))  # tick labels are rotated by 60 degrees
COLOUR_BAR_STEPS = 64

Swatch = tuple[str, str]  # (kind: "box" | "line" | "dot" | "dashed", colour)


@dataclass(frozen=True)
class YScale:
    """A linear y scale: 0 at the plot's bottom (``top + height``), ``end`` at its top."""

    top: float
    height: float
    end: float

    def __call__(self, value: float) -> float:
        return self.top + self.height * (1 - value / self.end)


def _slanted_height(labels: Sequence[str], positions: Sequence[int]) -> float:
    """How far below the axis the longest shown (rotated) tick label reaches."""
    widest = max((text_width(short(labels[i]), TICK_SIZE) for i in positions), default=0.0)
    return widest * SLANT + 12


def _x_ticks(labels: Sequence[str], centre: Sequence[float], base: float) -> str:
    """Sparse tick marks and 60-degree labels under an axis at height ``base``."""
    parts = []
    for i in sparse_positions(len(labels)):
        x = centre[i]
        parts.append(line(x, base, x, base + 4, AXIS_COLOUR))
        parts.append(
            text(x + 3, base + 10, short(labels[i]), size=TICK_SIZE, anchor="end", rotate=-60)
        )
    return "".join(parts)


def _y_grid(ticks: Sequence[float], left: float, width: float, y_of: YScale) -> str:
    """Horizontal gridlines with their labels left of the axis."""
    parts = []
    for t in ticks:
        y = y_of(t)
        parts.append(line(left, y, left + width, y, GRID_COLOUR))
        parts.append(text(left - 6, y + 3.5, tick_label(t), size=TICK_SIZE, anchor="end"))
    return "".join(parts)


def _legend(x: float, y: float, entries: Sequence[tuple[Swatch, str]], *, across: bool) -> str:
    """Legend entries from ``(x, y)``: in a row (``across``) or a column."""
    parts = ['<g class="legend">']
    for (kind, colour), label in entries:
        if kind == "box":
            parts.append(
                f'<rect x="{num(x)}" y="{num(y - 9)}" width="12" height="12" fill="{colour}"/>'
            )
        elif kind == "dot":
            parts.append(f'<circle cx="{num(x + 6)}" cy="{num(y - 3)}" r="5" fill="{colour}"/>')
        else:
            dash = ' stroke-dasharray="5 3"' if kind == "dashed" else ""
            parts.append(line(x, y - 3, x + 14, y - 3, colour, f'stroke-width="2"{dash}'))
            if kind == "line":
                parts.append(f'<circle cx="{num(x + 7)}" cy="{num(y - 3)}" r="3" fill="{colour}"/>')
        parts.append(text(x + 18, y + 1, label, size=LABEL_SIZE))
        if across:
            x += 18 + text_width(label, LABEL_SIZE) + 16
        else:
            y += 18
    parts.append("</g>")
    return "".join(parts)


def _legend_width(entries: Sequence[tuple[Swatch, str]]) -> float:
    return sum(18 + text_width(label, LABEL_SIZE) + 16 for _, label in entries) - 16


def bar_plot(comparison: MarginalComparison) -> str:
    """Noisy (normalised) and synthetic distributions of one column, side by side: one bar
    per category and series, its height proportional to the share of rows."""
    labels = comparison.labels[0]
    n = len(labels)
    noisy = [float(v) for v in comparison.noisy]
    synthetic = [float(v) for v in comparison.synthetic]
    width = min(1100.0, max(480.0, 17.0 * n + 190))
    left, right, top, plot_h = 64.0, 16.0, 56.0, 200.0
    plot_w = width - left - right
    base = top + plot_h
    height = base + _slanted_height(labels, sparse_positions(n)) + 8
    ticks, end = nice_ticks(max([*noisy, *synthetic, 0.0]) * 1.05)
    y = YScale(top, plot_h, end)
    slot = plot_w / max(n, 1)
    title = f"{comparison.clique[0]}  (TVD vs noisy marginal {comparison.tvd:.3f})"
    series = (
        ("noisy", "noisy marginal", NOISY_COLOUR, noisy, 0.1),
        ("synthetic", "synthetic", SYNTHETIC_COLOUR, synthetic, 0.5),
    )
    parts = [
        text(width / 2, 22, title, size=TITLE_SIZE, anchor="middle"),
        _y_grid(ticks, left, plot_w, y),
        text(16, top + plot_h / 2, "share of rows", size=LABEL_SIZE, anchor="middle", rotate=-90),
    ]
    for name, words, colour, shares, offset in series:
        parts.append(f'<g class="{name}" fill="{colour}">')
        for i, share in enumerate(shares):
            h = base - y(share)
            parts.append(
                f'<rect x="{num(left + slot * (i + offset))}" y="{num(base - h)}" '
                f'width="{num(slot * 0.4)}" height="{num(h)}"><title>'
                f"{_tooltip(labels[i], words, share)}</title></rect>"
            )
        parts.append("</g>")
    parts.append(line(left, base, left + plot_w, base, AXIS_COLOUR))
    parts.append(line(left, top, left, base, AXIS_COLOUR))
    parts.append(_x_ticks(labels, [left + slot * (i + 0.5) for i in range(n)], base))
    entries = [(("box", colour), words) for _, words, colour, _, _ in series]
    parts.append(_legend(left + plot_w - _legend_width(entries), top - 10, entries, across=True))
    return svg(width, height, f"1-way marginal of {title}", "".join(parts))


def _tooltip(label: str, series: str, share: float) -> str:
    """A mark's escaped tooltip: what it is, its series and its share."""
    return escape(f"{label}: {series} {share:.2%}")


def _heatmap_cells(data: Sequence[Sequence[float]], top_value: float) -> str:
    """One unit square per cell (the group scales them), coloured on the square-root scale."""
    cells = []
    for i, row in enumerate(data):
        for j, value in enumerate(row):
            colour = shade(math.sqrt(max(value, 0.0) / top_value))
            cells.append(f'<rect x="{j}" y="{i}" width="1" height="1" fill="{colour}"/>')
    return "".join(cells)


def heatmap_plot(comparison: MarginalComparison) -> str:
    """Noisy and synthetic 2-way distributions as two heatmaps on one colour scale (square
    root, so small cells stay visible), with a colour bar."""
    rows, cols = comparison.labels
    noisy = comparison.noisy.tolist()
    synthetic = comparison.synthetic.tolist()
    top_value = float(max(comparison.noisy.max(), comparison.synthetic.max(), 1e-12))
    panel_w, panel_h, top = 320.0, 240.0, 60.0
    shown_y = sparse_positions(len(rows), int(panel_h // (TICK_SIZE + 4)))  # no overlap
    y_labels = max((text_width(short(rows[i]), TICK_SIZE) for i in shown_y), default=0.0)
    margin = 22 + y_labels + 10  # y label, tick labels, ticks
    lefts = (margin, margin + panel_w + 24 + margin)
    bar_x = lefts[1] + panel_w + 24
    width = bar_x + 14 + 6 + text_width("0.000", TICK_SIZE) + 24
    base = top + panel_h
    x_labels = _slanted_height(cols, sparse_positions(len(cols)))
    height = base + x_labels + 24
    cell_w, cell_h = panel_w / max(len(cols), 1), panel_h / max(len(rows), 1)
    title = f"{' x '.join(comparison.clique)}  (TVD vs noisy marginal {comparison.tvd:.3f})"
    parts = [text(width / 2, 22, title, size=TITLE_SIZE, anchor="middle")]
    for left, name, words, data in (
        (lefts[0], "noisy", "noisy marginal", noisy),
        (lefts[1], "synthetic", "synthetic", synthetic),
    ):
        parts.append(text(left + panel_w / 2, top - 8, words, size=LABEL_SIZE, anchor="middle"))
        parts.append(
            f'<g class="cells {name}" shape-rendering="crispEdges" '
            f'transform="translate({num(left)} {num(top)}) scale({cell_w:.5g} {cell_h:.5g})">'
            f"{_heatmap_cells(data, top_value)}</g>"
        )
        parts.append(
            f'<rect x="{num(left)}" y="{num(top)}" width="{num(panel_w)}" '
            f'height="{num(panel_h)}" fill="none" stroke="{AXIS_COLOUR}"/>'
        )
        parts.append(_x_ticks(cols, [left + cell_w * (j + 0.5) for j in range(len(cols))], base))
        for i in shown_y:
            y = top + cell_h * (i + 0.5)
            parts.append(line(left - 4, y, left, y, AXIS_COLOUR))
            parts.append(text(left - 6, y + 3.5, short(rows[i]), size=TICK_SIZE, anchor="end"))
        parts.append(
            text(
                left + panel_w / 2,
                height - 8,
                comparison.clique[1],
                size=LABEL_SIZE,
                anchor="middle",
            )
        )
        parts.append(
            text(
                left - margin + 14,
                top + panel_h / 2,
                comparison.clique[0],
                size=LABEL_SIZE,
                anchor="middle",
                rotate=-90,
            )
        )
    parts.append(_colour_bar(bar_x, top, panel_h, top_value))
    label = f"2-way marginal of {title}, noisy and synthetic heatmaps"
    return svg(width, height, label, "".join(parts))


def _colour_bar(x: float, top: float, height: float, top_value: float) -> str:
    """The colour scale: stacked bands from 0 (bottom) to ``top_value``, ticked at round
    values placed on the square-root scale, and its label."""
    step = height / COLOUR_BAR_STEPS
    parts = ['<g class="colour-bar" shape-rendering="crispEdges">']
    for k in range(COLOUR_BAR_STEPS):
        y = top + height - (k + 1) * step
        parts.append(
            f'<rect x="{num(x)}" y="{num(y)}" width="14" height="{num(step + 0.5)}" '
            f'fill="{shade((k + 0.5) / COLOUR_BAR_STEPS)}"/>'
        )
    parts.append("</g>")
    parts.append(
        f'<rect x="{num(x)}" y="{num(top)}" width="14" height="{num(height)}" fill="none" '
        f'stroke="{AXIS_COLOUR}"/>'
    )
    ticks, _ = nice_ticks(top_value)
    for t in (t for t in ticks if t <= top_value * (1 + 1e-9)):
        y = top + height * (1 - math.sqrt(t / top_value))
        parts.append(line(x + 14, y, x + 18, y, AXIS_COLOUR))
        parts.append(text(x + 20, y + 3.5, tick_label(t), size=TICK_SIZE))
    label_x = x + 20 + text_width("0.000", TICK_SIZE) + 10
    parts.append(
        text(
            label_x,
            top + height / 2,
            "share of rows (square-root scale)",
            size=TICK_SIZE,
            anchor="middle",
            rotate=-90,
        )
    )
    return "".join(parts)


def budget_plot(points: Sequence[BudgetPoint], current_run: str) -> str:
    """The share of the dataset's lifetime cap used after each charge (a step plot to 100%).

    Shares add up exactly (zCDP composition), where epsilons do not: the one scale on which
    every release's cost and the cap can be drawn together.
    """
    left, top, plot_w, plot_h = 64.0, 44.0, 560.0, 200.0
    labels = ["start", *[p.charged_at.strftime("%Y-%m-%d %H:%M") for p in points]]
    values = [0.0, *[100 * p.cumulative_share for p in points]]
    xs = [left + plot_w * (0.04 + 0.92 * i / max(len(points), 1)) for i in range(len(values))]
    base = top + plot_h
    ticks, end = nice_ticks(max(100.0, *values) * 1.1)
    y = YScale(top, plot_h, end)
    mine = [i for i, p in enumerate(points, start=1) if p.run_id == current_run]
    entries: list[tuple[Swatch, str]] = [(("line", NOISY_COLOUR), "share of the cap used")]
    if mine:
        entries.append((("dot", CAP_COLOUR), "this release"))
    entries.append((("dashed", CAP_COLOUR), "lifetime cap (100%)"))
    width = left + plot_w + 24 + max(18 + text_width(w, LABEL_SIZE) for _, w in entries) + 12
    height = base + _slanted_height(labels, sparse_positions(len(labels))) + 8
    title = "Dataset budget over time (share of the lifetime cap used)"
    path = f"M{num(xs[0])} {num(y(values[0]))}" + "".join(
        f"H{num(xs[i])}V{num(y(values[i]))}" for i in range(1, len(values))
    )
    cap = 'class="cap" stroke-width="1.5" stroke-dasharray="6 4"'
    y_label = "% of the cap used"
    parts = [
        text(left + plot_w / 2, 22, title, size=TITLE_SIZE, anchor="middle"),
        _y_grid(ticks, left, plot_w, y),
        text(16, top + plot_h / 2, y_label, size=LABEL_SIZE, anchor="middle", rotate=-90),
        line(left, y(100), left + plot_w, y(100), CAP_COLOUR, cap),
        f'<path class="used" d="{path}" fill="none" stroke="{NOISY_COLOUR}" stroke-width="2"/>',
        f'<g class="markers" fill="{NOISY_COLOUR}">',
    ]
    for i, value in enumerate(values):
        what = "start" if i == 0 else f"{labels[i]} {points[i - 1].release}"
        parts.append(
            f'<circle cx="{num(xs[i])}" cy="{num(y(value))}" r="3.5">'
            f"<title>{_tooltip(what, 'cap used', value / 100)}</title></circle>"
        )
    parts.append("</g>")
    for i in mine:
        parts.append(
            f'<circle class="current" cx="{num(xs[i])}" cy="{num(y(values[i]))}" r="6" '
            f'fill="{CAP_COLOUR}"/>'
        )
    parts.append(line(left, base, left + plot_w, base, AXIS_COLOUR))
    parts.append(line(left, top, left, base, AXIS_COLOUR))
    parts.append(_x_ticks(labels, xs, base))
    parts.append(_legend(left + plot_w + 24, top + 10, entries, across=False))
    return svg(width, height, title, "".join(parts))
