"""Utility suite: synthetic tables drawn from the noisy marginals pass; broken ones fail.

All randomness comes from seeded numpy generators, so every test is deterministic; the
docstrings of statistical tests give the false-failure rate over the seed's choice.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from dpcore.distributions import clipped_distribution
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.marginals import Measurement
from expectations import (
    SchemaMismatchError,
    UtilityConfig,
    UtilityReport,
    check_utility,
    summarise,
)
from expectations.errors import InvalidConfigError
from expectations.noisy_marginals import one_way_estimates

WORKCLASS = ColumnCodec(
    name="workclass",
    kind="category",
    categories=("Private", "State-gov", "Self-emp"),
    has_missing=True,
    missing_tokens=("?",),
    on_invalid="missing",
)
AGE = ColumnCodec(name="age", kind="integer", edges=(17, 30, 50, 91), on_invalid="clamp")
SEX = ColumnCodec(name="sex", kind="category", categories=("Female", "Male"))
HOURS = ColumnCodec(name="hours", kind="float", edges=(0.0, 40.0, 100.0), on_invalid="clamp")
CODEC = TableCodec((WORKCLASS, AGE, SEX, HOURS))
TRUTH = {
    "workclass": [0.6, 0.2, 0.1, 0.1],
    "age": [0.5, 0.3, 0.2],
    "sex": [0.35, 0.65],
    "hours": [0.7, 0.3],
}
SOURCE_ROWS = 5000
SIGMA = 2.0


@dataclass(frozen=True)
class Scenario:
    """Noisy measurements of a fake source and a synthetic table drawn from them."""

    measurements: tuple[Measurement, ...]
    noisy_total: float
    codes: npt.NDArray[np.int64]
    synthetic: pd.DataFrame


NULLABLE = {"integer": "Int64", "float": "Float64"}


def _decode(
    codes: npt.NDArray[np.int64], rng: np.random.Generator, nullable: bool = True
) -> pd.DataFrame:
    """The published-style table: decoded values, NULL where the code is missing.

    ``nullable`` uses the release's dtypes (categoricals, Int64/Float64 with pd.NA, as
    ``tasks.synthesize.decode_frame`` does); otherwise object columns holding None.
    """
    data: dict[str, object] = {}
    for i, col in enumerate(CODEC.columns):
        decoded = col.decode(codes[:, i], rng)
        if not nullable:
            data[col.name] = pd.Series(decoded.values, dtype=object).where(~decoded.missing, None)
        elif col.kind == "category":
            index = np.where(decoded.missing, -1, codes[:, i])
            data[col.name] = pd.Categorical.from_codes(index, categories=list(col.categories))
        else:
            series = pd.Series(decoded.values, dtype=NULLABLE[col.kind])
            series[decoded.missing] = pd.NA
            data[col.name] = series
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """Source of 5000 rows, Gaussian-noised measurements (σ=2), synthetic rows drawn from them.

    Measured: 1-way on age and the 2-way (workclass, sex); hours is not measured. Synthetic
    codes are drawn column by column from the clipped, normalised noisy 1-way marginals,
    with as many rows as the rounded noisy total.
    """
    rng = np.random.default_rng(20261128)
    source = np.column_stack(
        [rng.choice(len(p), size=SOURCE_ROWS, p=p) for p in TRUTH.values()]
    ).astype(np.int64)

    def noisy(exact: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return exact + np.rint(rng.normal(0.0, SIGMA, exact.shape)).astype(np.int64)

    age = np.bincount(source[:, 1], minlength=AGE.size)
    pair = np.bincount(source[:, 0] * SEX.size + source[:, 2], minlength=WORKCLASS.size * 2)
    measurements = (
        Measurement(clique=("age",), values=noisy(age), sigma=SIGMA, private=False),
        Measurement(clique=("workclass", "sex"), values=noisy(pair), sigma=SIGMA, private=False),
    )
    noisy_total = float(np.mean([m.total() for m in measurements]))
    estimates = one_way_estimates(CODEC, measurements)
    rows = round(noisy_total)
    columns = []
    for col in CODEC.columns:
        est = estimates.get(col.name)
        q = clipped_distribution(est.counts) if est else np.full(col.size, 1.0 / col.size)
        columns.append(rng.choice(col.size, size=rows, p=q))
    codes = np.column_stack(columns).astype(np.int64)
    return Scenario(measurements, noisy_total, codes, _decode(codes, rng))


def _run(s: Scenario, **changes: object) -> UtilityReport:
    """The checks on the scenario's table (``synthetic``/``codes`` may be replaced).

    The table is summarised in three chunks, as the release task streams it, and validated
    by Great Expectations as one batch (``batches`` may be replaced).
    """
    args: dict[str, object] = {
        "synthetic": s.synthetic,
        "codes": s.codes,
        "codec": CODEC,
        "measurements": s.measurements,
        "noisy_total": s.noisy_total,
    }
    args.update(changes)
    synthetic = args.pop("synthetic")
    codes = args.pop("codes")
    assert isinstance(synthetic, pd.DataFrame)
    summary = summarise(synthetic, codes, CODEC)  # type: ignore[arg-type]
    if len(synthetic) == len(codes):  # type: ignore[arg-type]
        cuts = [0, len(synthetic) // 3, len(synthetic) // 2, len(synthetic)]
        parts = [
            summarise(synthetic.iloc[a:b], _rows(codes, a, b), CODEC)
            for a, b in itertools.pairwise(cuts)
        ]
        assert functools.reduce(lambda x, y: x.plus(y), parts) == summary
    args.setdefault("batches", [synthetic])
    return check_utility(summary, **args)  # type: ignore[arg-type]


def _rows(codes: object, a: int, b: int) -> object:
    return codes.iloc[a:b] if isinstance(codes, pd.DataFrame) else codes[a:b]  # type: ignore[index]


def _check(report: UtilityReport, name: str, column: str | None) -> bool:
    (row,) = [c for c in report.checks if c.name == name and c.column == column]
    return row.passed


def test_synthetic_from_noisy_marginals_passes(scenario: Scenario) -> None:
    """Rows drawn from the noisy 1-way distributions pass.

    False-failure rate: TVD of n≈5000 draws moves by at most 1/n per draw, so (McDiarmid)
    P(TVD ≥ E[TVD] + t) ≤ exp(-2 n t²). The threshold exceeds E[TVD] (the sampling allowance)
    by at least max_tvd − (approximation slack) ≥ 0.045, giving ≤ exp(-20) ≈ 2e-9 per column
    and < 1e-8 for the three measured columns.
    """
    report = _run(scenario)
    assert report.success, report.failed()
    assert report.unmeasured_columns == ("hours",)
    assert not report.measurements_private
    assert {c.column for c in report.checks if c.name == "marginal_tvd"} == {
        "workclass",
        "age",
        "sex",
    }
    tvd = [c for c in report.checks if c.name == "marginal_tvd"]
    assert all(0.0 <= c.observed < 0.05 < c.threshold for c in tvd)


def test_columns_not_decoded_as_the_release_decodes_fail_their_type(scenario: Scenario) -> None:
    """The release decodes to categoricals and nullable numbers; object columns are a bug."""
    plain = _decode(scenario.codes, np.random.default_rng(7), nullable=False)
    assert plain["workclass"].isna().any()  # the missing code is exercised
    report = _run(scenario, synthetic=plain)
    assert {(c.name, c.column) for c in report.failed()} == {
        ("type", c.name) for c in CODEC.columns
    }


def test_codes_as_frame_give_same_report(scenario: Scenario) -> None:
    codes = pd.DataFrame(scenario.codes, columns=[c.name for c in CODEC.columns])
    assert _run(scenario, codes=codes).checks == _run(scenario).checks


def test_synthetic_index_is_ignored(scenario: Scenario) -> None:
    shuffled = scenario.synthetic.set_axis(np.arange(len(scenario.synthetic))[::-1] * 3)
    assert _run(scenario, synthetic=shuffled).checks == _run(scenario).checks


def test_flipped_column_distribution_fails(scenario: Scenario) -> None:
    """Reversing age's codes ([.5,.3,.2] → [.2,.3,.5], TVD ≈ 0.3) fails that column only.

    False-pass rate for age: the threshold is ≈ 0.06, so passing needs the TVD to fall by
    ≥ 0.24 below its mean: ≤ exp(-2·5000·0.24²) ≈ e^-576. The other columns are unchanged
    and pass with the false-failure rate stated in the passing test.
    """
    codes = scenario.codes.copy()
    codes[:, 1] = AGE.size - 1 - codes[:, 1]
    report = _run(scenario, codes=codes, synthetic=_decode(codes, np.random.default_rng(1)))
    assert not report.success
    assert [(c.name, c.column) for c in report.failed()] == [("marginal_tvd", "age")]
    (age,) = report.failed()
    assert age.observed > 0.2 > age.threshold


def test_value_outside_domain_fails(scenario: Scenario) -> None:
    synthetic = scenario.synthetic.copy()
    synthetic["workclass"] = synthetic["workclass"].cat.add_categories(["Never-worked"])
    synthetic.loc[0, "age"] = 91  # integer bins are half-open: the top value is 90
    synthetic.loc[1, "workclass"] = "Never-worked"
    synthetic.loc[2, "sex"] = None  # sex has no missing code
    report = _run(scenario, synthetic=synthetic)
    assert not report.success
    failed = {(c.name, c.column): c.observed for c in report.failed()}
    assert failed == {
        ("domain", "age"): 1.0,
        ("domain", "workclass"): 1.0,
        ("not_null", "sex"): 1.0,
    }


def test_code_outside_range_fails(scenario: Scenario) -> None:
    codes = scenario.codes.copy()
    codes[0, 2] = SEX.size  # one past the last code
    codes[1, 2] = -1
    report = _run(scenario, codes=codes)
    assert [(c.name, c.column, c.observed) for c in report.failed()] == [("codes", "sex", 2.0)]


def test_row_count_far_from_noisy_total_fails(scenario: Scenario) -> None:
    half = len(scenario.synthetic) // 2
    report = _run(scenario, synthetic=scenario.synthetic.iloc[:half], codes=scenario.codes[:half])
    assert [c.name for c in report.failed()] == ["row_count"]
    (row,) = report.failed()
    assert row.expectation == "ExpectTableRowCountToBeBetween"
    assert row.observed == half
    assert row.threshold == int(scenario.noisy_total * 1.05)


def test_row_count_tolerance_is_configurable(scenario: Scenario) -> None:
    report = _run(scenario, noisy_total=scenario.noisy_total * 1.08)
    assert not _check(report, "row_count", None)
    lenient = _run(
        scenario, noisy_total=scenario.noisy_total * 1.08, config=UtilityConfig(row_tolerance=0.1)
    )
    assert _check(lenient, "row_count", None)


def test_structural_mismatches_raise(scenario: Scenario) -> None:
    with pytest.raises(SchemaMismatchError, match="'sex'"):
        _run(scenario, synthetic=scenario.synthetic.drop(columns=["sex"]))
    with pytest.raises(SchemaMismatchError, match="rows"):
        _run(scenario, codes=scenario.codes[:10])
    with pytest.raises(SchemaMismatchError, match="integers"):
        _run(scenario, codes=scenario.codes.astype(float))


def test_report_rows_are_plain_and_frozen(scenario: Scenario) -> None:
    report = _run(scenario)
    rows = report.rows_for_table()
    assert [r["check"] for r in rows[:2]] == ["columns", "row_count"]
    assert all(set(r) == {"check", "column", "observed", "threshold", "passed"} for r in rows)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.success = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes", [{"max_tvd": -0.1}, {"max_tvd": 2.0}, {"row_tolerance": float("nan")}]
)
def test_bad_config_is_rejected(changes: dict[str, float]) -> None:
    with pytest.raises(InvalidConfigError):
        UtilityConfig(**changes)


def test_an_empty_table_fails_only_its_row_count(scenario: Scenario) -> None:
    report = _run(scenario, synthetic=scenario.synthetic.iloc[:0], codes=scenario.codes[:0])
    assert report.rows == 0
    assert [c.name for c in report.failed()] == ["row_count"]


def test_a_summary_of_other_columns_is_refused(scenario: Scenario) -> None:
    other = TableCodec((WORKCLASS, AGE, SEX))
    summary = summarise(scenario.synthetic, scenario.codes[:, :3], other)
    with pytest.raises(SchemaMismatchError, match="summary is of columns"):
        check_utility(summary, CODEC, scenario.measurements, scenario.noisy_total)
