"""The utility step validates a spooled table from its spool: the same frames, dtypes and
verdicts as re-sampling it, and a bad row written into the spool fails the checks."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

import expectations.synthetic_suite
import tasks.synthesize
from expectations import UtilityReport
from expectations.synthetic_suite import _cut
from tasks.synthesize import SyntheticTable, synthesize_fn
from tasks.utility import check_utility_fn
from tests.tasks.test_chunked_table import CHUNK_ROWS, ROWS, measurements, request
from warehouse.errors import PublishError

BATCH_ROWS = 300  # chunks of 626 or 625 rows: each is cut into 300 + 300 + 26 (or 25)


@pytest.fixture
def spooled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SyntheticTable:
    monkeypatch.setattr(tasks.synthesize, "CHUNK_ROWS", CHUNK_ROWS)
    monkeypatch.setattr(expectations.synthetic_suite, "BATCH_ROWS", BATCH_ROWS)
    table = synthesize_fn(request(), measurements(), home=str(tmp_path / "home"), spool=True)
    assert table.spool is not None and table.spool.rows == ROWS
    return table


def utility(table: SyntheticTable) -> UtilityReport:
    return check_utility_fn(request(), table, measurements())


@pytest.mark.parametrize("batch_rows", [BATCH_ROWS, CHUNK_ROWS, 10 * ROWS])
def test_spooled_batches_are_the_resampled_frames_cut(
    spooled: SyntheticTable, batch_rows: int
) -> None:
    resampled = list(_cut(spooled.frames(), batch_rows))
    read = list(spooled.batches(batch_rows))
    assert [len(f) for f in read] == [len(f) for f in resampled]
    for ours, theirs in zip(read, resampled, strict=True):
        assert ours.dtypes.to_dict() == theirs.dtypes.to_dict()
        assert ours.equals(theirs.reset_index(drop=True))


def test_an_unspooled_table_is_sampled_again(spooled: SyntheticTable) -> None:
    table = dataclasses.replace(spooled, spool=None)
    assert [len(f) for f in table.batches(BATCH_ROWS)] == table.synthetic.chunk_sizes()


def test_great_expectations_gives_the_same_verdicts_from_the_spool(
    spooled: SyntheticTable,
) -> None:
    from_spool = utility(spooled)
    resampled = utility(dataclasses.replace(spooled, spool=None))
    assert from_spool.success, from_spool.failed()
    assert from_spool == resampled  # every check and GX outcome, observed values included
    types = {o.column: o.observed for o in from_spool.expectations if o.check.startswith("type:")}
    assert types == {
        "kind": "CategoricalDtypeType", "age": "int64", "score": "float64",
        "sex": "CategoricalDtypeType",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("update", "check"),
    [
        ("kind = 'z'", "domain:kind"),  # a category outside the declared ones, not a NULL
        ("age = 500", "domain:age"),
        ("sex = NULL", "not_null:sex"),
    ],
)
def test_a_bad_row_in_the_spool_fails_the_checks(
    spooled: SyntheticTable, update: str, check: str
) -> None:
    assert spooled.spool is not None
    with duckdb.connect(str(spooled.spool.path)) as con:
        con.execute(f"UPDATE synthetic SET {update} WHERE rowid = {ROWS - 7}")
    report = utility(spooled)
    assert not report.success
    failed = [o for o in report.expectations if not o.success]
    assert failed and all(o.check.endswith(check) for o in failed), failed
    assert sum(o.unexpected_count or 0 for o in failed) == 1


def test_a_spool_of_other_rows_is_refused(spooled: SyntheticTable) -> None:
    assert spooled.spool is not None
    with duckdb.connect(str(spooled.spool.path)) as con:
        con.execute(f"DELETE FROM synthetic WHERE rowid = {ROWS - 7}")
    with pytest.raises(PublishError, match="fewer rows"):
        list(spooled.batches(BATCH_ROWS))
    with pytest.raises(PublishError, match="asked of a spool"):
        list(
            dataclasses.replace(spooled, spool=dataclasses.replace(spooled.spool, rows=1)).batches(
                BATCH_ROWS
            )
        )
