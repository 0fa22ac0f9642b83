"""The report's hand-drawn SVG charts: well-formed, accessible, and drawing the numbers given."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tasks.report import BudgetPoint, MarginalComparison, render_report
from tasks.report.plots import (
    CAP_COLOUR,
    NOISY_COLOUR,
    SYNTHETIC_COLOUR,
    bar_plot,
    budget_plot,
    heatmap_plot,
)
from tasks.report.svg import RAMP, nice_ticks, shade, sparse_positions
from tests.tasks.test_report import inputs_for

NS = {"s": "http://www.w3.org/2000/svg"}
START = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


def parse(chart: str) -> ET.Element:
    """The chart as XML, checked for what every chart needs: an image role, a name, a
    viewBox, and no id (charts repeat on one page)."""
    root = ET.fromstring(chart)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img" and root.get("aria-label")
    title = root.find("s:title", NS)
    assert title is not None and title.text == root.get("aria-label")
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert " id=" not in chart and "href" not in chart  # nothing to collide, nothing external
    return root


def one_way(
    labels: tuple[str, ...], noisy: list[float], synthetic: list[float]
) -> MarginalComparison:
    return MarginalComparison(("income",), (labels,), np.array(noisy), np.array(synthetic))


def height(rect: ET.Element) -> float:
    return float(rect.get("height", "nan"))


def test_a_bar_plot_has_one_bar_per_category_and_series_scaled_to_its_share() -> None:
    labels = ("<=50K", ">50K & more", "none")
    comparison = one_way(labels, [0.6, 0.4, 0.0], [0.5, 0.3, 0.2])
    root = parse(bar_plot(comparison))
    for name, words, colour, shares in (
        ("noisy", "noisy marginal", NOISY_COLOUR, [0.6, 0.4, 0.0]),
        ("synthetic", "synthetic", SYNTHETIC_COLOUR, [0.5, 0.3, 0.2]),
    ):
        group = root.find(f"s:g[@class='{name}']", NS)
        assert group is not None and group.get("fill") == colour
        bars = group.findall("s:rect", NS)
        assert len(bars) == len(labels)
        per_share = height(bars[0]) / shares[0]
        assert per_share > 100  # a visible scale
        for bar, share in zip(bars, shares, strict=True):
            assert height(bar) == pytest.approx(share * per_share, abs=0.1)
        # Each bar's tooltip names its category (escaped in the markup, plain once parsed).
        tips = [bar.findtext("s:title", namespaces=NS) for bar in bars]
        assert tips[1] == f">50K & more: {words} {shares[1]:.2%}"
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "income  (TVD vs noisy marginal 0.200)" in texts
    assert {"share of rows", "noisy marginal", "synthetic", "<=50K", "0", "0.6"} <= set(texts)


def test_a_wide_column_labels_sparse_ticks_but_draws_every_bar() -> None:
    labels = tuple(str(age) for age in range(17, 91))  # 74 categories, as Adult's age
    shares = list(np.full(74, 1 / 74))
    root = parse(bar_plot(one_way(labels, shares, shares)))
    assert len(root.findall("s:g[@class='synthetic']/s:rect", NS)) == 74
    ticks = [
        t
        for t in root.iter("{http://www.w3.org/2000/svg}text")
        if "rotate(-60" in str(t.get("transform"))
    ]
    assert 10 <= len(ticks) <= 25 and ticks[0].text == "17"


def test_a_heatmap_draws_every_cell_of_both_tables_on_one_square_root_scale() -> None:
    noisy = np.array([[0.5, 0.0, 0.1], [0.2, 0.1, 0.1]])
    synthetic = np.array([[0.4, 0.1, 0.125], [0.2, 0.1, 0.075]])
    comparison = MarginalComparison(
        ("sex", "race"), (("F", "M"), ("A", "B & C", "D")), noisy, synthetic
    )
    root = parse(heatmap_plot(comparison))
    for name, data in (("noisy", noisy), ("synthetic", synthetic)):
        cells = root.findall(f"s:g[@class='cells {name}']/s:rect", NS)
        assert len(cells) == data.size  # rows x columns
        by_place = {(int(c.get("y", "")), int(c.get("x", ""))): c.get("fill") for c in cells}
        for (i, j), value in np.ndenumerate(data):
            assert by_place[i, j] == shade(np.sqrt(value / 0.5))  # the top value is 0.5
        if name == "noisy":  # the largest cell is the ramp's top, an empty one its bottom
            assert (by_place[0, 0], by_place[0, 1]) == (RAMP[-1], RAMP[0])
    bands = root.findall("s:g[@class='colour-bar']/s:rect", NS)
    assert len(bands) > 10 and bands[0].get("fill") != bands[-1].get("fill")
    texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"noisy marginal", "synthetic", "sex", "race", "B & C"} <= texts
    assert "share of rows (square-root scale)" in texts


def points(*shares: float) -> list[BudgetPoint]:
    return [
        BudgetPoint(
            i, START + timedelta(weeks=i), "adult", f"run-{i}", 1.0, float(i), "published",
            share=shares[0], cumulative_share=share,
        )
        for i, share in enumerate(shares, start=1)
    ]  # fmt: skip


def test_the_budget_plot_steps_up_to_each_charge_and_marks_this_release() -> None:
    root = parse(budget_plot(points(0.2, 0.4, 0.6), "run-2"))
    markers = root.findall("s:g[@class='markers']/s:circle", NS)
    assert len(markers) == 4  # the start and each charge
    ys = [float(m.get("cy", "nan")) for m in markers]
    base = ys[0]
    per_percent = (base - ys[1]) / 20
    assert [base - y for y in ys] == pytest.approx(
        [0, 20 * per_percent, 40 * per_percent, 60 * per_percent], abs=0.1
    )
    # A step plot: horizontal then vertical moves, one pair per charge.
    path = root.find("s:path[@class='used']", NS)
    assert path is not None and len(re.findall(r"H[\d.]+V[\d.]+", path.get("d", ""))) == 3
    (current,) = root.findall("s:circle[@class='current']", NS)
    assert current.get("fill") == CAP_COLOUR and current.get("cy") == markers[2].get("cy")
    cap = root.find("s:line[@class='cap']", NS)
    assert cap is not None and cap.get("stroke-dasharray")
    assert float(cap.get("y1", "nan")) == pytest.approx(base - 100 * per_percent, abs=0.1)
    texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"start", "2026-01-19 03:00", "this release", "lifetime cap (100%)"} <= texts


def test_the_budget_plot_of_an_empty_ledger_or_another_run() -> None:
    assert "this release" not in budget_plot(points(0.5), "run-9")
    root = parse(budget_plot([], "run-1"))
    assert len(root.findall("s:g[@class='markers']/s:circle", NS)) == 1


def test_every_chart_of_the_report_is_well_formed_xml() -> None:
    html = render_report(inputs_for('Census <script>alert("x")</script> & co'))
    charts = re.findall(r"<svg .*?</svg>", html, flags=re.DOTALL)
    assert len(charts) == 1 + 4 + 1  # budget, 1-way bars, one 2-way pair
    for chart in charts:
        parse(chart)


def test_round_ticks_colours_and_sparse_labels() -> None:
    assert nice_ticks(0.23) == ([0.0, 0.05, 0.1, 0.15, 0.2, 0.25], 0.25)
    assert nice_ticks(110.0)[1] == 125.0 and nice_ticks(0.0)[1] == 1.0
    assert (shade(0.0), shade(1.0), shade(2.0)) == ("#440154", "#fde725", "#fde725")
    assert list(sparse_positions(3)) == [0, 1, 2]
    assert len(sparse_positions(100)) == 25


def test_rendering_a_report_imports_no_plotting_library() -> None:
    """A run's process stays light: the charts are our own strings."""
    code = (
        "import sys; from tests.tasks.test_report import inputs_for; "
        "from tasks.report import render_report; render_report(inputs_for()); "
        "print('HEAVY', [m for m in ('matplotlib', 'PIL') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr
