"""Utility checks: does the synthetic table agree with the noisy measurements it was fit to?

Inputs are the synthetic table itself, streamed in batches (its rows go to Great
Expectations: they are not private), its :class:`~expectations.synthetic_summary.
SyntheticSummary` (accumulated chunk by chunk over exactly the rows that get published), the
noisy measurements and the noisy total. Source rows are never touched, so every number in the
:class:`UtilityReport` is a function of DP outputs and is safe to publish (if the measurements
are private, see ``measurements_private``).

Two kinds of check, each computed by what suits it:

* **Great Expectations on the synthetic rows** (:mod:`expectations.synthetic_suite`): the
  steward's suite file with the spec's expectations on top (columns, types, domains, NULLs,
  NULL shares against the noisy missing shares, row count against the noisy total), run as
  real batches in the GX child process (:mod:`expectations.child`), with Data Docs rendered
  into ``docs_dir`` when given. Each expectation becomes one report row named after its
  check (``domain``, ``null_share``, ...; a steward's are ``suite:<expectation type>``).
* **plain numpy on the summary and the measurements** (no GX: they are sums, not questions
  about rows): ``codes`` (every code in ``[0, size)``), ``marginal_tvd`` (per measured
  column, the total variation distance between the synthetic 1-way distribution and the
  inverse-variance combination of every noisy measurement covering it, clipped and
  normalised; allowed ``max_tvd + allowance_scale * (noise + sampling allowance)``, see
  :mod:`expectations.noisy_marginals`), and ``row_count`` for a table of several batches
  (one batch's row count says nothing of the table's).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dpcore.distributions import clipped_distribution, half_abs_diff
from dpcore.encoding import TableCodec
from dpcore.marginals import Measurement
from expectations.child import validate
from expectations.errors import InvalidConfigError, SchemaMismatchError
from expectations.noisy_marginals import noise_allowance, sampling_allowance
from expectations.runner import ExpectationOutcome
from expectations.synthetic_suite import (
    ALLOWANCE,
    DEFAULT_SUITE,
    NOISY_SHARE,
    SUITES_DIR,
    SuiteInputs,
    load_suite,
    row_band,
    synthetic_validations,
)
from expectations.synthetic_summary import SyntheticSummary
from expectations.validation import ExpectationSpec, Validation, snake_name

logger = logging.getLogger(__name__)


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
    """One check row: ``observed`` beside ``threshold``, and whether it passed.

    ``expectation`` names the GX expectation that decided it (None for the plain checks).
    For ``domain``, ``not_null`` and ``codes`` the observed value is the number of offending
    values (threshold 0); for ``null_share`` the distance of the synthetic non-NULL share from
    the noisy one (threshold: its allowance); for ``row_count`` the row count (threshold: the
    most allowed) when GX checked it, else the relative deviation ``|rows - total| / total``;
    for ``marginal_tvd`` the distance (threshold: the allowed distance).
    """

    name: str
    column: str | None
    observed: float
    threshold: float
    passed: bool
    expectation: str | None = None

    def describe(self) -> str:
        """``observed 3 (allowed 0)``, for messages."""
        return f"observed {self.observed:.4g} (allowed {self.threshold:.4g})"


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
    """Great Expectations' outcomes on the synthetic table's batches."""
    suite_file: str | None = None
    """The steward's suite file the GX suite started from (its name in the suites folder)."""
    data_docs: str | None = None
    """The folder GX rendered its Data Docs into (``index.html``), if any."""

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
    *,
    batches: Iterable[pd.DataFrame] = (),
    release: str = DEFAULT_SUITE,
    docs_dir: str | None = None,
    suites: Path = SUITES_DIR,
) -> UtilityReport:
    """Run the utility checks on a synthetic table (see the module docstring).

    ``batches`` are the table's decoded rows, batch by batch (exactly the summarised rows);
    ``release`` picks the steward's suite file in ``suites``; ``docs_dir`` is where GX renders
    its Data Docs (none without it). ``expected_rows`` is the row count the table was asked
    for (a spec's ``rows`` or a run's override); without it the row count is checked against
    the noisy total.

    Raises :class:`SchemaMismatchError` when the summary is not of ``codec``'s columns,
    :class:`InvalidConfigError` for an unreadable suite file and
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
    inputs = SuiteInputs.of(
        codec,
        measurements,
        noisy_total,
        expected_rows=expected_rows,
        row_tolerance=config.row_tolerance,
        max_tvd=config.max_tvd,
        allowance_scale=config.allowance_scale,
    )
    steward = load_suite(release, suites)
    validations = synthetic_validations(
        batches, inputs, steward, release=release, table_rows=rows, docs_dir=docs_dir
    )
    batch_suites: list[Mapping[str, ExpectationSpec]] = []

    def noting(items: Iterable[Validation]) -> Iterator[Validation]:
        for v in items:  # keep each batch's suite (its thresholds) beside its outcomes
            batch_suites.append(v.checks)
            yield v

    batch_outcomes = validate(noting(validations))

    checks = [*_gx_rows(list(zip(batch_suites, batch_outcomes, strict=True)))]
    if not any("row_count" in suite for suite in batch_suites):  # several batches (or none)
        lo, hi = row_band(inputs.target_rows, config.row_tolerance)
        target = inputs.target_rows
        deviation = abs(rows - target) / target if target > 0 else float(rows > 0)
        checks.insert(
            0, UtilityCheck("row_count", None, deviation, config.row_tolerance, lo <= rows <= hi)
        )
    checks.extend(_plain_rows(codec, summary, inputs, config))
    report = UtilityReport(
        success=all(c.passed for c in checks),
        rows=rows,
        noisy_total=float(noisy_total),
        checks=tuple(checks),
        unmeasured_columns=tuple(n for n in names if n not in inputs.estimates),
        measurements_private=all(m.private for m in measurements),
        expectations=tuple(o for each in batch_outcomes for o in each.values()),
        suite_file=steward.path.name,
        data_docs=None if docs_dir is None or not batch_outcomes else docs_dir,
    )
    for c in report.failed():
        logger.warning("utility check %s on %s failed: %s", c.name, c.column, c.describe())
    return report


def _gx_rows(
    batches: Sequence[tuple[Mapping[str, ExpectationSpec], Mapping[str, ExpectationOutcome]]],
) -> Iterator[UtilityCheck]:
    """One report row per GX check over every batch (each batch's suite beside its outcomes):
    passed if every batch passed; offending rows added up, other values the farthest seen."""
    keys = list(dict.fromkeys(k for _, outcomes in batches for k in outcomes))
    for key in keys:
        pairs = [(suite[key], outcomes[key]) for suite, outcomes in batches if key in outcomes]
        spec = pairs[0][0]
        kind = key.split(":", 1)[0]
        name = f"suite:{snake_name(spec.kind)}" if kind == "suite" else kind
        observed, threshold = _observed(pairs)
        passed = all(o.success for _, o in pairs)
        yield UtilityCheck(name, spec.column, observed, threshold, passed, spec.kind)


def _observed(
    pairs: Sequence[tuple[ExpectationSpec, ExpectationOutcome]],
) -> tuple[float, float]:
    """A row's observed value and threshold: offending rows against 0 for row-level
    expectations; a NULL share's distance from the noisy share against its allowance (the
    farthest over batches, beside the tightest allowance); a numeric observed value against
    the expectation's upper bound; else 0 (passed) or 1 (failed) against 0."""
    counts = [o.unexpected_count for _, o in pairs if o.unexpected_count is not None]
    if counts:
        return float(sum(counts)), 0.0
    seen = [(spec, float(o.observed)) for spec, o in pairs if isinstance(o.observed, float)]
    if seen and all(NOISY_SHARE in spec.meta for spec, _ in seen):
        distance = max(abs((1.0 - v) - float(spec.meta[NOISY_SHARE])) for spec, v in seen)
        return distance, min(float(spec.meta[ALLOWANCE]) for spec, _ in seen)
    bounds = [spec.kwargs.get("max_value") for spec, _ in seen]
    if seen and all(isinstance(b, int | float) for b in bounds):
        return max(v for _, v in seen), min(float(b) for b in bounds)  # type: ignore[arg-type]
    return float(not all(o.success for _, o in pairs)), 0.0


def _plain_rows(
    codec: TableCodec, summary: SyntheticSummary, inputs: SuiteInputs, config: UtilityConfig
) -> Iterator[UtilityCheck]:
    """``codes`` and ``marginal_tvd`` per column, from the summary and the measurements."""
    rows = summary.rows
    for col, counts in zip(codec.columns, summary.codes.columns, strict=True):
        yield UtilityCheck("codes", col.name, float(counts.outside), 0.0, counts.outside == 0)
        estimate = inputs.estimates.get(col.name)
        if estimate is None:
            continue
        q = clipped_distribution(estimate.counts)
        p = counts.counts / max(float(counts.counts.sum()), 1.0)
        tvd = float(half_abs_diff(p, q).sum())
        allowance = noise_allowance(estimate, inputs.noisy_total) + sampling_allowance(q, rows)
        allowed = config.max_tvd + config.allowance_scale * allowance
        yield UtilityCheck("marginal_tvd", col.name, tvd, allowed, tvd <= allowed)
