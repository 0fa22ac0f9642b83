"""Publishing to the release file: versions, the view, comments, idempotency, atomicity."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from dpcore.errors import NotPrivateError
from warehouse import publish as publish_module
from warehouse.errors import PublishError
from warehouse.failures import DiskFullError
from warehouse.paths import WarehousePaths
from warehouse.publish import (
    ReleaseMetadata,
    catalog,
    publish,
    published_for_run,
)

COMMENTS = {"age": "Age in years, drawn inside its bin.", "sex": "Recorded sex (F or M)."}


def meta(run_id: str, name: str = "adult", **changes: object) -> ReleaseMetadata:
    fields: dict[str, object] = {
        "name": name,
        "run_id": run_id,
        "source": "raw.adult",
        "spec_hash": "spec-1",
        "description": "Synthetic UCI Adult.",
        "method": "independent",
        "epsilon": 1.0,
        "delta": 1e-6,
        "rho": 0.0217,
        "cumulative_epsilon": 1.5,
        "cumulative_delta": 1e-6,
        "cap_epsilon": 4.0,
        "cap_delta": 1e-6,
        "utility_passed": True,
        "utility": {"max_tvd": 0.01},
        "column_comments": COMMENTS,
    }
    fields.update(changes)
    return ReleaseMetadata(**fields)  # type: ignore[arg-type]


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"age": rng.integers(17, 91, rows), "sex": rng.choice(np.array(["F", "M"]), rows)}
    )


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def staging_files(paths: WarehousePaths) -> list[str]:
    return sorted(p.name for p in paths.home.glob(".release-*"))


def test_first_publish_creates_table_view_and_catalog(paths: WarehousePaths) -> None:
    data = frame(7)
    published = publish(paths, data, meta("run-1"), private=True)

    assert (published.name, published.version, published.table_name) == ("adult", 1, "adult_v1")
    assert (published.run_id, published.rows) == ("run-1", 7)
    release = paths.release
    assert query(release, "SELECT count(*) FROM adult_v1") == [(7,)]
    assert query(release, "SELECT count(*) FROM adult") == [(7,)]
    got = pd.DataFrame(query(release, "SELECT age, sex FROM adult"), columns=["age", "sex"])
    pd.testing.assert_frame_equal(got, data, check_dtype=False)
    rows = catalog(paths)
    assert len(rows) == 1
    row = rows[0]
    assert (row["name"], row["version"], row["table_name"], row["run_id"], row["rows"]) == (
        "adult",
        1,
        "adult_v1",
        "run-1",
        7,
    )
    assert row["columns"] == ["age", "sex"]
    assert (row["epsilon"], row["cap_epsilon"], row["cumulative_epsilon"]) == (1.0, 4.0, 1.5)
    assert json.loads(str(row["utility"])) == {"max_tvd": 0.01}
    assert row["created_at"] == published.created_at
    assert published_for_run(paths, "run-1") == published
    assert published_for_run(paths, "run-2") is None
    assert staging_files(paths) == []


def test_second_publish_moves_the_view(paths: WarehousePaths) -> None:
    publish(paths, frame(5), meta("run-1"), private=True)
    second = publish(paths, frame(9, seed=1), meta("run-2"), private=True)

    assert (second.version, second.table_name) == (2, "adult_v2")
    release = paths.release
    assert query(release, "SELECT count(*) FROM adult") == [(9,)]
    assert query(release, "SELECT count(*) FROM adult_v1") == [(5,)]  # old versions stay
    view_sql = query(release, "SELECT sql FROM duckdb_views() WHERE view_name = 'adult'")
    assert "adult_v2" in str(view_sql[0][0]) and "adult_v1" not in str(view_sql[0][0])
    assert [(r["version"], r["rows"]) for r in catalog(paths, "adult")] == [(2, 9), (1, 5)]


def test_releases_of_other_names_are_independent(paths: WarehousePaths) -> None:
    publish(paths, frame(3), meta("run-1"), private=True)
    other = publish(paths, frame(4), meta("run-2", name="census"), private=True)
    assert (other.version, other.table_name) == (1, "census_v1")
    assert query(paths.release, "SELECT count(*) FROM adult") == [(3,)]
    assert query(paths.release, "SELECT count(*) FROM census") == [(4,)]
    assert [r["run_id"] for r in catalog(paths, "census")] == ["run-2"]
    assert len(catalog(paths)) == 2


def test_release_file_alone_read_only_resolves_the_view(paths: WarehousePaths) -> None:
    publish(paths, frame(4), meta("run-1"), private=True)
    publish(paths, frame(6), meta("run-2"), private=True)
    # what a consumer does: open the one file it was handed, read-only
    with duckdb.connect(str(paths.release), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM adult").fetchall() == [(6,)]
        assert con.execute("SELECT max(version) FROM catalog").fetchall() == [(2,)]


def test_attached_release_resolves_qualified_view(paths: WarehousePaths) -> None:
    publish(paths, frame(4), meta("run-1"), private=True)
    publish(paths, frame(6), meta("run-2"), private=True)
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{paths.release}' AS release (READ_ONLY)")
        assert con.execute("SELECT count(*) FROM release.adult").fetchall() == [(6,)]
        assert con.execute("SELECT count(*) FROM release.adult_v1").fetchall() == [(4,)]
        assert con.execute("SELECT count(*) FROM release.catalog").fetchall() == [(2,)]
    with duckdb.connect() as con:  # under another alias too
        con.execute(f"ATTACH '{paths.release}' AS consumer_copy (READ_ONLY)")
        assert con.execute("SELECT count(*) FROM consumer_copy.adult").fetchall() == [(6,)]


def test_table_view_and_column_comments(paths: WarehousePaths) -> None:
    publish(paths, frame(4), meta("run-1"), private=True)
    release = paths.release
    tables = dict(query(release, "SELECT table_name, comment FROM duckdb_tables()"))
    assert "version 1" in str(tables["adult_v1"]) and "4 rows" in str(tables["adult_v1"])
    assert "differentially private" in str(tables["adult_v1"])
    assert "Synthetic UCI Adult." in str(tables["adult_v1"])
    assert tables["catalog"]
    views = dict(query(release, "SELECT view_name, comment FROM duckdb_views()"))
    assert "adult_v1" in str(views["adult"])
    columns = dict(
        query(
            release,
            "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'adult_v1'",
        )
    )
    assert columns == COMMENTS


def test_comments_with_quotes_are_stored_verbatim(paths: WarehousePaths) -> None:
    comments = {"age": 'it\'s "age"; DROP TABLE catalog; --', "sex": "x"}
    publish(
        paths,
        frame(2),
        meta("run-1", description="O'Brien's data", column_comments=comments),
        private=True,
    )
    got = dict(
        query(
            paths.release,
            "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'adult_v1'",
        )
    )
    assert got == comments
    assert query(paths.release, "SELECT description FROM catalog") == [("O'Brien's data",)]


def test_same_run_published_twice_returns_the_existing_version(paths: WarehousePaths) -> None:
    first = publish(paths, frame(5), meta("run-1"), private=True)
    before = digest(paths.release)
    again = publish(paths, frame(8, seed=3), meta("run-1"), private=True)

    assert again == first
    assert digest(paths.release) == before  # the live file was not even rewritten
    assert len(catalog(paths)) == 1
    assert query(paths.release, "SELECT count(*) FROM adult") == [(5,)]
    assert staging_files(paths) == []


def test_not_private_output_is_refused(paths: WarehousePaths) -> None:
    with pytest.raises(NotPrivateError, match="seeded test generator"):
        publish(paths, frame(5), meta("run-1"), private=False)
    assert not paths.release.exists()
    assert staging_files(paths) == []

    publish(paths, frame(5), meta("run-1"), private=True)
    before = digest(paths.release)
    with pytest.raises(NotPrivateError):
        publish(paths, frame(6), meta("run-2"), private=False)
    assert digest(paths.release) == before
    assert [r["run_id"] for r in catalog(paths)] == ["run-1"]


def test_catalog_and_lookup_without_a_release(paths: WarehousePaths) -> None:
    assert catalog(paths) == []
    assert published_for_run(paths, "run-1") is None
    assert not paths.release.exists()


# --- failures leave the live file alone -------------------------------------------------


def _unsupported_frame() -> pd.DataFrame:
    return pd.DataFrame({"age": [1 + 2j, 3 + 4j], "sex": ["F", "M"]})  # complex: no DuckDB type


def _comment_on_missing_column(paths: WarehousePaths) -> None:
    publish(
        paths,
        frame(3),
        meta("run-bad", column_comments={"age": "a", "no_such_column": "b"}),
        private=True,
    )


@pytest.mark.parametrize("existing", [False, True], ids=["first", "later"])
@pytest.mark.parametrize("failure", ["unsupported type", "bad comment", "catalog insert"])
def test_failure_in_the_transaction_changes_nothing(
    paths: WarehousePaths, monkeypatch: pytest.MonkeyPatch, existing: bool, failure: str
) -> None:
    if existing:
        publish(paths, frame(5), meta("run-1"), private=True)
        before = (digest(paths.release), paths.release.stat().st_ino)

    with pytest.raises(PublishError, match="rolled back"):
        if failure == "unsupported type":
            publish(paths, _unsupported_frame(), meta("run-bad"), private=True)
        elif failure == "bad comment":
            _comment_on_missing_column(paths)
        else:

            def boom(*args: object, **kwargs: object) -> str:
                raise ValueError("utility not serialisable")

            monkeypatch.setattr(publish_module.json, "dumps", boom)
            publish(paths, frame(3), meta("run-bad"), private=True)

    monkeypatch.undo()
    assert staging_files(paths) == []
    if existing:
        assert (digest(paths.release), paths.release.stat().st_ino) == before
        assert [r["run_id"] for r in catalog(paths)] == ["run-1"]
    else:
        assert not paths.release.exists()
    # the next publish takes the next version number, as if the failure never happened
    nxt = publish(paths, frame(2), meta("run-2"), private=True)
    assert nxt.version == (2 if existing else 1)


def test_failure_after_the_transaction_before_the_rename(
    paths: WarehousePaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(paths, frame(5), meta("run-1"), private=True)
    before = digest(paths.release)

    def disk_full(path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(publish_module, "_fsync", disk_full)
    with pytest.raises(DiskFullError, match="the disk is full"):
        publish(paths, frame(3), meta("run-2"), private=True)
    assert digest(paths.release) == before
    assert staging_files(paths) == []
    assert published_for_run(paths, "run-2") is None


def test_stale_staging_files_are_cleared(paths: WarehousePaths) -> None:
    stale = paths.home / ".release-deadbeef.duckdb"
    stale.write_bytes(b"left by a killed publisher")
    (paths.home / ".release-deadbeef.duckdb.wal").write_bytes(b"x")
    publish(paths, frame(2), meta("run-1"), private=True)
    assert staging_files(paths) == []


# --- readers during publishes -----------------------------------------------------------

READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import duckdb

    release, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    seen = []
    print("ready", flush=True)
    while not stop.exists():
        if not release.exists():
            time.sleep(0.001)
            continue
        try:
            with duckdb.connect(str(release), read_only=True) as con:
                version, rows, table = con.execute(
                    "SELECT version, rows, table_name FROM catalog WHERE name = 'adult' "
                    "ORDER BY version DESC LIMIT 1"
                ).fetchall()[0]
                view_rows = con.execute("SELECT count(*) FROM adult").fetchall()[0][0]
                view_sql = con.execute(
                    "SELECT sql FROM duckdb_views() WHERE view_name = 'adult'"
                ).fetchall()[0][0]
            seen.append([version, rows, view_rows, table in view_sql])
        except Exception as error:
            seen.append(["error", repr(error)])
    out.write_text(json.dumps(seen))
    """
)


