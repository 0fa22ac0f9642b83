"""Bad input refused with a typed error that says what to do, the ledger unchanged and
nothing published.

The issue's list, and where each is covered:

* missing table, a dropped column, an empty table: ``test_release_flow.py``
  (``test_bad_input_is_refused_before_any_charge``, through the flow);
* a column whose type drifted, a domain over the declared cell limit, a non-finite or
  out-of-range epsilon or delta, a corrupted or hand-edited ledger row: here, through the
  flow (``prefect_harness``), plus every epsilon/delta value at the spec level;
* epsilon/delta at the ``PrivacyCost``/``PrivacyCap`` level: ``tests/dpcore/test_accounting.py``;
* an exhausted budget: ``test_release_publishes_versions_then_refuses_past_the_cap`` (flow)
  and ``tests/warehouse/test_ledger.py`` (the charge itself).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from dpcore.errors import DPReleaseError
from flows.release import release
from flows.spec import SpecError, load_spec, parse_spec
from tests.flows.conftest import SPECS, write_spec
from tests.registration import charge_request
from warehouse.errors import LedgerError, SchemaDriftError, UnitMismatchError
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog

Rows = list[tuple[Any, ...]]


def privacy_rows(home: WarehousePaths) -> tuple[Rows, Rows, Rows]:
    """Budgets, charges and measurements as stored (all empty if never created)."""
    with duckdb.connect(str(home.warehouse)) as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'privacy'"
            ).fetchall()
        }

        def rows(table: str, order: str) -> Rows:
            if table not in tables:
                return []
            return con.execute(f"SELECT * FROM privacy.{table} ORDER BY {order}").fetchall()

        return (
            rows("budgets", "dataset"),
            rows("charges", "dataset, seq"),
            rows("measurements", "run_id, idx"),
        )


def refused(home: WarehousePaths, spec: str, error: type[DPReleaseError], *messages: str) -> None:
    """The release fails with ``error`` naming ``messages``; nothing spent or published."""
    before = privacy_rows(home)
    with pytest.raises(error) as info:
        release(spec, home=str(home.home))
    for message in messages:
        assert message in str(info.value), str(info.value)
    assert privacy_rows(home) == before
    assert catalog(home) == [] and not home.release.exists()


@pytest.mark.usefixtures("prefect_harness")
def test_a_column_whose_type_drifted(home: WarehousePaths, tmp_path: Path) -> None:
    """A spec that released before hears that the table drifted (a new spec hears what to
    declare: ``test_text_sources.py``). Text is no drift: numbers stored as text are cast."""
    spec = write_spec(tmp_path)
    charge_request(home, load_spec(spec).to_request(spec), "an-earlier-run")
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("ALTER TABLE raw.adult ALTER age TYPE BOOLEAN")
    refused(
        home,
        spec,
        SchemaDriftError,
        "source table raw.adult no longer matches the spec",
        "age is BOOLEAN but the spec declares it integer",
        "Update the spec's columns",
    )


@pytest.mark.usefixtures("prefect_harness")
def test_a_domain_over_the_declared_cell_limit(home: WarehousePaths, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, synthesizer__max_marginal_cells=50)
    refused(
        home,
        spec,
        SpecError,
        spec,
        "columns.age has 74 codes",
        "cells, more than the spec's limit synthesizer.max_marginal_cells=50",
        "or raise the limit",
    )


@pytest.mark.usefixtures("prefect_harness")
def test_a_person_level_release_of_a_row_level_budget(home: WarehousePaths, tmp_path: Path) -> None:
    """The dataset's cap was fixed by a row-level charge; a person-level spec is refused
    in planning, before the source is read."""
    spec = write_spec(tmp_path)
    request = load_spec(spec).to_request(spec)
    charge_request(home, request, "earlier-row-run", unit="row")
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("ALTER TABLE raw.adult ADD COLUMN pid INTEGER DEFAULT 1")
    person = write_spec(tmp_path, "person", privacy__unit={"key": "pid", "max_rows_per_person": 2})
    refused(
        home,
        person,
        UnitMismatchError,
        "raw.adult's lifetime cap protects each row (privacy.unit: row)",
        "this spec protects each person identified by pid",
    )
    assert privacy_rows(home)[2] == []


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("epsilon", float("nan"), "epsilon must be a finite number greater than 0"),
        ("delta", float("inf"), "delta must be a finite number in [0, 1)"),
    ],
)
def test_a_bad_epsilon_or_delta_through_the_flow(
    home: WarehousePaths, tmp_path: Path, field: str, value: float, reason: str
) -> None:
    spec = write_spec(tmp_path, **{f"privacy__{field}": value})
    refused(home, spec, SpecError, f"privacy.{field}: {reason}")


def _adult() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SPECS / "adult.yaml").read_text())
    return data


@pytest.mark.parametrize("where", ["privacy", "privacy.cap"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epsilon", 0.0),
        ("epsilon", -1.0),
        ("epsilon", float("nan")),
        ("epsilon", float("inf")),
        ("epsilon", float("-inf")),
        ("delta", -1e-9),
        ("delta", 1.0),
        ("delta", float("nan")),
        ("delta", float("inf")),
    ],
)
def test_every_bad_epsilon_and_delta_is_a_spec_error(where: str, field: str, value: float) -> None:
    data = copy.deepcopy(_adult())
    node = data["privacy"] if where == "privacy" else data["privacy"]["cap"]
    node[field] = value
    with pytest.raises(SpecError) as info:
        parse_spec(data, "specs/bad.yaml")
    reason = (
        "epsilon must be a finite number greater than 0"
        if field == "epsilon"
        else "delta must be a finite number in [0, 1)"
    )
    assert "specs/bad.yaml" in str(info.value)
    assert f"{where}.{field}: {reason}" in str(info.value)


TAMPERS = {
    "charge epsilon edited": (
        "UPDATE privacy.charges SET epsilon = epsilon / 2",
        "was altered at charge 1",
    ),
    "spent rho lowered": (
        "UPDATE privacy.budgets SET spent_rho = 0",
        "reconciles privacy.budgets with privacy.charges",
    ),
    "charge deleted": ("DELETE FROM privacy.charges", "reconciles privacy.budgets"),
}


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("tamper", TAMPERS)
def test_a_hand_edited_ledger_stops_the_release_before_any_noise(
    home: WarehousePaths, tmp_path: Path, tamper: str
) -> None:
    spec = write_spec(tmp_path)
    request = load_spec(spec).to_request(spec)
    charge_request(home, request, "earlier-run")
    statement, message = TAMPERS[tamper]
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(statement)
    refused(home, spec, LedgerError, message, "privacy officer")
    assert privacy_rows(home)[2] == []  # no measurement was drawn


@pytest.mark.usefixtures("prefect_harness")
def test_a_view_charges_its_base_tables_cap_and_a_copy_has_none(
    home: WarehousePaths, tmp_path: Path
) -> None:
    """Caps follow the rows: a filtering view over raw.adult spends raw.adult's budget; a copy
    of raw.adult has no cap until an officer registers one; a view that could repeat rows is
    refused. The last two before anything is charged."""
    from warehouse.errors import UnregisteredDatasetError
    from warehouse.ledger import history
    from warehouse.views import UnsupportedViewError

    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("CREATE VIEW raw.adult_adults AS SELECT * FROM raw.adult WHERE age >= 18")
        con.execute("CREATE TABLE raw.adult_copy AS SELECT * FROM raw.adult")
        con.execute(
            "CREATE VIEW raw.adult_twice AS SELECT * FROM raw.adult UNION ALL "
            "SELECT * FROM raw.adult"
        )
    for name, table, error, message in [
        ("copy", "raw.adult_copy", UnregisteredDatasetError, "raw.adult_copy has no registered"),
        ("twice", "raw.adult_twice", UnsupportedViewError, "it combines several queries"),
    ]:
        refused(home, write_spec(tmp_path, name, source={"table": table}), error, message)
    release(write_spec(tmp_path, "view", source={"table": "raw.adult_adults"}), home=str(home.home))
    (charged,) = history(home.warehouse, "raw.adult")
    assert charged.charge.release == "adult"
    assert catalog(home)[0]["source"] == "raw.adult"
