"""Utility suite: does the synthetic table agree with the noisy measurements it was fit to?

Inputs are a :class:`~expectations.synthetic_summary.SyntheticSummary` of the synthetic table
(accumulated chunk by chunk over exactly the rows that get published: row count, code counts,
decoded-value summaries), the noisy measurements and the noisy total. Source rows are never
touched, so every number in the :class:`UtilityReport` is a function of DP outputs and is
safe to publish (if the measurements are private, see ``measurements_private``).

The table may be far larger than memory, so GX runs on a small aggregate frame instead of
the rows: one row per distinct *value class* of each column (each distinct category, the
smallest and largest number, a NULL if there is one; the smallest and largest code). A class
is valid exactly when every row in it is, so each expectation passes on the aggregate frame
exactly when it would pass on the whole table; the ``observed`` counts are the numbers of
offending rows, taken from the summary's counts.

Both suites run in one short-lived child process (:mod:`expectations.child`), so the run's
own process never imports GX; only these aggregates of DP outputs are sent to it.

Checks (each one GX expectation):

* ``row_count`` — ``ExpectColumnValuesToBeBetween`` on the summary's row count: rows within
  ``row_tolerance`` (relative) of the noisy total. The synthesizer picks its row count from
  the noisy total, so this catches plumbing bugs, not noise.
* ``domain`` — every decoded value inside the public domain: ``ExpectColumnValuesToBeInSet``
  (categories) or ``ExpectColumnValuesToBeBetween`` (numeric bounds), plus
  ``ExpectColumnValuesToNotBeNull`` for columns without a missing code.
* ``codes`` — every code in ``[0, size)``: ``ExpectColumnValuesToBeBetween`` on the codes.
* ``marginal_tvd`` — per measured column, the total variation distance between the synthetic
  1-way distribution (from the code counts) and the (combined, clipped, normalised) noisy
  1-way distribution. The TVD is summed by ``ExpectColumnSumToBeBetween`` over a small frame
  of ``|p - q| / 2`` cells (TVD tolerates zero cells, unlike KL divergence). Allowed:
  ``max_tvd + allowance_scale * (noise allowance + sampling allowance)``, see
  :mod:`expectations.noisy_marginals`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from dpcore.distributions import clipped_distribution, half_abs_diff
from dpcore.encoding import TableCodec
from dpcore.marginals import Measurement
from expectations.child import validate
from expectations.errors import InvalidConfigError, SchemaMismatchError
from expectations.noisy_marginals import (
    noise_allowance,
    one_way_estimates,
    sampling_allowance,
)
from expectations.runner import ExpectationOutcome
from expectations.synthetic_summary import SyntheticSummary
from expectations.validation import ExpectationSpec, Validation

logger = logging.getLogger(__name__)

_CODE_PREFIX = "code::"
_ROWS = "table::rows"


@dataclass(frozen=True)
class UtilityConfig:
    """Thresholds of the utility suite.

    ``max_tvd`` is the model error we accept beyond what noise and sampling explain;
    ``row_tolerance`` the relative distance of the row count from the noisy total;
    ``allowance_scale`` multiplies the expected noise and sampling error (0 disables them).
    """

    max_tvd: float = 0.05
    row_tolerance: float = 0.05
    allowance_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_tvd", "row_tolerance", "allowance_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise InvalidConfigError(
                    f"UtilityConfig.{name} must be a finite number >= 0, got {value!r}"
                )
        if self.max_tvd > 1.0:
            raise InvalidConfigError(
                f"UtilityConfig.max_tvd is a total variation distance (0..1), got {self.max_tvd}"
            )


@dataclass(frozen=True)
class UtilityCheck:
    """One check row: ``observed`` must not exceed ``threshold``.

    For ``row_count`` the observed value is the relative deviation ``|rows - total| / total``;
    for ``domain`` and ``codes`` it is the number of offending values (threshold 0).
    """

    name: str
    column: str | None
    observed: float
    threshold: float
    passed: bool


@dataclass(frozen=True)
class UtilityReport:
    """Result of the utility suite. Derived from synthetic rows and noisy measurements only."""

    success: bool
    rows: int
    noisy_total: float
    checks: tuple[UtilityCheck, ...]
    unmeasured_columns: tuple[str, ...]
    measurements_private: bool
    expectations: tuple[ExpectationOutcome, ...]

    def failed(self) -> tuple[UtilityCheck, ...]:
        """The checks that did not pass."""
        return tuple(c for c in self.checks if not c.passed)

    def rows_for_table(self) -> list[dict[str, object]]:
        """The checks as a list of plain dicts (e.g. for a table artifact)."""
        return [
            {
                "check": c.name,
                "column": c.column or "",
                "observed": c.observed,
                "threshold": c.threshold,
                "passed": c.passed,
            }
            for c in self.checks
        ]


def check_utility(
    summary: SyntheticSummary,
    codec: TableCodec,
    measurements: Sequence[Measurement],
    noisy_total: float,
    config: UtilityConfig | None = None,
    expected_rows: int | None = None,
) -> UtilityReport:
    """Run the utility suite on the summary of a synthetic table (see the module docstring).

    ``expected_rows`` is the row count the table was asked for (a spec's ``rows`` or a run's
    override); without it the row count is checked against the noisy total.

    Raises :class:`SchemaMismatchError` when the summary is not of ``codec``'s columns and
    :class:`~expectations.errors.ExpectationRunError` when an expectation errors.
    """
    config = config or UtilityConfig()
    names = tuple(c.name for c in codec.columns)
    if tuple(v.name for v in summary.values) != names or summary.codes.domain != codec.domain:
        raise SchemaMismatchError(
            f"the summary is of columns {[v.name for v in summary.values]}, not the codec's "
            f"{list(names)}; summarise the table with the codec it was decoded with."
        )
    rows = summary.rows
    total = max(float(noisy_total), 0.0)

    target = total if expected_rows is None else float(expected_rows)
    table = Validation(
        "dprelease-utility-table",
        _aggregate_frame(summary, codec),
        _table_checks(codec, target, config.row_tolerance),
    )

    estimates = one_way_estimates(codec, measurements)
    tvd_cells: dict[str, npt.NDArray[np.float64]] = {}
    allowed: dict[str, float] = {}
    for col, counts in zip(codec.columns, summary.codes.columns, strict=True):
        estimate = estimates.get(col.name)
        if estimate is None:
            continue
        q = clipped_distribution(estimate.counts)
        p = counts.counts / max(float(counts.counts.sum()), 1.0)
        tvd_cells[col.name] = half_abs_diff(p, q)
        allowance = noise_allowance(estimate, total) + sampling_allowance(q, rows)
        allowed[col.name] = config.max_tvd + config.allowance_scale * allowance
    tvd = _tvd_validation(tvd_cells, allowed)
    # Both suites in one call: one child process, one GX import (see expectations.child).
    table_outcomes, *rest = validate([table] if tvd is None else [table, tvd])
    tvd_outcomes = rest[0] if rest else {}

    checks = _report_rows(
        codec, summary, table_outcomes, tvd_outcomes, allowed, target, config.row_tolerance
    )
    checks_passed = all(c.passed for c in checks)
    report = UtilityReport(
        success=checks_passed,
        rows=rows,
        noisy_total=float(noisy_total),
        checks=checks,
        unmeasured_columns=tuple(n for n in names if n not in estimates),
        measurements_private=all(m.private for m in measurements),
        expectations=(*table_outcomes.values(), *tvd_outcomes.values()),
    )
    for c in report.failed():
        logger.warning(
            "utility check %s on %s failed: observed %.4g > threshold %.4g",
            c.name,
            c.column,
            c.observed,
            c.threshold,
        )
    return report


def _aggregate_frame(summary: SyntheticSummary, codec: TableCodec) -> pd.DataFrame:
    """One row per value class of each column (see the module docstring), padded by repeats.

    Repeating a class changes no expectation's outcome. A column with no class at all (an
    empty table) holds one valid placeholder, so it passes as the empty column would.
    """
    columns: dict[str, list[object]] = {_ROWS: [summary.rows]}
    for col, values, codes in zip(
        codec.columns, summary.values, summary.codes.columns, strict=True
    ):
        classes: list[object]
        placeholder: object
        if col.kind == "category":
            classes = list(values.categories)
            placeholder = col.categories[0]
        else:
            classes = [v for v in (values.lowest, values.highest) if v is not None]
            placeholder = float(col.bounds[0])
        if values.nulls:
            classes.append(None)
        columns[col.name] = classes or [placeholder]
        extremes: list[object] = [c for c in (codes.lowest, codes.highest) if c is not None]
        columns[f"{_CODE_PREFIX}{col.name}"] = extremes or [0]
    length = max(len(v) for v in columns.values())
    data: dict[str, pd.Series] = {}
    for key, classes in columns.items():
        padded = classes + [classes[-1]] * (length - len(classes))
        data[key] = pd.Series(padded, dtype=object)
    frame = pd.DataFrame(data)
    for col in codec.columns:
        if col.kind != "category":
            frame[col.name] = frame[col.name].astype("Float64")
        frame[f"{_CODE_PREFIX}{col.name}"] = frame[f"{_CODE_PREFIX}{col.name}"].astype("int64")
    frame[_ROWS] = frame[_ROWS].astype("int64")
    return frame


def _table_checks(codec: TableCodec, total: float, tolerance: float) -> dict[str, ExpectationSpec]:
    """Row-count, domain and code-range expectations for the combined frame."""
    lo = math.ceil(total * (1.0 - tolerance) - 1e-9)
    hi = math.floor(total * (1.0 + tolerance) + 1e-9)
    if lo > hi:  # a band narrower than one row: accept the nearest whole number
        lo = hi = round(total)
    checks: dict[str, ExpectationSpec] = {
        "row_count": ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween", column=_ROWS, min_value=max(lo, 0), max_value=hi
        )
    }
    for col in codec.columns:
        name = col.name
        if col.kind == "category":
            checks[f"domain:{name}"] = ExpectationSpec.of(
                "ExpectColumnValuesToBeInSet", column=name, value_set=list(col.categories)
            )
        else:
            low, high = col.bounds
            checks[f"domain:{name}"] = ExpectationSpec.of(
                "ExpectColumnValuesToBeBetween",
                column=name,
                min_value=float(low),
                max_value=float(high),
            )
        if not col.has_missing:
            checks[f"not_null:{name}"] = ExpectationSpec.of(
                "ExpectColumnValuesToNotBeNull", column=name
            )
        checks[f"codes:{name}"] = ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween",
            column=f"{_CODE_PREFIX}{name}",
            min_value=0,
            max_value=col.size - 1,
        )
    return checks


def _tvd_validation(
    cells: dict[str, npt.NDArray[np.float64]], allowed: dict[str, float]
) -> Validation | None:
    """Sum each column's ``|p - q| / 2`` cells with GX and compare with the allowed TVD
    (None when no column was measured)."""
    if not cells:
        return None
    longest = max(v.size for v in cells.values())
    frame = pd.DataFrame(
        {n: np.pad(v, (0, longest - v.size)) for n, v in cells.items()}, dtype=np.float64
    )
    checks: dict[str, ExpectationSpec] = {
        f"marginal_tvd:{n}": ExpectationSpec.of(
            "ExpectColumnSumToBeBetween", column=n, min_value=0.0, max_value=float(allowed[n])
        )
        for n in cells
    }
    return Validation("dprelease-utility-tvd", frame, checks, keep_observed=True)


def _report_rows(
    codec: TableCodec,
    summary: SyntheticSummary,
    table: dict[str, ExpectationOutcome],
    tvd: dict[str, ExpectationOutcome],
    allowed: dict[str, float],
    total: float,
    tolerance: float,
) -> tuple[UtilityCheck, ...]:
    """Fold the GX outcomes into report rows (offending rows or distance vs threshold)."""
    rows = summary.rows
    deviation = abs(rows - total) / total if total > 0 else float(rows > 0)
    result = [UtilityCheck("row_count", None, deviation, tolerance, table["row_count"].success)]
    for col, values, codes in zip(
        codec.columns, summary.values, summary.codes.columns, strict=True
    ):
        offending = {
            "domain": values.outside(col),
            "not_null": values.nulls,
            "codes": codes.outside,
        }
        for kind in ("domain", "not_null", "codes"):
            outcome = table.get(f"{kind}:{col.name}")
            if outcome is not None:
                result.append(
                    UtilityCheck(kind, col.name, float(offending[kind]), 0.0, outcome.success)
                )
        outcome = tvd.get(f"marginal_tvd:{col.name}")
        if outcome is not None:
            observed = float(outcome.observed) if isinstance(outcome.observed, float) else 1.0
            result.append(
                UtilityCheck("marginal_tvd", col.name, observed, allowed[col.name], outcome.success)
            )
    return tuple(result)
