"""The measured crosstabs are published beside each version: exactly the stored noisy counts,
with their standard errors and the model's counts, kept in step with versions and refreshes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from flows.refresh import refresh
from flows.release import release
from tests.flows.conftest import write_spec
from warehouse.measurements import load_measurements
from warehouse.paths import WarehousePaths

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_marginals_are_the_stored_measurements(home: WarehousePaths, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, synthesizer__method="mst")
    first = release(spec, home=str(home.home))
    stored = load_measurements(home.warehouse, first.run_id)
    assert stored is not None
    with duckdb.connect(str(home.release), read_only=True) as con:
        rows = con.execute(
            "SELECT measurement, columns, noisy_count, std_error, model_count, selected, "
            "measurement_run FROM marginals WHERE name = 'adult' AND version = 1 "
            "ORDER BY measurement, rowid"
        ).fetchall()
        one_way = con.execute(
            "SELECT cell[1], noisy_count, model_count FROM latest_marginals "
            "WHERE marginal = 'sex' ORDER BY cell[1]"
        ).fetchall()
    by_measurement: dict[int, list[tuple[object, ...]]] = {}
    for row in rows:
        by_measurement.setdefault(int(row[0]), []).append(row)
    assert sorted(by_measurement) == list(range(len(stored)))
    for index, m in enumerate(stored):
        cells = by_measurement[index]
        assert cells[0][1] == list(m.clique)
        assert np.array_equal([c[2] for c in cells], m.values)  # exactly the stored counts
        assert {c[3] for c in cells} == {m.sigma}
        assert {c[5] for c in cells} == {m.selection_epsilon > 0}
        assert {c[6] for c in cells} == {first.run_id}
    assert [label for label, _, _ in one_way] == ["Female", "Male"]
    assert abs(sum(model for _, _, model in one_way) - first.rows) < 0.02 * first.rows

    again = refresh("adult", home=str(home.home))
    with duckdb.connect(str(home.release), read_only=True) as con:
        v2 = con.execute(
            "SELECT count(*), min(measurement_run), max(measurement_run), sum(noisy_count) "
            "FROM latest_marginals WHERE name = 'adult'"
        ).fetchall()[0]
        versions = con.execute("SELECT DISTINCT version FROM latest_marginals").fetchall()
    assert versions == [(again.version,)]
    assert v2[:3] == (len(rows), first.run_id, first.run_id)  # the refresh's measurements
    assert v2[3] == sum(int(m.values.sum()) for m in stored)
