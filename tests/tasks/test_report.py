"""The release report: its maths, its contents, and that it sees DP outputs only."""

from __future__ import annotations

import dataclasses
import inspect
import re
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from dpcore.accounting import PrivacyCap, PrivacyCost
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.marginals import Measurement
from dpcore.synth.tally import CodeTally
from tasks.report import ReportInputs, build_report_inputs, render_report
from tasks.report.compare import (
    best_noisy_marginal,
    noisy_marginal,
    synthetic_marginal,
)
from tasks.request import ReleaseRequest
from warehouse.ledger import Charge, HistoryRow
from warehouse.publish import PublishedRelease

CODEC = TableCodec(
    (
        ColumnCodec("colour", "category", categories=("red", "green", "blue")),
        ColumnCodec("size", "integer", edges=(0.0, 10.0, 20.0, 30.0), has_missing=True),
        ColumnCodec("shape", "category", categories=("round", "square")),
        ColumnCodec("weight", "float", edges=(0.0, 1.0, 2.0)),
        ColumnCodec("grade", "category", categories=("a", "b", "c", "d")),
    )
)
DOMAIN = CODEC.domain
NOW = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


def request(description: str = "A <b>test</b> release") -> ReleaseRequest:
    return ReleaseRequest(
        name="toy",
        description=description,
        source_table="raw.toy",
        codec=CODEC,
        cost=PrivacyCost(1.0, 1e-9),
        cap=PrivacyCap(4.0, 1e-6),
        method="independent",
        spec_hash="abc",
        spec_path="toy.yaml",
    )


def charge(seq: int, run_id: str) -> Charge:
    return Charge(
        "raw.toy", seq, run_id, "toy", "abc", 1.0, 1e-9, Decimal("0.015"),
        Decimal("0.015") * seq, NOW, "0" * 64, "1" * 64,
    )  # fmt: skip


def measurements(rng: np.random.Generator) -> list[Measurement]:
    one = [Measurement((c.name,), rng.integers(0, 500, c.size), 3.0) for c in CODEC.columns]
    pair = Measurement(("colour", "grade"), rng.integers(-5, 300, 12), 4.0)
    return [*one, pair]


def codes(rng: np.random.Generator, n: int = 2000) -> np.ndarray:
    return np.stack([rng.integers(0, c.size, n) for c in CODEC.columns], axis=1)


def inputs_for(description: str = "A <b>test</b> release") -> ReportInputs:
    rng = np.random.default_rng(7)
    published = PublishedRelease("toy", 2, "toy_v2", "run-2", 2000, NOW)
    ledger = [
        HistoryRow(charge(1, "run-1"), 0.7, 1e-6, "published"),
        HistoryRow(charge(2, "run-2"), 1.0, 1e-6, "published"),
    ]
    return build_report_inputs(
        request(description),
        published,
        charge(2, "run-2"),
        measurements(rng),
        CodeTally.of(codes(rng), DOMAIN, [("colour", "grade")]),
        ledger,
        utility_passed=True,
        max_one_way=4,
    )


def test_a_projected_marginal_sums_the_other_columns_in_clique_order() -> None:
    values = np.arange(12)  # colour (3) x grade (4), C order
    m = Measurement(("colour", "grade"), values, 1.0)
    grid = values.reshape(3, 4)
    assert noisy_marginal(m, DOMAIN, ("grade",)).tolist() == grid.sum(axis=0).tolist()
    assert noisy_marginal(m, DOMAIN, ("grade", "colour")).tolist() == grid.T.tolist()


def test_the_least_noisy_covering_measurement_is_used() -> None:
    one = Measurement(("grade",), np.array([1, 2, 3, 4]), 10.0)  # variance 100 per cell
    pair = Measurement(("colour", "grade"), np.ones(12, dtype=np.int64), 2.0)  # 3 x 4 = 12
    assert best_noisy_marginal([one, pair], DOMAIN, ("grade",)).tolist() == [3, 3, 3, 3]
    assert best_noisy_marginal([one], DOMAIN, ("colour",)) is None


