"""A spooled synthetic table publishes exactly the rows it was written with, or nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.warehouse.test_publish_chunks import chunks, meta, query
from warehouse.errors import PublishError
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog, publish
from warehouse.spool import SpooledTable, SpoolWriter, discard, read_batches, sweep_stale

SIZES = [1000, 999, 0, 250]


def spooled(paths: WarehousePaths) -> SpooledTable:
    with SpoolWriter(paths) as writer:
        for frame in chunks(SIZES):
            writer.write(frame)
        return writer.finish()


def test_a_spool_publishes_the_same_rows_as_its_chunks(paths: WarehousePaths) -> None:
    spool = spooled(paths)
    assert spool.rows == sum(SIZES) and spool.columns == ("sex", "age")
    publish(paths, spool, meta("run-1"), private=True)
    publish(paths, chunks(SIZES), meta("run-2"), private=True)
    sql = "SELECT sex, age, count(*) FROM {} GROUP BY ALL ORDER BY ALL"
    assert query(paths.release, sql.format("adult_v1")) == query(
        paths.release, sql.format("adult_v2")
    )
    types = "SELECT data_type FROM information_schema.columns WHERE table_name = '{}'"
    assert query(paths.release, types.format("adult_v1")) == query(
        paths.release, types.format("adult_v2")
    )
    discard(spool)
    assert not spool.path.exists()


def test_a_spool_reads_back_in_any_batches_with_the_chunks_dtypes(paths: WarehousePaths) -> None:
    spool = spooled(paths)
    whole = pd.concat(list(chunks(SIZES)), ignore_index=True)
    sizes = [700, 0, 700, 849]  # across the written chunks' boundaries (DuckDB's too)
    batches = list(read_batches(spool, {"sex": ("F", "M")}, sizes))
    assert [len(b) for b in batches] == sizes
    assert all(b.dtypes.to_dict() == whole.dtypes.to_dict() for b in batches)
    assert pd.concat(batches, ignore_index=True).equals(whole)


def test_a_value_outside_the_categories_is_read_as_itself(paths: WarehousePaths) -> None:
    spool = spooled(paths)
    with duckdb.connect(str(spool.path)) as con:
        con.execute("UPDATE synthetic SET sex = 'X' WHERE rowid = 3")
    (batch,) = read_batches(spool, {"sex": ("F", "M")}, [spool.rows])
    assert list(batch["sex"].cat.categories) == ["F", "M", "X"]
    assert batch["sex"].iloc[3] == "X" and (batch["sex"] == "X").sum() == 1


def test_a_changed_spool_is_refused_and_nothing_is_published(paths: WarehousePaths) -> None:
    publish(paths, chunks([10]), meta("run-0"), private=True)
    before = paths.release.read_bytes()
    spool = spooled(paths)
    with duckdb.connect(str(spool.path)) as con:
        con.execute("UPDATE synthetic SET age = age + 1 WHERE rowid = 3")
    with pytest.raises(PublishError, match="differs from the one that was checked"):
        publish(paths, spool, meta("run-1"), private=True)
    assert paths.release.read_bytes() == before
    assert [r["run_id"] for r in catalog(paths)] == ["run-0"]


def test_a_missing_spool_is_refused(paths: WarehousePaths) -> None:
    spool = spooled(paths)
    discard(spool)
    with pytest.raises(PublishError, match="is gone"):
        publish(paths, spool, meta("run-1"), private=True)
    assert not paths.release.exists() or catalog(paths) == []


def test_a_failed_write_leaves_no_spool_and_old_spools_are_swept(paths: WarehousePaths) -> None:
    with pytest.raises(RuntimeError), SpoolWriter(paths) as writer:
        for frame in chunks(SIZES, fail_at=2):
            writer.write(frame)
    left = spooled(paths)
    sweep_stale(paths, older_than_s=-1.0)
    assert not left.path.exists()
    assert list(Path(left.path.parent).iterdir()) == []
