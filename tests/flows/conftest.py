"""Flow-level fixtures: one Prefect test harness per session, and seeded warehouse homes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from warehouse.paths import WarehousePaths
from warehouse.seed import seed_adult

SPECS = Path(__file__).resolve().parents[2] / "deployments" / "specs"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server for the flow tests (about 20 s to start, so shared)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture
def home(tmp_path: Path) -> WarehousePaths:
    """A fresh warehouse directory with the bundled Adult data loaded."""
    paths = WarehousePaths.from_env(tmp_path / "home")
    seed_adult(paths.warehouse)
    return paths


def write_spec(tmp_path: Path, name: str = "adult", **changes: object) -> str:
    """A copy of the Adult spec with sections updated (``a__b`` keys reach nested fields).

    Uses the fast ``independent`` synthesizer unless ``synthesizer__method`` is given: these
    tests are about the release path, and the default method's own tests live in
    ``tests/dpcore/synth`` (the README and demo tests still run the default end to end).
    """
    data = yaml.safe_load((SPECS / "adult.yaml").read_text())
    changes = {"synthesizer__method": "independent", **changes}
    for key, value in changes.items():
        node = data
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)