def test_readers_only_ever_see_complete_releases(paths: WarehousePaths, tmp_path: Path) -> None:
    stop, out = tmp_path / "stop", tmp_path / "seen.json"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(paths.release), str(stop), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None
        first = reader.stdout.readline().strip()
        assert first == "ready", reader.stderr.read() if reader.stderr else first
        for k in range(1, 21):
            published = publish(paths, frame(10 + k, seed=k), meta(f"run-{k}"), private=True)
            assert published.version == k
            time.sleep(0.01)
        time.sleep(0.1)
    finally:
        stop.touch()
        _, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err

    seen = json.loads(out.read_text())
    errors = [s for s in seen if s[0] == "error"]
    assert errors == []
    assert len(seen) > 20
    for version, rows, view_rows, view_is_newest in seen:
        assert rows == 10 + version  # the catalog row belongs to that version's table
        assert view_rows == rows  # the view shows that whole version
        assert view_is_newest
    versions = [s[0] for s in seen]
    assert versions == sorted(versions)  # never goes back
    assert len(set(versions)) >= 2  # the reader really overlapped the publishes
    assert versions[-1] == 20
    assert staging_files(paths) == []


def test_an_open_reader_keeps_its_snapshot(paths: WarehousePaths, tmp_path: Path) -> None:
    """A consumer's open connection is not disturbed by a publish (rename, not rewrite)."""
    publish(paths, frame(3), meta("run-1"), private=True)
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{paths.release}' AS release (READ_ONLY)")
        assert con.execute("SELECT count(*) FROM release.adult").fetchall() == [(3,)]
        publish(paths, frame(8), meta("run-2"), private=True)
        assert con.execute("SELECT count(*) FROM release.adult").fetchall() == [(3,)]
        assert con.execute("SELECT max(version) FROM release.catalog").fetchall() == [(1,)]
    assert query(paths.release, "SELECT count(*) FROM adult") == [(8,)]


