"""Data-quality checks of a release, built on Great Expectations (the only package importing it).

* :func:`validate_input` checks the source frame against the codec's public domain and returns
  an operator-only :class:`InputReport` holding counts, never values.
* :func:`check_utility` compares the synthetic table with the noisy measurements only, so its
  :class:`UtilityReport` is safe to publish alongside the release.
"""

from __future__ import annotations

from expectations.errors import ExpectationRunError, InvalidConfigError, SchemaMismatchError
from expectations.input_suite import ColumnInputStats, InputReport, validate_input
from expectations.runner import ExpectationOutcome
from expectations.utility_suite import UtilityCheck, UtilityConfig, UtilityReport, check_utility

__all__ = [
    "ColumnInputStats",
    "ExpectationOutcome",
    "ExpectationRunError",
    "InputReport",
    "InvalidConfigError",
    "SchemaMismatchError",
    "UtilityCheck",
    "UtilityConfig",
    "UtilityReport",
    "check_utility",
    "validate_input",
]
