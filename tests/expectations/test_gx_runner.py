"""Shared GX plumbing: errored expectations raise, results are plain data without values."""

from __future__ import annotations

import pandas as pd
import pytest

from dpcore.errors import DPReleaseError
from expectations import runner
from expectations.errors import ExpectationRunError
from expectations.runner import ExpectationOutcome, gx_columns, run_suite
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


def _numbers() -> pd.DataFrame:
    """Nullable numbers as the release decodes them: one out-of-range value per column."""
    return pd.DataFrame(
        {
            "whole": pd.Series([1, 2, 99], dtype="Int64"),
            "holey": pd.Series([1, None, 99], dtype="Int64"),
            "real": pd.Series([0.5, None, 7.0], dtype="Float64"),
        }
    )


def test_nullable_numbers_reach_gx_as_numpy_where_no_verdict_changes() -> None:
    """The Float64 column and the Int64 column without NULLs become numpy (GX compares
    them vectorised); the Int64 column with a NULL stays (as float64 it would fail int64)."""
    frame = _numbers()
    seen = gx_columns(frame)
    assert [str(t) for t in seen.dtypes] == ["int64", "Int64", "float64"]
    assert seen["real"].isna().tolist() == [False, True, False]
    assert seen["whole"].tolist() == [1, 2, 99] and frame["whole"].dtype == "Int64"


def test_nullable_numbers_keep_their_verdicts_and_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Type, range and NULL checks on Int64/Float64 columns count exactly the offending
    values (one out of range, one NULL per nullable column), as GX does on the frame as is."""
    checks = _number_checks()
    out = run_suite(_numbers(), checks, suite_name="test-nullable", keep_observed=True)
    assert all(out[f"type:{n}"].success for n in ("whole", "holey", "real"))
    assert {n: out[f"range:{n}"].unexpected_count for n in ("whole", "holey", "real")} == {
        "whole": 1,
        "holey": 1,
        "real": 1,
    }
    assert not any(out[f"range:{n}"].success for n in ("whole", "holey", "real"))
    assert out["null:whole"].success
    assert [out[f"null:{n}"].unexpected_count for n in ("holey", "real")] == [1, 1]
    monkeypatch.setattr(runner, "gx_columns", lambda frame: frame)
    assert run_suite(_numbers(), checks, suite_name="test-as-is", keep_observed=True) == out


def _number_checks() -> dict[str, ExpectationSpec]:
    """Type, range [0, 5] and not-NULL of each column of :func:`_numbers`."""
    checks: dict[str, ExpectationSpec] = {}
    for name, kind in (("whole", "int64"), ("holey", "int64"), ("real", "float64")):
        checks[f"type:{name}"] = ExpectationSpec.of(
            "ExpectColumnValuesToBeOfType", column=name, type_=kind
        )
        checks[f"range:{name}"] = ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween", column=name, min_value=0, max_value=5
        )
        checks[f"null:{name}"] = ExpectationSpec.of("ExpectColumnValuesToNotBeNull", column=name)
    return checks
