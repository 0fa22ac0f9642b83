"""Sources as they come, through the release flow (issue 15): a numeric column stored as text
with ``N`` tokens, a source column name no release may take, YAML integer codes; and a new
spec's schema refusal saying what to declare, a released spec's saying the table drifted."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.release import release
from flows.spec import load_spec
from tests.registration import charge_request, register_cap
from warehouse.errors import SchemaDriftError
from warehouse.paths import WarehousePaths

MARKER = "SECRET_MARKER_NOC"
ROWS = 3000
SPEC = """
release: {name: households, description: Households with their number of own children.}
source: {table: raw.households}
privacy: {epsilon: 2.0, delta: 1.0e-9, cap: {epsilon: 10.0, delta: 1.0e-6}}
columns:
  noc: {type: integer, bounds: [0, 5], bin_width: 1, missing: N, source_column: NOC}
  tenure: {type: category, values: [1, 2, 3], source_column: "tenure code>0"}
synthesizer: {method: independent}
expectations: {utility: {max_tvd: 0.5, row_tolerance: 0.5}}
"""


def households(home: WarehousePaths, tmp_path: Path) -> str:
    """``raw.households``: NOC as text, a quarter ``N`` (not applicable), a few markers."""
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "CREATE TABLE raw.households AS SELECT "
            "CASE WHEN i % 4 = 0 THEN 'N' WHEN i % 101 = 1 THEN "
            f"'{MARKER}' ELSE CAST(i % 6 AS VARCHAR) END AS \"NOC\", "
            '(i % 3 + 1)::INTEGER AS "tenure code>0" '
            f"FROM range({ROWS}) t(i)"
        )
    spec = tmp_path / "households.yaml"
    spec.write_text(SPEC)
    register_cap(home, load_spec(spec).to_request(str(spec)))
    return str(spec)


@pytest.mark.usefixtures("prefect_harness")
def test_a_text_column_with_n_tokens_releases_with_n_as_missing(
    home: WarehousePaths, tmp_path: Path
) -> None:
    spec = households(home, tmp_path)
    outcome = release(spec, home=str(home.home))
    assert outcome.version == 1
    with duckdb.connect(str(home.release), read_only=True) as con:
        rows, missing, low, high, types = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE noc IS NULL), min(noc), max(noc), "
            "list_distinct(list(typeof(noc))) FROM households"
        ).fetchall()[0]
        assert {c[0] for c in con.execute("DESCRIBE households").fetchall()} == {
            "noc",
            "tenure",
        }
        tenure = {r[0] for r in con.execute("SELECT DISTINCT tenure FROM households").fetchall()}
        noisy, sigma = con.execute(
            "SELECT noisy_count, std_error FROM latest_marginals "
            "WHERE name = 'households' AND marginal = 'noc' AND cell = ['(missing)']"
        ).fetchall()[0]
    assert low >= 0 and high <= 5 and "INT" in str(types)  # released as integers
    assert 0.2 < missing / rows < 0.3  # the N rows (a quarter) are released as missing
    # N is measured as the missing code, and so are the marker rows (non-numeric text under
    # on_invalid's default for a column with a missing code): a quarter plus 23 markers.
    # Within 5 standard deviations of noise: a false failure about once in 1.7 million runs.
    n_rows = len([i for i in range(ROWS) if i % 4 == 0])
    markers = len([i for i in range(ROWS) if i % 4 != 0 and i % 101 == 1])
    assert abs(noisy - (n_rows + markers)) <= 5 * sigma
    assert tenure == {"1", "2", "3"}
    assert MARKER.encode() not in home.release.read_bytes()


@pytest.mark.usefixtures("prefect_harness")
def test_a_new_spec_hears_what_to_declare_and_a_released_one_that_the_table_drifted(
    home: WarehousePaths, tmp_path: Path
) -> None:
    spec = households(home, tmp_path)
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute('ALTER TABLE raw.households RENAME COLUMN "NOC" TO "NOC_2024"')
    with pytest.raises(SchemaDriftError) as info:
        release(spec, home=str(home.home))
    message = str(info.value)
    assert "has not released from yet" in message and "no longer" not in message
    assert "raw.households has no column NOC (close: NOC_2024)" in message
    assert "source_column:" in message

    charge_request(home, load_spec(spec).to_request(spec), "an-earlier-run")
    with pytest.raises(SchemaDriftError, match="no longer matches the spec"):
        release(spec, home=str(home.home))
