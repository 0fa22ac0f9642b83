"""The ``marginals`` table of the release database: every measured crosstab, queryable in SQL.

One row per cell of each noisy marginal a version was sampled from: the release and version,
the measurement's index in its run (AIM measures a pair again in later rounds, with less
noise), the columns and the cell's labels, the noisy count, its standard error, and the
fitted model's count for the cell. Written in the same transaction as the version it belongs
to, so a version and its crosstabs appear together; a refresh re-publishes the measurements
it re-sampled with its own model's counts. ``latest_marginals`` shows each release's newest
version. Only DP outputs enter (noisy measurements, model counts, public labels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    import pandas as pd

MARGINALS_DDL = """
CREATE TABLE IF NOT EXISTS marginals (
    name            VARCHAR NOT NULL,
    version         INTEGER NOT NULL,
    measurement     INTEGER NOT NULL,
    marginal        VARCHAR NOT NULL,
    columns         VARCHAR[] NOT NULL,
    cell            VARCHAR[] NOT NULL,
    noisy_count     BIGINT NOT NULL,
    std_error       DOUBLE NOT NULL,
    model_count     DOUBLE NOT NULL,
    selected        BOOLEAN NOT NULL,
    measurement_run VARCHAR NOT NULL
);
COMMENT ON TABLE marginals IS 'Noisy marginals (crosstabs) each release version was sampled
from, with standard errors and the fitted model''s consistent counts (dprelease).';
CREATE OR REPLACE VIEW latest_marginals AS
    SELECT m.* FROM marginals m JOIN (SELECT name, max(version) AS version FROM catalog
    GROUP BY name) newest USING (name, version);
COMMENT ON VIEW latest_marginals IS 'The marginals of each release''s newest version.';
"""

MARGINAL_COLUMNS = (
    "measurement",
    "marginal",
    "columns",
    "cell",
    "noisy_count",
    "std_error",
    "model_count",
    "selected",
    "measurement_run",
)
_VIEW = "dprelease_marginals_rows"


def write_marginals(
    con: duckdb.DuckDBPyConnection, name: str, version: int, rows: pd.DataFrame
) -> None:
    """Insert one version's crosstab rows (inside the caller's open transaction)."""
    con.execute(MARGINALS_DDL)
    if rows.empty:
        return
    con.register(_VIEW, rows[list(MARGINAL_COLUMNS)])
    try:
        con.execute(
            f"INSERT INTO marginals (name, version, {', '.join(MARGINAL_COLUMNS)}) "
            f"SELECT ?, ?, {', '.join(MARGINAL_COLUMNS)} FROM {_VIEW}",
            [name, version],
        )
    finally:
        con.unregister(_VIEW)
