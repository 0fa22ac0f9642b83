"""The release spec: the shipped Adult spec is valid; bad specs name file, field and reason."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from flows.spec import SpecError, load_spec, parse_spec

ADULT = Path(__file__).resolve().parents[2] / "deployments" / "specs" / "adult.yaml"


def adult() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ADULT.read_text())
    return data


def test_adult_spec_is_valid_and_complete() -> None:
    spec = load_spec(ADULT)
    assert spec.release.name == "adult"
    assert spec.source.table == "raw.adult"
    assert len(spec.columns) == 14 and "fnlwgt" not in spec.columns
    assert "income" in spec.columns
    codec = spec.codec()
    assert codec.column("workclass").has_missing
    assert codec.column("age").bounds == (17.0, 90.0)
    assert codec.column("age").size == 74
    assert spec.schedule == "0 3 * * 1"
    request = spec.to_request(str(ADULT))
    assert request.dataset == "raw.adult" and request.rows is None


def test_spec_hash_is_stable_and_sensitive() -> None:
    a, b = parse_spec(adult()), parse_spec(adult())
    assert a.spec_hash() == b.spec_hash()
    changed = adult()
    changed["privacy"]["epsilon"] = 0.5
    assert parse_spec(changed).spec_hash() != a.spec_hash()


def _mutate(path: str, value: object) -> dict[str, Any]:
    data = copy.deepcopy(adult())
    *parents, last = path.split(".")
    node = data
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    "path,value,field,reason",
    [
        ("privacy.epsilon", 0, "privacy.epsilon", "greater than 0"),
        ("privacy.epsilon", -1.0, "privacy.epsilon", "greater than 0"),
        ("privacy.epsilon", float("nan"), "privacy.epsilon", "finite"),
        ("privacy.epsilon", float("inf"), "privacy.epsilon", "finite"),
        ("privacy.delta", 1.5, "privacy.delta", "in [0, 1)"),
        ("privacy.delta", -1e-9, "privacy.delta", "0 asks for pure epsilon-DP"),
        ("privacy.cap.delta", 0, "privacy", "which only pure releases can be charged to"),
        ("privacy.cap.epsilon", 0, "privacy.cap.epsilon", "greater than 0"),
        ("privacy.epsilon", 50.0, "privacy", "costs more than the dataset's lifetime cap"),
        ("columns.workclass.values", _DELETE, "columns.workclass.values", "Field required"),
        ("columns.age.bounds", _DELETE, "columns.age.bounds", "Field required"),
        ("columns.age.bin_width", _DELETE, "columns.age", "exactly one of 'edges' or 'bin_width'"),
        ("columns.age.bounds", [90, 17], "columns.age", "low < high"),
        ("columns.capital_gain.edges", [0, 10, 5, 99999], "columns.capital_gain", "increase"),
        ("columns.capital_gain.edges", [1, 99999], "columns.capital_gain", "lower bound"),
        ("columns.sex.values", ["F", "F"], "columns.sex.values", "unique"),
        ("columns.sex.type", "text", "columns.sex", "does not match any of the expected tags"),
        ("source.table", "adult", "source.table", "should match pattern"),
        ("release.name", "Adult Release", "release.name", "should match pattern"),
        ("schedule", "every monday", "schedule", "cron string"),
        ("synthesizer.method", "magic", "synthesizer.method", "independent"),
        ("release.owner", "me", "release.owner", "Extra inputs are not permitted"),
        ("columns", {}, "columns", "at least 1 item"),
        ("privacy.on_exhausted", "wait", "privacy.on_exhausted", "'fail' or 'refresh'"),
        ("privacy.horizon", {"runs": 12}, "privacy", "either epsilon or horizon, not both"),
        ("privacy.horizon", {"runs": 0}, "privacy.horizon.runs", "greater than or equal to 1"),
        ("privacy.epsilon", _DELETE, "privacy", "or a horizon (runs)"),
    ],
)
def test_bad_spec_names_file_field_and_reason(
    path: str, value: object, field: str, reason: str
) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(_mutate(path, value), "specs/bad.yaml")
    message = str(info.value)
    assert "specs/bad.yaml" in message
    assert f"{field}:" in message, message
    assert reason in message, message


def test_unreadable_and_non_yaml_specs(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read release spec"):
        load_spec(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("release: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(SpecError, match=r"empty\.yaml"):
        load_spec(empty)


def test_integer_bin_width_makes_one_bin_per_value() -> None:
    codec = parse_spec(adult()).codec()
    hours = codec.column("hours_per_week")
    assert hours.size == 99 and hours.labels()[0] == "1" and hours.labels()[-1] == "99"


def test_default_method_is_aim_and_options_reach_the_request() -> None:
    data = adult()
    del data["synthesizer"]
    spec = parse_spec(data)
    assert spec.synthesizer.method == "aim"
    data["synthesizer"] = {
        "method": "mst",
        "workload": [["age", "income"], ["sex", "race", "income"]],
        "max_model_cells": 50_000,
        "time_budget_s": 30,
    }
    request = parse_spec(data).to_request("x.yaml")
    assert request.method == "mst"
    assert request.synthesizer_options == {
        "workload": [("age", "income"), ("sex", "race", "income")],
        "max_model_cells": 50_000,
        "time_budget_s": 30.0,
    }


def test_workload_must_name_release_columns() -> None:
    data = adult()
    data["synthesizer"] = {"method": "aim", "workload": [["age", "fnlwgt"]]}
    with pytest.raises(SpecError, match="fnlwgt, which is not among the release's columns"):
        parse_spec(data)


def test_independent_takes_no_model_options() -> None:
    data = adult()
    data["synthesizer"] = {"method": "independent", "max_model_cells": 10_000}
    with pytest.raises(SpecError, match="apply to the 'aim' and 'mst' methods"):
        parse_spec(data)


def test_horizon_replaces_epsilon_with_a_share_of_the_cap() -> None:
    data = _mutate("privacy.epsilon", _DELETE)
    data["privacy"]["horizon"] = {"runs": 12}
    data["privacy"]["on_exhausted"] = "refresh"
    request = parse_spec(data).to_request("adult.yaml")
    cap_rho = request.cap.ledger_rho
    assert request.horizon_runs == 12 and request.on_exhausted == "refresh"
    assert cap_rho / 12 * (1 - Decimal("1e-9")) < request.cost.ledger_rho <= cap_rho / 12
    assert request.cost.delta == data["privacy"]["delta"]


def test_policy_defaults_to_fail_and_the_spec_is_stored_for_refreshes() -> None:
    request = parse_spec(adult()).to_request("adult.yaml")
    assert request.on_exhausted == "fail" and request.horizon_runs is None
    assert request.spec_json is not None
    again = parse_spec(json.loads(request.spec_json)).to_request("elsewhere.yaml")
    assert again.spec_hash == request.spec_hash and again.codec == request.codec
