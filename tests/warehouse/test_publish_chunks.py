"""Publishing a stream of chunks: one version, all rows, and nothing at all if it stops midway."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from warehouse.errors import PublishError
from warehouse.paths import WarehousePaths
from warehouse.publish import ReleaseMetadata, catalog, publish, published_for_run

ROOT = Path(__file__).resolve().parents[2]


def meta(run_id: str) -> ReleaseMetadata:
    return ReleaseMetadata(
        name="adult", run_id=run_id, source="raw.adult", spec_hash="s", description="d.",
        method="independent", epsilon=1.0, delta=1e-6, rho=0.02, cumulative_epsilon=1.0,
        cumulative_delta=1e-6, cap_epsilon=4.0, cap_delta=1e-6, utility_passed=True,
        utility={}, column_comments={"sex": "Recorded sex."},
    )  # fmt: skip


def chunks(sizes: list[int], fail_at: int | None = None) -> Iterator[pd.DataFrame]:
    """Frames like the synthesize task's: a categorical and a nullable integer column."""
    for k, size in enumerate(sizes):
        if k == fail_at:
            raise RuntimeError("the sampler stopped")
        rng = np.random.default_rng(k)
        codes = rng.integers(-1, 2, size)  # -1 is a NULL
        age = pd.array(rng.integers(17, 91, size), dtype="Int64")
        yield pd.DataFrame(
            {"sex": pd.Categorical.from_codes(codes, categories=["F", "M"]), "age": age}
        )


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_many_chunks_make_one_version_with_every_row(paths: WarehousePaths) -> None:
    sizes = [1000, 999, 1000, 7, 0, 500]
    published = publish(paths, chunks(sizes), meta("run-1"), private=True)
    assert published.rows == sum(sizes)
    assert query(paths.release, "SELECT count(*) FROM adult_v1") == [(sum(sizes),)]
    assert catalog(paths)[0]["rows"] == sum(sizes)
    assert catalog(paths)[0]["columns"] == ["sex", "age"]
    types = query(
        paths.release,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = 'adult_v1' ORDER BY ordinal_position",
    )
    assert types == [("sex", "VARCHAR"), ("age", "BIGINT")]  # categories stored as text
    expected = pd.concat(list(chunks(sizes)), ignore_index=True)
    got = query(paths.release, "SELECT sex, count(*) FROM adult_v1 GROUP BY ALL ORDER BY ALL")
    counts = (
        expected["sex"]
        .astype(object)
        .where(expected["sex"].notna(), None)
        .value_counts(dropna=False)
    )
    assert {k if isinstance(k, str) else None: int(v) for k, v in counts.items()} == dict(got)


def test_a_failure_between_chunks_publishes_nothing(paths: WarehousePaths) -> None:
    publish(paths, chunks([10]), meta("run-1"), private=True)
    before = hashlib.sha256(paths.release.read_bytes()).hexdigest()
    with pytest.raises(PublishError, match="rolled back: the sampler stopped"):
        publish(paths, chunks([100, 100, 100], fail_at=2), meta("run-2"), private=True)
    assert hashlib.sha256(paths.release.read_bytes()).hexdigest() == before
    assert published_for_run(paths, "run-2") is None
    assert not list(paths.home.glob(".release-*"))
    assert publish(paths, chunks([5]), meta("run-3"), private=True).version == 2


def test_chunks_with_other_columns_are_refused(paths: WarehousePaths) -> None:
    def mixed() -> Iterator[pd.DataFrame]:
        yield pd.DataFrame({"age": [1]})
        yield pd.DataFrame({"sex": ["F"]})

    with pytest.raises(PublishError, match="columns"):
        publish(paths, mixed(), meta("run-1"), private=True)
    assert not paths.release.exists()


KILLED = textwrap.dedent(
    """
    import sys
    from tests.warehouse.test_publish_chunks import chunks, meta
    from warehouse.paths import WarehousePaths
    from warehouse.publish import publish
    publish(WarehousePaths.from_env(sys.argv[1]), chunks([300] * 4), meta("run-2"), private=True)
    """
)


def test_a_publish_killed_between_chunks_leaves_no_version(paths: WarehousePaths) -> None:
    """SIGKILL after the first of four chunks (the ``while-publishing`` point): the live file
    is untouched and the next publish clears the staging file and takes version 2."""
    publish(paths, chunks([10]), meta("run-1"), private=True)
    before = hashlib.sha256(paths.release.read_bytes()).hexdigest()
    env = {**os.environ, "DPRELEASE_CRASH_AT": "while-publishing", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(paths.home)], env=env, cwd=ROOT, timeout=120
    )
    assert done.returncode == -signal.SIGKILL
    assert hashlib.sha256(paths.release.read_bytes()).hexdigest() == before
    assert published_for_run(paths, "run-2") is None
    assert publish(paths, chunks([300] * 4), meta("run-2"), private=True).version == 2
    assert not list(paths.home.glob(".release-*"))
    assert query(paths.release, "SELECT count(*) FROM adult") == [(1200,)]
