"""Loading the bundled UCI Adult training file into ``raw.adult`` (the embedded default)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import duckdb

from warehouse.connection import run_transaction

ADULT_TABLE = "raw.adult"
ADULT_COLUMNS = {
    "age": "INTEGER",
    "workclass": "VARCHAR",
    "fnlwgt": "INTEGER",
    "education": "VARCHAR",
    "education_num": "INTEGER",
    "marital_status": "VARCHAR",
    "occupation": "VARCHAR",
    "relationship": "VARCHAR",
    "race": "VARCHAR",
    "sex": "VARCHAR",
    "capital_gain": "INTEGER",
    "capital_loss": "INTEGER",
    "hours_per_week": "INTEGER",
    "native_country": "VARCHAR",
    "income": "VARCHAR",
}


def adult_data_path() -> Path:
    """The bundled, gzip-compressed raw UCI Adult training file."""
    return Path(str(resources.files("warehouse") / "data" / "adult.data.gz"))


def seed_adult(path: Path, *, replace: bool = False) -> bool:
    """Create ``raw.adult`` from the bundled file if absent; True if it was loaded."""
    data = adult_data_path()

    def body(con: duckdb.DuckDBPyConnection) -> bool:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name = 'adult'"
        ).fetchall()[0][0]
        if exists and not replace:
            return False
        columns = ", ".join(f"'{n}': '{t}'" for n, t in ADULT_COLUMNS.items())
        con.execute(
            "CREATE OR REPLACE TABLE raw.adult AS SELECT * FROM read_csv("
            f"?, header = false, delim = ',', columns = {{{columns}}}, "
            "auto_detect = false, strict_mode = false, null_padding = false)",
            [str(data)],
        )
        texts = [n for n, t in ADULT_COLUMNS.items() if t == "VARCHAR"]
        sets = ", ".join(f"{n} = trim({n})" for n in texts)
        con.execute(f"UPDATE raw.adult SET {sets}")
        con.execute("DELETE FROM raw.adult WHERE age IS NULL")
        con.execute(
            "COMMENT ON TABLE raw.adult IS 'UCI Adult training file (Becker & Kohavi 1996, "
            "CC BY 4.0), loaded by dprelease demo'"
        )
        return True

    return run_transaction(path, body)


def register_adult(path: Path, cap: tuple[float, float]) -> bool:
    """Register ``raw.adult``'s lifetime cap if it has none; True if it was registered.

    The demo stands in for the embedded default's privacy officer; any other dataset is
    registered by a person (``dprelease budget register``).
    """
    from dpcore.accounting import PrivacyCap
    from warehouse.ledger import budget_state, register_budget

    if budget_state(path, ADULT_TABLE) is not None:
        return False
    register_budget(path, ADULT_TABLE, PrivacyCap(*cap), unit="row", registered_by="dprelease demo")
    return True
