"""Data-quality checks of a release, built on Great Expectations (the only package importing it).

* :func:`report_from_counts` (counts from the warehouse's SQL profile) and
  :func:`validate_input` (a frame) check the source against the codec's public domain and
  return an operator-only :class:`InputReport` holding counts, never values.
* :func:`check_utility` compares the synthetic table (its :class:`SyntheticSummary`, built
  chunk by chunk with :func:`summarise`) with the noisy measurements only, so its
  :class:`UtilityReport` is safe to publish alongside the release.
"""

from __future__ import annotations

from expectations.errors import ExpectationRunError, InvalidConfigError, SchemaMismatchError
from expectations.input_suite import (
    ColumnCounts,
    ColumnInputStats,
    InputReport,
    report_from_counts,
    validate_input,
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
    "validate_input",
]
