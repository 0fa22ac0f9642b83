"""Flow-level fixtures: seeded warehouse homes and specs (the Prefect test harness is in
``tests/conftest.py``, shared with the packaging tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from flows.spec import load_spec
from tests.registration import register_cap
from warehouse.paths import WarehousePaths
from warehouse.seed import register_adult, seed_adult

SPECS = Path(__file__).resolve().parents[2] / "deployments" / "specs"


@pytest.fixture
def bare_home(tmp_path: Path) -> WarehousePaths:
    """A fresh warehouse with the bundled Adult data loaded and no cap registered yet."""
    paths = WarehousePaths.from_env(tmp_path / "home")
    seed_adult(paths.warehouse)
    return paths


@pytest.fixture
def home(tmp_path: Path) -> WarehousePaths:
    """A fresh warehouse directory with the bundled Adult data loaded."""
    paths = WarehousePaths.from_env(tmp_path / "home")
    seed_adult(paths.warehouse)
    register_adult(paths.warehouse, (4.0, 1e-6))  # the Adult spec's cap, as the demo does
    return paths


def write_spec(tmp_path: Path, name: str = "adult", **changes: object) -> str:
    """A copy of the Adult spec with sections updated (``a__b`` keys reach nested fields).

    Uses the fast ``independent`` synthesizer unless ``synthesizer__method`` is given: these
    tests are about the release path, and the default method's own tests live in
    ``tests/dpcore/synth`` (the README and demo tests still run the default end to end).
    """
    data = yaml.safe_load((SPECS / "adult.yaml").read_text())
    changes = {"synthesizer__method": "independent", **changes}
    if changes["synthesizer__method"] == "independent" and "constraints" not in changes:
        data.pop("constraints", None)  # a joint-model feature: the independent method refuses it
    for key, value in changes.items():
        node = data
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


MARKER_SPEC = """
release: {name: people, description: Marker test release.}
source: {table: raw.people}
privacy: {epsilon: 2.0, delta: 1.0e-9, cap: {epsilon: 10.0, delta: 1.0e-6}}
columns:
  kind: {type: category, values: [a, b], missing: "?", on_invalid: missing}
  score: {type: integer, bounds: [0, 49], bin_width: 10}
expectations: {utility: {max_tvd: 0.5, row_tolerance: 0.5}}
"""


def marker_release(home: WarehousePaths, tmp_path: Path, marker: str, rows: int = 2000) -> str:
    """``raw.people`` full of ``marker`` strings, and the path of a spec releasing it.

    The marker stands in an unlisted column (names), in out-of-domain categories, and the
    scores include far out-of-bounds values: none may appear anywhere a release writes.
    """
    import duckdb

    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "CREATE TABLE raw.people AS SELECT "
            f"'{marker}_name_' || i AS full_name, "
            f"CASE WHEN i % 7 = 0 THEN '{marker}_cat_' || i ELSE "
            "CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END END AS kind, "
            "(i % 50) + 1000000 * (i % 97 = 0)::INTEGER AS score "
            f"FROM range({rows}) t(i)"
        )
    spec = tmp_path / "people.yaml"
    spec.write_text(MARKER_SPEC)
    register_cap(home, load_spec(spec).to_request(str(spec)))
    return str(spec)
