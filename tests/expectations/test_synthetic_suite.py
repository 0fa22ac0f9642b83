"""The synthetic table's GX suite: the steward's file, the spec's expectations on top, real
batches, Data Docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expectations import InvalidConfigError
from expectations.synthetic_suite import (
    SUITES_DIR,
    load_suite,
    merged,
    row_band,
    suite_path,
)
from expectations.validation import ExpectationSpec
from tests.expectations.test_utility_suite import Scenario, _run, scenario

__all__ = ["scenario"]


def _write(folder: Path, name: str, expectations: list[dict[str, object]]) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"name": name, "expectations": expectations}))
    return path


def test_a_release_uses_its_own_suite_file_else_the_default(tmp_path: Path) -> None:
    assert suite_path("adult") == SUITES_DIR / "adult.json"
    assert suite_path("no_such_release") == SUITES_DIR / "default.json"
    adult = load_suite("adult")
    assert any(e.kind == "ExpectColumnMeanToBeBetween" for e in adult.expectations)
    _write(tmp_path, "default", [])
    assert load_suite("adult", tmp_path).expectations == ()


@pytest.mark.parametrize(
    "text", ["{not json", '{"expectations": {}}', '{"expectations": [{"kwargs": {}}]}']
)
def test_an_unreadable_suite_file_is_refused_naming_it(tmp_path: Path, text: str) -> None:
    (tmp_path / "default.json").write_text(text)
    with pytest.raises(InvalidConfigError, match=r"default\.json"):
        load_suite("adult", tmp_path)


def test_generated_expectations_replace_the_stewards_of_the_same_type_and_column() -> None:
    steward = [
        ExpectationSpec("expect_column_values_to_be_between", {"column": "age", "min_value": 0}),
        ExpectationSpec("expect_column_mean_to_be_between", {"column": "age", "min_value": 20}),
        ExpectationSpec("expect_column_mean_to_be_between", {"column": "age", "max_value": 60}),
    ]
    generated = {
        "domain:age": ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween", column="age", min_value=17.0, max_value=90.0
        )
    }
    checks = merged(steward, generated)
    assert checks["domain:age"] == generated["domain:age"]
    assert list(checks) == [
        "domain:age",
        "suite:expect_column_mean_to_be_between:age",
        "suite:expect_column_mean_to_be_between:age#2",
    ]


def test_row_band() -> None:
    assert row_band(1000, 0.05) == (950, 1050)
    assert row_band(10.4, 0.01) == (10, 10)  # narrower than a row: the nearest whole number


def test_the_spec_and_noise_imply_columns_types_domains_and_null_shares(
    scenario: Scenario,
) -> None:
    report = _run(scenario)
    names = {(c.name, c.column) for c in report.checks if c.expectation is not None}
    assert ("columns", None) in names and ("row_count", None) in names
    assert {("type", c) for c in ("workclass", "age", "sex", "hours")} <= names
    assert ("null_share", "workclass") in names  # measured, with a missing code
    assert ("not_null", "sex") in names
    assert report.suite_file == "default.json"


def test_a_null_share_far_from_the_noisy_one_fails(scenario: Scenario) -> None:
    synthetic = scenario.synthetic.copy()
    synthetic.loc[: len(synthetic) // 2, "workclass"] = None  # half NULL, noisy share ~10%
    report = _run(scenario, synthetic=synthetic)
    (failed,) = [c for c in report.failed() if c.name == "null_share"]
    assert failed.column == "workclass" and failed.observed > failed.threshold


def test_a_stewards_failing_expectation_fails_the_table(scenario: Scenario, tmp_path: Path) -> None:
    _write(
        tmp_path,
        "default",
        [
            {
                "type": "expect_column_mean_to_be_between",
                "kwargs": {"column": "age", "min_value": 80},
            }
        ],
    )
    report = _run(scenario, suites=tmp_path)
    assert [c.name for c in report.failed()] == ["suite:expect_column_mean_to_be_between"]


def test_a_table_of_several_batches_checks_its_row_count_whole(scenario: Scenario) -> None:
    half = len(scenario.synthetic) // 2
    batches = [scenario.synthetic.iloc[:half], scenario.synthetic.iloc[half:]]
    report = _run(scenario, batches=batches)
    assert report.success, report.failed()
    (rows,) = [c for c in report.checks if c.name == "row_count"]
    assert rows.expectation is None  # plain: no batch holds the table's row count
    assert len([o for o in report.expectations if o.check == "domain:age"]) == 2


def test_data_docs_show_the_validation_of_the_synthetic_rows(
    scenario: Scenario, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    report = _run(scenario, docs_dir=str(docs), release="adult_test")
    assert report.data_docs == str(docs)
    index = (docs / "index.html").read_text()
    assert "adult_test-synthetic" in index
    pages = list((docs / "validations").rglob("*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert "expect_column_proportion_of_non_null_values_to_be_between" in page or (
        "non-null" in page.lower()
    )


def test_a_chunk_longer_than_a_batch_is_cut(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expectations import synthetic_suite

    monkeypatch.setattr(synthetic_suite, "BATCH_ROWS", 2000)
    report = _run(scenario)  # one frame of ~5,000 rows: three GX batches
    assert report.success, report.failed()
    assert len([o for o in report.expectations if o.check == "domain:age"]) == 3
    (rows,) = [c for c in report.checks if c.name == "row_count"]
    assert rows.expectation is None


def test_data_docs_of_several_batches_say_which_rows_each_covers(
    scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Equal batches share one suite; each result page is named after its rows."""
    from expectations import synthetic_suite

    monkeypatch.setattr(synthetic_suite, "BATCH_ROWS", 2000)
    rows = len(scenario.synthetic)
    docs = tmp_path / "docs"
    report = _run(scenario, docs_dir=str(docs), release="adult_test")
    assert report.success, report.failed()
    index = (docs / "index.html").read_text()
    assert "adult_test-synthetic-batches-of-2000" in index
    assert f"adult_test-synthetic-batches-of-{rows - 4000}" in index
    for first, end in ((1, 2000), (2001, 4000), (4001, rows)):
        assert f"rows {first:,}-{end:,} of {rows:,}" in index
    assert len(list((docs / "validations").rglob("*.html"))) == 3