def test_synthetic_marginal_counts_codes() -> None:
    sample = np.array([[0, 1, 0, 0, 3], [0, 2, 1, 1, 3], [2, 1, 0, 0, 0]])
    counts = synthetic_marginal(sample, DOMAIN, ("colour", "grade"))
    assert counts.shape == (3, 4) and counts.sum() == 3
    assert counts[0, 3] == 2 and counts[2, 0] == 1


def test_inputs_rank_marginals_by_distance_and_keep_the_ledger() -> None:
    inputs = inputs_for()
    assert len(inputs.one_way) == 4  # capped
    assert len(inputs.one_way_tvd) == len(CODEC.columns)  # all listed
    tvds = [c.tvd for c in inputs.one_way]
    assert tvds == sorted(tvds, reverse=True)
    assert [c.clique for c in inputs.two_way] == [("colour", "grade")]
    assert [p.cumulative_epsilon for p in inputs.budget] == [0.7, 1.0]
    assert [n.cells for n in inputs.noise] == [3, 4, 2, 2, 4, 12]
    assert inputs.facts.version == 2 and inputs.facts.rho == pytest.approx(0.015)


def test_the_report_is_self_contained_with_budget_and_utility_plots() -> None:
    html = render_report(inputs_for('Census <script>alert("x")</script> & co'))
    plots = re.findall(r'<figure class="plot" data-plot="([^"]*)"><svg ', html)
    assert "budget over time" in plots
    assert sum(name.startswith("1-way") for name in plots) == 4
    assert sum(name.startswith("2-way") for name in plots) == 1
    assert "<img" not in html and "data:" not in html  # inline SVG, no embedded files
    assert "<script>" not in html and "&lt;script&gt;" in html  # text is escaped
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external resources
    # The noise table: each marginal, how it was chosen, its cells and sigma.
    assert re.search(r'<td>colour x grade</td><td>[a-z 0-9]+</td><td class="num">12</td>', html)
    assert 'class="lead"' in html and "&#x27;s lifetime cap" in html  # the summary
    assert "noise floor" in html and "is used and" in html
    assert "<thead><tr><th></th>" not in html  # no empty header row


def test_the_headline_is_the_reports_summary_and_the_artifacts() -> None:
    """One computation of the headline figures feeds the report's lead and the artifact."""
    from tasks.artifacts import headline_markdown
    from tasks.report import headline

    inputs = inputs_for()
    h = headline(inputs)
    mine = [p for p in inputs.budget if p.run_id == inputs.facts.run_id]
    assert h.cost_share == mine[0].share
    tvds = [c.tvd for c in inputs.one_way_all]
    assert h.mean_tvd == pytest.approx(sum(tvds) / len(tvds))
    assert h.noise_floor is not None and h.noise_floor > 0
    lead = render_report(inputs).split('id="summary">')[1].split("</p>")[0]
    markdown = headline_markdown(h)
    for figure in (f"{h.mean_tvd:.3f}", f"{h.noise_floor:.3f}", "lifetime cap"):
        assert figure in lead and figure in markdown, figure
    assert '<h3 id="two-way">' in render_report(inputs)  # the 2-way section has an anchor


def test_the_report_takes_only_dp_outputs() -> None:
    """The renderer sees only ReportInputs; the builder only DP outputs and public facts."""
    assert list(inspect.signature(render_report).parameters) == ["inputs"]
    allowed = {
        "request": "ReleaseRequest",  # the public spec
        "published": "PublishedRelease",  # the catalog row
        "receipt": "Charge",  # the ledger charge
        "measurements": "Sequence[Measurement]",  # noisy measurements
        "synthetic": "CodeTally",  # counts of the synthetic codes
        "ledger": "Sequence[HistoryRow]",
        "utility_passed": "bool",
        "refresh_of": "str | None",  # a run id (refreshes only)
        "data_docs": "str | None",  # a link to GX's Data Docs of the synthetic table
        "max_one_way": "int",
        "max_two_way": "int",
    }
    params = inspect.signature(build_report_inputs).parameters
    assert {n: p.annotation for n, p in params.items()} == allowed


def test_the_report_links_the_data_docs_when_they_were_built() -> None:
    inputs = inputs_for("Census")
    assert 'id="data-docs"' not in render_report(inputs)
    linked = dataclasses.replace(inputs, data_docs="data-docs/run-1/index.html")
    assert '<a href="data-docs/run-1/index.html">' in render_report(linked)
