"""DDL of the ``privacy`` schema in the warehouse file: budgets, charges, measurements, runs."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.connection import run_transaction
from warehouse.migrations import AddColumn, Backfill, Step, migrate

PRIVACY_DDL = """
CREATE SCHEMA IF NOT EXISTS privacy;
CREATE TABLE IF NOT EXISTS privacy.budgets (
    dataset      VARCHAR PRIMARY KEY,
    cap_epsilon  DOUBLE NOT NULL,
    cap_delta    DOUBLE NOT NULL,
    cap_rho      DECIMAL(38, 18) NOT NULL,
    spent_rho    DECIMAL(38, 18) NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS privacy.charges (
    dataset      VARCHAR NOT NULL,
    seq          INTEGER NOT NULL,
    run_id       VARCHAR NOT NULL UNIQUE,
    release      VARCHAR NOT NULL,
    spec_hash    VARCHAR NOT NULL,
    epsilon      DOUBLE NOT NULL,
    delta        DOUBLE NOT NULL,
    rho          DECIMAL(38, 18) NOT NULL,
    spent_after  DECIMAL(38, 18) NOT NULL,
    charged_at   TIMESTAMPTZ NOT NULL,
    prev_hash    VARCHAR NOT NULL,
    row_hash     VARCHAR NOT NULL,
    PRIMARY KEY (dataset, seq)
);
CREATE TABLE IF NOT EXISTS privacy.runs (
    run_id       VARCHAR PRIMARY KEY,
    release      VARCHAR NOT NULL,
    dataset      VARCHAR NOT NULL,
    spec_hash    VARCHAR NOT NULL,
    spec_path    VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    error        VARCHAR,
    input_report VARCHAR,
    version      INTEGER
);
CREATE TABLE IF NOT EXISTS privacy.measurements (
    run_id       VARCHAR NOT NULL,
    idx          INTEGER NOT NULL,
    clique       VARCHAR[] NOT NULL,
    shape        INTEGER[] NOT NULL,
    sigma        DOUBLE NOT NULL,
    noisy        BLOB NOT NULL,
    private      BOOLEAN NOT NULL,
    PRIMARY KEY (run_id, idx)
);
"""


# Columns added after the first release, and backfills (warehouse.migrations). Files made
# before them are upgraded in place on first use; the run log's owner columns let a later
# look tell a killed run from a live one (see ``warehouse.stale``).
MIGRATIONS: tuple[Step, ...] = (
    AddColumn("runs", "owner_host", "VARCHAR"),
    AddColumn("runs", "owner_pid", "BIGINT"),
    AddColumn("runs", "owner_start", "VARCHAR"),
    # JSON code-to-group maps of a coarsened measurement (NULL: full resolution).
    AddColumn("measurements", "groups", "VARCHAR"),
    # 'measured' (measures, charged) or 'refresh' (re-samples a measured run's
    # measurements), warehouse.vocabulary.ReleaseKind; the spec as validated (public), so a
    # refresh can rebuild the domain it was measured in.
    AddColumn("runs", "kind", "VARCHAR DEFAULT 'measured'"),
    AddColumn("runs", "measurement_run", "VARCHAR"),
    AddColumn("runs", "spec_json", "VARCHAR"),
    # Whom a budget protects ('row' or 'person:<key>', see dpcore.units.PrivacyUnit.label):
    # fixed by a dataset's first charge (NULL on ledgers older than the column, until their
    # next charge fixes it), and recorded (and hashed) on every charge.
    AddColumn("budgets", "unit", "VARCHAR"),
    AddColumn("charges", "unit", "VARCHAR"),
    # A measurement's mechanism parameters beyond its sigma: the exponential mechanism's
    # epsilon that chose it (0: fixed in advance) and the sensitivity its noise was drawn
    # for, so a run's spend can be recomputed from the warehouse (dpcore.spend). NULL on
    # measurements stored before they were recorded.
    AddColumn("measurements", "selection_epsilon", "DOUBLE"),
    AddColumn("measurements", "sensitivity", "INTEGER"),
    # The noise each measurement was drawn with: 'gaussian' (zCDP) or 'laplace' (pure DP);
    # NULL on rows stored before pure releases existed, which were all Gaussian.
    AddColumn("measurements", "noise", "VARCHAR"),
    # A registered cap's hash (the genesis of its dataset's charge chain) and who registered
    # it; NULL on budgets created by a first charge before registration was required.
    AddColumn("budgets", "cap_hash", "VARCHAR"),
    AddColumn("budgets", "registered_by", "VARCHAR"),
    # The format of a charge's hash (warehouse.ledger.charge_hash): NULL on charges hashed
    # before formats were numbered, which keep verifying under the format they were made in.
    AddColumn("charges", "hash_version", "INTEGER"),
    # Run kinds once said 'release' for a measured run; one vocabulary with the catalog now.
    Backfill("UPDATE privacy.runs SET kind = 'measured' WHERE kind = 'release' OR kind IS NULL"),
)


def _create(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(PRIVACY_DDL)
    migrate(con, "privacy", MIGRATIONS)


_ensured: set[tuple[str, int]] = set()


def ensure_privacy_schema(path: Path) -> None:
    """Create the privacy schema and its tables if absent, and add missing columns.

    Idempotent; done once per file and process.
    """
    key = (str(path), path.stat().st_ino if path.exists() else -1)
    if key in _ensured:
        return
    run_transaction(path, _create)
    _ensured.add((str(path), path.stat().st_ino))
