"""Input checks: plain checks decided on SQL counts (no Great Expectations), counts only."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

import pytest

from dpcore.encoding import ColumnCodec, TableCodec
from expectations import InputReport, SchemaMismatchError, report_from_counts

WORKCLASS = ColumnCodec(
    name="workclass",
    kind="category",
    categories=("Private", "State-gov"),
    has_missing=True,
    missing_tokens=("?",),
    on_invalid="missing",
)
AGE = ColumnCodec(name="age", kind="integer", edges=(17, 30, 50, 91), on_invalid="clamp")
SEX = ColumnCodec(name="sex", kind="category", categories=("Female", "Male"), on_invalid="drop")
CODEC = TableCodec((WORKCLASS, AGE, SEX))


@dataclass(frozen=True)
class Counts:
    column: str
    nulls: int = 0
    missing_tokens: int = 0
    out_of_domain: int | None = 0
    non_numeric: int = 0
    type_ok: bool = True


def _report(*counts: Counts) -> InputReport:
    return report_from_counts(7, counts, CODEC)


def test_every_check_is_decided_on_its_counts() -> None:
    report = _report(
        Counts("workclass", nulls=1, missing_tokens=2, out_of_domain=2),
        Counts("age", nulls=1, out_of_domain=2),
        Counts("sex", out_of_domain=1),
    )
    assert not report.success
    decided = {(c.check, c.column): (c.success, c.unexpected_count) for c in report.checks}
    assert decided == {
        ("exists", "workclass"): (True, None),
        ("domain", "workclass"): (False, 2),
        ("exists", "age"): (True, None),
        ("not_null", "age"): (False, 1),
        ("type", "age"): (True, 0),
        ("domain", "age"): (False, 2),
        ("exists", "sex"): (True, None),
        ("not_null", "sex"): (True, 0),
        ("domain", "sex"): (False, 1),
    }
    age = report.column("age")
    assert (age.handled_by_rule, age.on_invalid) == (3, "clamp")  # outside + NULL
    assert report.column("workclass").handled_by_rule == 2  # NULL and "?" get the missing code


def test_a_numeric_column_of_text_fails_its_type_and_skips_its_domain() -> None:
    report = _report(
        Counts("workclass"),
        Counts("age", out_of_domain=None, non_numeric=3, type_ok=False),
        Counts("sex"),
    )
    age = report.column("age")
    assert not age.type_ok and age.out_of_domain is None and age.handled_by_rule is None
    assert [c.check for c in report.checks if c.column == "age"] == ["exists", "not_null", "type"]


def test_a_clean_source_passes_and_the_report_is_frozen() -> None:
    report = _report(Counts("workclass"), Counts("age"), Counts("sex"))
    assert report.success and all(c.success for c in report.columns)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.success = False  # type: ignore[misc]


def test_every_declared_column_needs_counts() -> None:
    with pytest.raises(SchemaMismatchError, match=r"\['age'\]"):
        _report(Counts("workclass"), Counts("sex"))


def test_no_check_is_named_like_a_great_expectations_result() -> None:
    """The checks are plain counts (GX's SQL path does not run on DuckDB 2.x): the module
    imports no GX and borrows none of its names."""
    report = _report(Counts("workclass"), Counts("age"), Counts("sex"))
    assert not any("expect_" in repr(c) for c in report.checks)
    assert "great_expectations" not in sys.modules["expectations.input_checks"].__dict__
