"""Warehouse fixtures: a fresh ``WarehousePaths`` under ``tmp_path`` for every test."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.paths import WarehousePaths


@pytest.fixture
def paths(tmp_path: Path) -> WarehousePaths:
    """An empty warehouse home of its own."""
    return WarehousePaths.from_env(tmp_path / "home")


@pytest.fixture
def warehouse(paths: WarehousePaths) -> Path:
    """The (not yet created) private warehouse file of ``paths``."""
    return paths.warehouse


@pytest.fixture(params=["duckdb", "postgresql"])
def store_home(request: pytest.FixtureRequest, paths: WarehousePaths) -> Path:
    """The warehouse file of a home whose privacy store (ledger, run log, measurements) is
    DuckDB (the file itself) or PostgreSQL (a temporary cluster's fresh schema): a suite
    that takes it as its ``warehouse`` runs against both backends."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_url")
    return paths.warehouse
