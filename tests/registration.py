"""Registering a dataset's lifetime cap in tests, as a privacy officer does before releases."""

from __future__ import annotations

from pathlib import Path

from tasks.request import ReleaseRequest
from warehouse.ledger import register_budget
from warehouse.paths import WarehousePaths


def register_cap(home: str | Path | WarehousePaths, request: ReleaseRequest) -> None:
    """Register ``request``'s dataset with the cap its spec declares (idempotent)."""
    paths = home if isinstance(home, WarehousePaths) else WarehousePaths.from_env(home)
    paths.home.mkdir(parents=True, exist_ok=True)
    register_budget(paths.warehouse, request.dataset, request.cap, registered_by="tests")


def register_spec(home: str | Path | WarehousePaths, spec_path: str | Path) -> None:
    """Register the dataset of the spec at ``spec_path`` with the cap the spec declares."""
    from flows.spec import load_spec

    register_cap(home, load_spec(spec_path).to_request(str(spec_path)))


def charge_request(
    home: WarehousePaths, request: ReleaseRequest, run_id: str, unit: str = "row"
) -> None:
    """Charge ``request``'s cost to its dataset for ``run_id``, as an earlier run would have."""
    from tasks.budget import charge_request as charge

    charge(home.warehouse, request, run_id, unit)
