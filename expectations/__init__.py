"""Data-quality checks of a release; Great Expectations runs only here, on synthetic rows.

* :func:`report_from_counts` decides the input checks on counts the warehouse took in SQL
  (plain checks: GX's SQL path does not run on DuckDB 2.x) and returns an operator-only
  :class:`InputReport` holding counts, never values.
* :func:`check_utility` validates the synthetic table with Great Expectations (a steward's
  suite file with the spec's expectations on top, as real batches, with Data Docs) and
  compares it (its :class:`SyntheticSummary`, built chunk by chunk with :func:`summarise`)
  with the noisy measurements, so its :class:`UtilityReport` is safe to publish alongside
  the release.
"""

from __future__ import annotations

from expectations.child import warm_child
from expectations.errors import ExpectationRunError, InvalidConfigError, SchemaMismatchError
from expectations.input_checks import (
    ColumnCounts,
    ColumnInputStats,
    InputCheck,
    InputReport,
    report_from_counts,
)
from expectations.runner import ExpectationOutcome
from expectations.synthetic_summary import ColumnValues, SyntheticSummary, summarise
from expectations.utility_suite import UtilityCheck, UtilityConfig, UtilityReport, check_utility

__all__ = [
    "ColumnCounts",
    "ColumnInputStats",
    "ColumnValues",
    "ExpectationOutcome",
    "ExpectationRunError",
    "InputCheck",
    "InputReport",
    "InvalidConfigError",
    "SchemaMismatchError",
    "SyntheticSummary",
    "UtilityCheck",
    "UtilityConfig",
    "UtilityReport",
    "check_utility",
    "report_from_counts",
    "summarise",
    "warm_child",
]
