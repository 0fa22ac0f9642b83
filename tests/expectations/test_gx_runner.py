"""Shared GX plumbing: errored expectations raise, results are plain data without values."""

from __future__ import annotations

import pandas as pd
import pytest

from dpcore.errors import DPReleaseError
from expectations.errors import ExpectationRunError
from expectations.runner import ExpectationOutcome, run_suite
from expectations.validation import ExpectationSpec

MARKER = "SECRET_MARKER_123"


def test_errored_expectation_raises_typed_error_without_values() -> None:
    frame = pd.DataFrame({"text": [MARKER, "b"], "n": [1, 2]})
    checks = {
        "ok": ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween", column="n", min_value=0, max_value=5
        ),
        # comparing text with numbers makes GX record an exception instead of a result
        "broken": ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween", column="text", min_value=0, max_value=5
        ),
    }
    with pytest.raises(ExpectationRunError) as info:
        run_suite(frame, checks, suite_name="test-errored")
    assert isinstance(info.value, DPReleaseError)
    message = str(info.value)
    assert "expect_column_values_to_be_between" in message and "'text'" in message
    assert MARKER not in message


def test_outcomes_are_plain_counts() -> None:
    frame = pd.DataFrame({"c": ["a", MARKER, None, MARKER]})
    outcomes = run_suite(
        frame,
        {"set": ExpectationSpec.of("ExpectColumnValuesToBeInSet", column="c", value_set=["a"])},
        suite_name="test-plain",
        keep_observed=True,
    )
    assert outcomes == {
        "set": ExpectationOutcome(
            check="set",
            expectation="expect_column_values_to_be_in_set",
            column="c",
            success=False,
            element_count=4,
            unexpected_count=2,
            missing_count=1,
            observed=None,
        )
    }
    assert MARKER not in repr(outcomes)


def test_observed_value_kept_only_on_request() -> None:
    frame = pd.DataFrame({"x": [0.25, 0.5]})
    check = {
        "sum": ExpectationSpec.of(
            "ExpectColumnSumToBeBetween", column="x", min_value=0.0, max_value=1.0
        )
    }
    kept = run_suite(frame, check, suite_name="test-observed", keep_observed=True)["sum"]
    assert kept.success and kept.observed == pytest.approx(0.75)
    check = {
        "sum": ExpectationSpec.of(
            "ExpectColumnSumToBeBetween", column="x", min_value=0.0, max_value=0.5
        )
    }
    dropped = run_suite(frame, check, suite_name="test-observed")["sum"]
    assert not dropped.success and dropped.observed is None
