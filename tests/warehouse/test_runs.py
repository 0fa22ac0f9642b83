"""The run log: start, status transitions, and that a published run never goes back."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.runs import STATUSES, get_run, list_runs, set_status, start_run


@pytest.fixture
def warehouse(store_home: Path) -> Path:
    """The run log's tests run against both privacy stores."""
    return store_home


def start(path: Path, run_id: str, release: str = "adult") -> None:
    start_run(
        path,
        run_id=run_id,
        release=release,
        dataset="raw.adult",
        spec_hash="hash-" + run_id,
        spec_path="/specs/adult.yaml",
    )


def test_start_records_a_started_run(warehouse: Path) -> None:
    record = start_run(
        warehouse,
        run_id="r1",
        release="adult",
        dataset="raw.adult",
        spec_hash="abc",
        spec_path="/specs/adult.yaml",
    )
    assert (record.run_id, record.release, record.dataset) == ("r1", "adult", "raw.adult")
    assert (record.spec_hash, record.spec_path, record.status) == (
        "abc",
        "/specs/adult.yaml",
        "started",
    )
    assert record.error is None and record.version is None and record.input_report is None
    assert record.started_at == record.updated_at
    assert record.started_at.tzinfo is not None
    assert get_run(warehouse, "r1") == record


def test_starting_again_returns_the_existing_record(warehouse: Path) -> None:
    first = start_run(
        warehouse, run_id="r1", release="adult", dataset="d", spec_hash="a", spec_path="p"
    )
    set_status(warehouse, "r1", "charged")
    again = start_run(
        warehouse, run_id="r1", release="other", dataset="e", spec_hash="b", spec_path="q"
    )
    assert again.status == "charged"  # a resume does not reset the run
    assert (again.release, again.spec_hash, again.started_at) == ("adult", "a", first.started_at)
    assert len(list_runs(warehouse)) == 1


def test_status_moves_through_the_steps(warehouse: Path) -> None:
    start(warehouse, "r1")
    seen = []
    for status in ("validated", "charged", "measured"):
        set_status(warehouse, "r1", status)
        record = get_run(warehouse, "r1")
        assert record is not None
        seen.append(record.status)
    assert seen == ["validated", "charged", "measured"]
    set_status(warehouse, "r1", "measured", input_report="/reports/r1.html")
    set_status(warehouse, "r1", "published", version=3)
    record = get_run(warehouse, "r1")
    assert record is not None
    assert (record.status, record.version, record.input_report) == (
        "published",
        3,
        "/reports/r1.html",  # kept: later updates only fill what they pass
    )
    assert record.updated_at >= record.started_at


def test_failure_records_the_error(warehouse: Path) -> None:
    start(warehouse, "r1")
    set_status(warehouse, "r1", "failed", error="budget exhausted")
    record = get_run(warehouse, "r1")
    assert record is not None and (record.status, record.error) == ("failed", "budget exhausted")
    # a resumed run can move on from failed
    set_status(warehouse, "r1", "charged")
    record = get_run(warehouse, "r1")
    assert record is not None and record.status == "charged"


def test_published_never_goes_back(warehouse: Path) -> None:
    start(warehouse, "r1")
    set_status(warehouse, "r1", "published", version=1)
    before = get_run(warehouse, "r1")
    assert before is not None and before.status == "published"
    for later in STATUSES:
        set_status(warehouse, "r1", later, error="late failure", version=7)
        assert get_run(warehouse, "r1") == before, later


def test_unknown_status_is_refused(warehouse: Path) -> None:
    start(warehouse, "r1")
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        set_status(warehouse, "r1", "done")
    record = get_run(warehouse, "r1")
    assert record is not None and record.status == "started"


def test_setting_status_of_one_run_leaves_others(warehouse: Path) -> None:
    start(warehouse, "r1")
    start(warehouse, "r2")
    set_status(warehouse, "r2", "failed", error="x")
    r1, r2 = get_run(warehouse, "r1"), get_run(warehouse, "r2")
    assert r1 is not None and r1.status == "started" and r1.error is None
    assert r2 is not None and r2.status == "failed"


def test_list_runs_newest_first_and_by_release(warehouse: Path) -> None:
    for run_id, release in [("r1", "adult"), ("r2", "census"), ("r3", "adult")]:
        start(warehouse, run_id, release)
    assert [r.run_id for r in list_runs(warehouse)] == ["r3", "r2", "r1"]
    assert [r.run_id for r in list_runs(warehouse, "adult")] == ["r3", "r1"]
    assert list_runs(warehouse, "nothing") == []


def test_get_run_of_unknown_run_or_missing_file(warehouse: Path, tmp_path: Path) -> None:
    assert get_run(tmp_path / "absent.duckdb", "r1") is None
    assert not (tmp_path / "absent.duckdb").exists()
    start(warehouse, "r1")
    assert get_run(warehouse, "r2") is None
