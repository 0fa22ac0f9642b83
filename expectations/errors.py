"""Typed errors of the validation layer; each message says what went wrong and what to do.

Messages name columns and expectation types only: they never quote source values, because
the frames validated here may hold private rows.
"""

from __future__ import annotations

from dpcore.errors import DPReleaseError


class SchemaMismatchError(DPReleaseError):
    """The frame (or a measurement) does not have the structure the codec declares.

    Raised for structural problems only (a declared column is missing, a measurement's shape
    does not match the codec); value-level problems are counted in the reports instead.
    """


class ExpectationRunError(DPReleaseError):
    """A Great Expectations expectation errored instead of evaluating.

    GX records such errors in the result rather than raising; an errored expectation would
    otherwise read as a silent failure (or, worse, be skipped), so it is turned into this error.
    """


class InvalidConfigError(DPReleaseError):
    """A validation setting is out of range (for example a negative tolerance)."""
