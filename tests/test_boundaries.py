"""The layer boundaries: dpcore is pure, only warehouse/ imports duckdb, only expectations/ GX.

Parses every module's imports (not just top-level lines), so an import hidden in a function
body is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("dpcore", "warehouse", "expectations", "tasks", "flows")

FORBIDDEN = {
    "dpcore": {
        "prefect",
        "duckdb",
        "great_expectations",
        "pandas",
        "yaml",
        "pydantic",
        "scipy",
        "tasks",
        "flows",
        "warehouse",
        "expectations",
    },
    "warehouse": {"prefect", "great_expectations", "tasks", "flows", "expectations"},
    "expectations": {"prefect", "duckdb", "tasks", "flows", "warehouse"},
    "tasks": {"duckdb", "great_expectations", "flows"},
    "flows": {"duckdb", "great_expectations"},
}


def imported_roots(path: Path) -> set[str]:
    """Top-level module names a file imports anywhere in its body."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_imported_roots_sees_nested_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function counts."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    import duckdb\n    from prefect import flow\n")
    assert imported_roots(module) == {"duckdb", "prefect"}


@pytest.mark.parametrize("package", PACKAGES)
def test_package_respects_its_boundary(package: str) -> None:
    """No module of ``package`` imports what its layer must not."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"layer boundary broken: {offenders}"


def test_only_warehouse_imports_duckdb_and_only_expectations_imports_gx() -> None:
    """Across all product packages, duckdb lives in warehouse/ and GX in expectations/."""
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            roots = imported_roots(path)
            if package != "warehouse":
                assert "duckdb" not in roots, path
            if package != "expectations":
                assert "great_expectations" not in roots, path


# The dask source engine: one warehouse module reads Parquet with Dask, one task module opens
# the cluster through Prefect's Dask integration. Nothing else imports them.
DASK_OWNERS = {
    "dask": {"warehouse/dask_source.py"},
    "distributed": {"warehouse/dask_source.py"},
    "prefect_dask": {"tasks/dask_engine.py"},
}


def test_only_the_dask_engine_modules_import_dask() -> None:
    """dask and distributed live in warehouse/dask_source.py, prefect_dask in tasks/."""
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            where = path.relative_to(ROOT).as_posix()
            for module in imported_roots(path) & DASK_OWNERS.keys():
                assert where in DASK_OWNERS[module], f"{where} imports {module}"
    for module, owners in DASK_OWNERS.items():
        for owner in owners:
            assert module in imported_roots(ROOT / owner), (owner, module)


def test_only_the_postgres_store_imports_psycopg() -> None:
    """The PostgreSQL privacy store is one warehouse module; nothing else talks to it."""
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            where = path.relative_to(ROOT).as_posix()
            if "psycopg" in imported_roots(path):
                assert where == "warehouse/postgres.py", f"{where} imports psycopg"
    assert "psycopg" in imported_roots(ROOT / "warehouse/postgres.py")
