"""Input suite: exact counts on a small frame, no source values anywhere, structural errors."""

from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal

import pandas as pd
import pytest

from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.errors import DPReleaseError
from expectations import InputReport, SchemaMismatchError, report_from_counts, validate_input

MARKER = "SECRET_MARKER_123"

WORKCLASS = ColumnCodec(
    name="workclass",
    kind="category",
    categories=("Private", "State-gov"),
    has_missing=True,
    missing_tokens=("?",),
    on_invalid="missing",
)
AGE = ColumnCodec(name="age", kind="integer", edges=(17, 30, 50, 91), on_invalid="clamp")
HOURS = ColumnCodec(
    name="hours",
    kind="float",
    edges=(0.0, 40.0, 100.0),
    has_missing=True,
    missing_tokens=("?",),
    on_invalid="missing",
)
SEX = ColumnCodec(name="sex", kind="category", categories=("Female", "Male"), on_invalid="drop")
CODEC = TableCodec((WORKCLASS, AGE, HOURS, SEX))


def _frame() -> pd.DataFrame:
    """Seven rows with NULLs, "?" tokens and out-of-domain values (some carrying a marker)."""
    return pd.DataFrame(
        {
            "workclass": ["Private", "?", None, MARKER, "State-gov", "?", f"{MARKER}b"],
            "age": [20, 35, None, 200, 90, 10, 17],
            "hours": pd.Series([1.5, "?", None, 150.0, 3, "?", 100.0], dtype=object),
            "sex": ["Male", "Female", "Female", "Male", MARKER, "Male", "Female"],
            "unrelated": [MARKER] * 7,
        }
    )


@pytest.fixture(scope="module")
def report() -> InputReport:
    """The report on :func:`_frame` (GX runs once for the module)."""
    return validate_input(_frame(), CODEC)


def test_counts_are_exact(report: InputReport) -> None:
    assert report.rows == 7
    work = report.column("workclass")
    assert (work.nulls, work.missing_tokens, work.out_of_domain) == (1, 2, 2)
    assert work.on_invalid == "missing"
    assert work.handled_by_rule == 2  # the column has a missing code: NULL and "?" are fine
    assert not work.success

    age = report.column("age")
    assert (age.nulls, age.missing_tokens, age.out_of_domain) == (1, 0, 2)  # 200 and 10
    assert age.type_ok
    assert age.on_invalid == "clamp"
    assert age.handled_by_rule == 3  # no missing code: the NULL is handled by the rule too
    assert not age.success

    hours = report.column("hours")
    assert (hours.nulls, hours.missing_tokens, hours.out_of_domain) == (1, 2, 1)  # 150.0
    assert hours.type_ok
    assert hours.non_numeric == 0

    sex = report.column("sex")
    assert (sex.nulls, sex.missing_tokens, sex.out_of_domain) == (0, 0, 1)
    assert sex.on_invalid == "drop"
    assert not report.success


def test_clean_frame_passes() -> None:
    frame = pd.DataFrame(
        {
            "workclass": ["Private", "?", None],
            "age": [17, 50, 90],
            "hours": [0.0, 40.0, None],
            "sex": ["Male", "Female", "Male"],
        }
    )
    report = validate_input(frame.set_axis([5, 5, 2]), CODEC)  # the index plays no part
    assert report.success
    assert all(s.success and s.type_ok for s in report.columns)
    assert report.column("workclass").out_of_domain == 0
    assert report.column("hours").nulls == 1


def test_nullable_and_decimal_numbers_are_numeric() -> None:
    frame = pd.DataFrame(
        {
            "workclass": ["Private"] * 3,
            "age": pd.array([18, None, 95], dtype="Int64"),
            "hours": pd.Series([Decimal("1.5"), "?", Decimal("120")], dtype=object),
            "sex": ["Male"] * 3,
        }
    )
    report = validate_input(frame, CODEC)
    age, hours = report.column("age"), report.column("hours")
    assert age.type_ok and (age.nulls, age.out_of_domain) == (1, 1)
    assert hours.type_ok and (hours.missing_tokens, hours.out_of_domain) == (1, 1)


def test_category_values_compared_as_text() -> None:
    grade = ColumnCodec(name="grade", kind="category", categories=("1", "2", "true"))
    frame = pd.DataFrame(
        {
            "a": pd.Series([1, 2, 3]),
            "b": pd.Series([1.0, None, 2.0]),
            "c": pd.Series([True, False, True]),
        }
    )
    counts = []
    for name in frame.columns:
        codec = TableCodec((dataclasses.replace(grade, name=name),))
        stats = validate_input(frame, codec).column(name)
        counts.append((stats.nulls, stats.out_of_domain))
    assert counts == [(0, 1), (1, 0), (0, 1)]


def test_numeric_column_as_text_fails_type_check_without_raising() -> None:
    frame = pd.DataFrame(
        {
            "workclass": ["Private"] * 3,
            "age": ["20", MARKER, "40"],
            "hours": [1.0, 2.0, 3.0],
            "sex": ["Male"] * 3,
        }
    )
    report = validate_input(frame, CODEC)
    age = report.column("age")
    assert not age.type_ok
    assert age.non_numeric == 3
    assert age.out_of_domain is None  # the range check cannot run on text
    assert not report.success
    assert MARKER not in repr(report)


def test_report_holds_no_source_values(
    report: InputReport, caplog: pytest.LogCaptureFixture
) -> None:
    assert MARKER not in repr(report)
    assert MARKER not in str(dataclasses.asdict(report))
    with caplog.at_level(logging.DEBUG):
        again = validate_input(_frame(), CODEC)
    assert again == report
    assert MARKER not in caplog.text
    # Counts from private rows belong to the operator-only report, not to logs.
    assert not [r for r in caplog.records if r.name.startswith("expectations")]
    for outcome in report.expectations:
        assert outcome.observed is None  # input outcomes carry counts only


def test_report_is_frozen(report: InputReport) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.success = True  # type: ignore[misc]


def test_missing_column_raises_schema_mismatch() -> None:
    frame = _frame().drop(columns=["age", "sex"])
    with pytest.raises(SchemaMismatchError) as info:
        validate_input(frame, CODEC)
    assert isinstance(info.value, DPReleaseError)
    assert "'age'" in str(info.value) and "'sex'" in str(info.value)
    assert MARKER not in str(info.value)


def test_report_from_counts_decides_every_check_as_gx_does(report: InputReport) -> None:
    """Fed the frame path's own counts, the count path rebuilds the whole report."""
    assert report_from_counts(report.rows, report.columns, CODEC) == report
    text_age = validate_input(
        pd.DataFrame(
            {
                "workclass": ["Private"] * 2,
                "age": ["20", MARKER],
                "hours": [1.0, 2.0],
                "sex": ["Male"] * 2,
            }
        ),
        CODEC,
    )
    assert report_from_counts(text_age.rows, text_age.columns, CODEC) == text_age


def test_report_from_counts_needs_every_column(report: InputReport) -> None:
    with pytest.raises(SchemaMismatchError, match=r"\['age'\]"):
        report_from_counts(report.rows, [c for c in report.columns if c.column != "age"], CODEC)
