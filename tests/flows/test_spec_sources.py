"""The spec fields for sources as they come (issue 15): numeric YAML codes, source column
names, integer missing tokens; and hashes of specs that use none of them unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.spec import SpecError, load_spec, parse_spec
from flows.spec_values import load_yaml
from tests.flows.conftest import SPECS

HEAD = """
release: {name: t, description: a test release}
source: {table: raw.t}
privacy: {epsilon: 1.0, delta: 1.0e-9, cap: {epsilon: 4.0, delta: 1.0e-6}}
columns:
"""


def spec_of(columns: str, tmp_path: Path) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + columns)
    return path


def test_integer_codes_need_no_quotes(tmp_path: Path) -> None:
    spec = load_spec(spec_of("  sex: {type: category, values: [1, 2, -9, '01', x]}\n", tmp_path))
    assert spec.codec().column("sex").categories == ("1", "2", "-9", "01", "x")


def test_plain_decimals_read_as_written(tmp_path: Path) -> None:
    spec = load_spec(spec_of("  g: {type: category, values: [1.5, 2.25]}\n", tmp_path))
    assert spec.codec().column("g").categories == ("1.5", "2.25")


@pytest.mark.parametrize("written", ["010", "1.50", "1e3", "0x1f", "1_000", "yes", "+1"])
def test_ambiguous_yaml_numbers_are_refused_at_once_with_a_hint(
    tmp_path: Path, written: str
) -> None:
    path = spec_of(f"  g: {{type: category, values: [1, {written}, 2, no]}}\n", tmp_path)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "columns.g.values" in message
    assert message.count("columns.g.values") == 1  # one error, not one per element
    assert "Quote them as the source writes them" in message
    assert "'false'" in message  # `no` is a YAML boolean


def test_integer_missing_tokens_are_text(tmp_path: Path) -> None:
    path = spec_of(
        "  n: {type: integer, bounds: [0, 9], bin_width: 1, missing: [-1, N]}\n"
        "  c: {type: category, values: [a], missing: 0}\n",
        tmp_path,
    )
    codec = load_spec(path).codec()
    assert codec.column("n").missing_tokens == ("-1", "N")
    assert codec.column("c").missing_tokens == ("0",)


def test_a_source_column_with_any_name(tmp_path: Path) -> None:
    path = spec_of(
        "  income: {type: category, values: ['<=50K', '>50K'], source_column: 'income>50K'}\n",
        tmp_path,
    )
    column = load_spec(path).codec().column("income")
    assert (column.name, column.source) == ("income", "income>50K")


def test_a_bad_released_name_suggests_source_column(tmp_path: Path) -> None:
    path = spec_of("  income>50K: {type: category, values: [a]}\n", tmp_path)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "released column's name" in message
    assert 'income_gt_50k: {source_column: "income>50K", ...}' in message


def test_two_columns_may_not_read_one_source_column(tmp_path: Path) -> None:
    path = spec_of(
        "  a: {type: category, values: [x], source_column: b}\n"
        "  b: {type: category, values: [x]}\n",
        tmp_path,
    )
    with pytest.raises(SpecError, match="both read source column 'b'"):
        load_spec(path)


def test_the_person_key_may_not_be_released_under_another_name(tmp_path: Path) -> None:
    data = load_yaml(HEAD + "  who: {type: category, values: [x], source_column: pid}\n")
    data["privacy"]["unit"] = {"key": "pid", "max_rows_per_person": 1}
    with pytest.raises(SpecError, match=r"privacy.unit.key 'pid' is also a release column \(who\)"):
        parse_spec(data)


def test_unset_new_fields_leave_the_dump_and_hash_unchanged() -> None:
    spec = load_spec(SPECS / "adult.yaml")
    dumped = spec.model_dump(mode="json")
    assert all("source_column" not in c for c in dumped["columns"].values())
    assert parse_spec(dumped).spec_hash() == spec.spec_hash()  # a refresh re-reads this dump