def test_concurrent_publishers_take_distinct_versions(paths: WarehousePaths) -> None:
    barrier = threading.Barrier(4)
    results: list[int] = []
    errors: list[BaseException] = []

    def work(k: int) -> None:
        barrier.wait()
        try:
            results.append(publish(paths, frame(k + 1), meta(f"run-{k}"), private=True).version)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    assert sorted(results) == [1, 2, 3, 4]
    rows = {int(str(r["version"])): r["rows"] for r in catalog(paths)}
    assert sorted(rows) == [1, 2, 3, 4]
    assert query(paths.release, "SELECT count(*) FROM adult") == [(rows[4],)]
    for version, n in rows.items():
        assert query(paths.release, f"SELECT count(*) FROM adult_v{version}") == [(n,)]
    assert staging_files(paths) == []


def test_a_refresh_must_cost_nothing() -> None:
    with pytest.raises(ValueError, match="spends nothing"):
        meta("refresh-1", kind="refresh", measurement_run="run-1")
    with pytest.raises(ValueError, match="kind"):
        meta("run-1", kind="resample")


def test_an_older_catalog_gains_the_provenance_columns(paths: WarehousePaths) -> None:
    """A release file written before refreshes existed is upgraded on its next publish."""
    publish(paths, frame(5), meta("run-old"), private=True)
    with duckdb.connect(str(paths.release)) as con:  # roll the file back to the old schema
        for column in ("kind", "measurement_run", "cumulative_rho"):
            con.execute(f"ALTER TABLE catalog DROP COLUMN {column}")
    publish(paths, frame(5), meta("run-new"), private=True)
    rows = query(
        paths.release,
        "SELECT version, run_id, kind, measurement_run FROM catalog ORDER BY version",
    )
    assert rows == [(1, "run-old", "measured", "run-old"), (2, "run-new", "measured", "run-new")]


def test_the_catalog_row_is_the_release_metadata_plus_what_publishing_adds() -> None:
    """One description of a version: each catalog column is a ReleaseMetadata field (copied
    by name) or one publishing fills in; only the column comments stay out of the catalog."""
    from dataclasses import fields
    from datetime import UTC, datetime

    from warehouse.publish import CATALOG_COLUMNS, PUBLISHED_COLUMNS, CatalogRow

    given = {f.name for f in fields(ReleaseMetadata)}
    assert set(CATALOG_COLUMNS) == (given - {"column_comments"}) | PUBLISHED_COLUMNS
    m = meta("r1", kind="refresh", measurement_run="r0", epsilon=0.0, delta=0.0, rho=0.0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    row = CatalogRow.of(m, version=3, table_name="adult_v3", rows=9, columns=["a"], created_at=now)
    assert (row.name, row.version, row.rows, row.created_at) == ("adult", 3, 9, now)
    assert row.measurement_run == "r0" and json.loads(row.utility) == m.utility
