"""Exact special values (issue 15): a one-value bin per declared value, cut in the codec's
edges so the SQL encoder and the decoder share it; the Adult top-code released as itself."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from dpcore.encoding import TableCodec
from flows.release import release
from flows.spec import NumericColumn, SpecError, load_spec, parse_spec
from tests.flows.conftest import SPECS, write_spec
from warehouse.paths import WarehousePaths
from warehouse.source import DuckDBOracle


def column(**kw: object) -> NumericColumn:
    return NumericColumn.model_validate({"type": "integer", "bounds": [0, 99999], **kw})


def test_specials_cut_one_value_bins_out_of_edges() -> None:
    c = column(edges=[0, 1000, 50000, 99999], special=[0, 99999, 500])
    assert c.codec_edges() == (0, 1, 500, 501, 1000, 50000, 99999, 100000)
    assert c.bin_count() == len(c.codec_edges()) - 1


def test_specials_with_a_bin_width_are_counted_without_building_bins() -> None:
    c = column(bounds=[0, 20], bin_width=5, special=[0, 7, 20])
    assert c.codec_edges() == (0, 1, 5, 7, 8, 10, 15, 20, 21)
    assert c.bin_count() == 8
    huge = column(bounds=[0, 10**9], bin_width=10, special=[3])
    assert huge.bin_count() == 10**8 + 1 + 2  # counted by arithmetic, instantly


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"special": [100000]}, "within the bounds"),
        ({"special": [1.5]}, "must be an integer"),
        ({"special": [5, 5]}, "unique"),
        ({"type": "float", "special": [0]}, "integer columns"),
    ],
)
def test_bad_specials_are_refused_naming_the_field(changes: dict[str, object], reason: str) -> None:
    data = load_spec(SPECS / "adult.yaml").model_dump(mode="json")
    data["columns"]["capital_gain"].update(changes)
    with pytest.raises(SpecError, match=rf"columns\.capital_gain: .*{reason}"):
        parse_spec(data)


def test_sql_codes_and_decoded_values_agree_on_a_special() -> None:
    spec = load_spec(SPECS / "adult.yaml").model_dump(mode="json")
    gain = {"type": "integer", "bounds": [0, 99999], "edges": [0, 50000, 99999]}
    spec["columns"] = {"gain": {**gain, "special": [99999]}}
    spec["synthesizer"] = {"method": "independent"}
    spec.pop("constraints", None)  # they name Adult's columns, replaced here
    codec: TableCodec = parse_spec(spec).codec()
    with duckdb.connect() as con:
        con.execute("CREATE SCHEMA raw; CREATE TABLE raw.t (gain INTEGER)")
        con.execute("INSERT INTO raw.t VALUES (0), (49999), (50000), (99998), (99999), (99999)")
        (counts,) = DuckDBOracle(con, "raw.t", codec).counts([("gain",)])
    assert counts.tolist() == [2, 2, 2]  # [0, 50000), [50000, 99999), {99999}
    decoded = codec.column("gain").decode(np.full(50, 2), np.random.default_rng(0))
    assert set(decoded.values.tolist()) == {99999}


@pytest.mark.usefixtures("prefect_harness")
def test_the_adult_top_code_is_released_near_its_real_count(
    home: WarehousePaths, tmp_path: Path
) -> None:
    """The Adult spec declares 0 and 99999 special: the synthetic count at 99999 is near the
    real count (read here, by the test only): within 4 standard deviations of the noise and
    the sampling together (the cell's noisy count, sigma, then a multinomial draw of about
    that many rows, variance about the count). False-failure rate about 6e-5 (normal tail)."""
    spec = write_spec(tmp_path)
    assert load_spec(spec).columns["capital_gain"].special == [0, 99999]  # type: ignore[union-attr]
    outcome = release(spec, home=str(home.home))
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        real = con.execute("SELECT count(*) FROM raw.adult WHERE capital_gain = 99999").fetchall()
    with duckdb.connect(str(home.release), read_only=True) as con:
        released = con.execute(
            f"SELECT count(*) FROM adult_v{outcome.version} WHERE capital_gain = 99999"
        ).fetchall()
        (sigma,) = con.execute(
            "SELECT std_error FROM latest_marginals WHERE name = 'adult' "
            "AND marginal = 'capital_gain' AND cell = ['99999']"
        ).fetchall()[0]
    assert real[0][0] > 100  # the census top-code (159 rows in the bundled data)
    spread = math.sqrt(sigma**2 + real[0][0])
    assert abs(released[0][0] - real[0][0]) <= 4 * spread
