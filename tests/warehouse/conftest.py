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
