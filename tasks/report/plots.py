"""Plots of the release report, drawn with matplotlib's Agg renderer into base64 PNGs.

``matplotlib.figure.Figure`` is used directly (no ``pyplot``): no global figure state and
no display backend, so rendering is safe inside a worker or a headless server.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure

from tasks.report.inputs import BudgetPoint, MarginalComparison

NOISY_COLOUR = "#4c72b0"
SYNTHETIC_COLOUR = "#dd8452"
CAP_COLOUR = "#c44e52"
MAX_TICK_LABELS = 25


def png_base64(figure: Figure) -> str:
    """The figure as a base64-encoded PNG (for ``<img src="data:image/png;base64,...">``)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _sparse_ticks(axes: Axes, labels: Sequence[str], axis: str = "x") -> None:
    step = max(1, int(np.ceil(len(labels) / MAX_TICK_LABELS)))
    positions = list(range(0, len(labels), step))
    shown = [labels[i] for i in positions]
    if axis == "x":
        axes.set_xticks(positions, shown, rotation=60, ha="right", fontsize=7)
    else:
        axes.set_yticks(positions, shown, fontsize=7)


def budget_plot(points: Sequence[BudgetPoint], current_run: str) -> str:
    """The share of the dataset's lifetime cap used after each charge (a step plot to 100%).

    Shares add up exactly (zCDP composition), where epsilons do not: the one scale on which
    every release's cost and the cap can be drawn together.
    """
    figure = Figure(figsize=(7.0, 3.2))
    axes = figure.add_subplot()
    xs = list(range(len(points) + 1))
    ys = [0.0, *[100 * p.cumulative_share for p in points]]
    axes.step(xs, ys, where="post", color=NOISY_COLOUR, label="share of the cap used")
    axes.plot(xs, ys, "o", color=NOISY_COLOUR, markersize=4)
    for i, p in enumerate(points, start=1):
        if p.run_id == current_run:
            axes.plot(
                [i],
                [100 * p.cumulative_share],
                "o",
                color=CAP_COLOUR,
                markersize=8,
                label="this release",
            )
    axes.axhline(100, color=CAP_COLOUR, linestyle="--", label="lifetime cap (100%)")
    labels = ["start", *[p.charged_at.strftime("%Y-%m-%d %H:%M") for p in points]]
    _sparse_ticks(axes, labels)
    axes.set_ylim(0, max(100.0, max(ys)) * 1.1)
    axes.set_ylabel("% of the cap used")
    axes.set_title("Dataset budget over time (share of the lifetime cap used)")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_base64(figure)


def bar_plot(comparison: MarginalComparison) -> str:
    """Noisy (normalised) and synthetic distributions of one column, side by side."""
    labels = comparison.labels[0]
    width = min(12.0, max(5.0, 0.18 * len(labels) + 2))
    figure = Figure(figsize=(width, 3.2))
    axes = figure.add_subplot()
    x = np.arange(len(labels))
    axes.bar(x - 0.2, comparison.noisy, width=0.4, color=NOISY_COLOUR, label="noisy marginal")
    axes.bar(x + 0.2, comparison.synthetic, width=0.4, color=SYNTHETIC_COLOUR, label="synthetic")
    _sparse_ticks(axes, list(labels))
    axes.set_ylabel("share of rows")
    axes.set_title(f"{comparison.clique[0]}  (TVD vs noisy marginal {comparison.tvd:.3f})")
    axes.legend(fontsize=8)
    return png_base64(figure)


def heatmap_plot(comparison: MarginalComparison) -> str:
    """Noisy and synthetic 2-way distributions as two heatmaps on one colour scale."""
    rows, cols = comparison.labels
    figure = Figure(figsize=(10.0, 4.0))
    top = float(max(comparison.noisy.max(), comparison.synthetic.max(), 1e-12))
    image = None
    for k, (title, data) in enumerate(
        (("noisy marginal", comparison.noisy), ("synthetic", comparison.synthetic))
    ):
        axes = figure.add_subplot(1, 2, k + 1)
        image = axes.imshow(
            data, aspect="auto", cmap="viridis", norm=PowerNorm(gamma=0.5, vmin=0, vmax=top)
        )
        _sparse_ticks(axes, list(cols))
        _sparse_ticks(axes, list(rows), axis="y")
        axes.set_xlabel(comparison.clique[1])
        axes.set_ylabel(comparison.clique[0])
        axes.set_title(title, fontsize=9)
    if image is not None:
        figure.colorbar(
            image, ax=figure.axes, shrink=0.8, label="share of rows (square-root scale)"
        )
    figure.suptitle(
        f"{' x '.join(comparison.clique)}  (TVD vs noisy marginal {comparison.tvd:.3f})"
    )
    return png_base64(figure)
