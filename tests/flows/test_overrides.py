"""Run overrides: rows and a lower epsilon are applied; a higher epsilon is refused."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from flows.overrides import OverrideError, ReleaseOverrides, apply_overrides
from flows.spec import load_spec
from tests.flows.conftest import SPECS

SPEC = str(SPECS / "adult.yaml")


def test_no_overrides_leave_the_request_unchanged() -> None:
    request = load_spec(SPEC).to_request(SPEC)
    assert apply_overrides(request, None) is request
    assert apply_overrides(request, ReleaseOverrides()) is request


def test_rows_and_a_lower_epsilon_change_the_request_and_its_cost() -> None:
    request = load_spec(SPEC).to_request(SPEC)
    changed = apply_overrides(request, ReleaseOverrides(rows=500, epsilon=0.25))
    assert changed.rows == 500
    assert changed.cost.epsilon == 0.25 and changed.cost.delta == request.cost.delta
    assert changed.cost.ledger_rho < request.cost.ledger_rho
    assert (changed.name, changed.codec, changed.cap) == (request.name, request.codec, request.cap)


def test_a_higher_epsilon_is_refused_saying_what_to_do() -> None:
    request = load_spec(SPEC).to_request(SPEC)
    with pytest.raises(OverrideError, match="higher than the spec's epsilon 1") as info:
        apply_overrides(request, ReleaseOverrides(epsilon=1.5))
    assert "Leave epsilon empty" in str(info.value)
    assert apply_overrides(request, ReleaseOverrides(epsilon=1.0)).cost == request.cost


def test_a_horizon_spec_takes_no_epsilon_override() -> None:
    """The horizon sets each run's cost after planning: an override could not hold."""
    request = replace(load_spec(SPEC).to_request(SPEC), horizon_runs=12)
    with pytest.raises(OverrideError, match="horizon of 12 runs"):
        apply_overrides(request, ReleaseOverrides(epsilon=0.1))
    assert apply_overrides(request, ReleaseOverrides(rows=500)).rows == 500


def test_a_resume_cannot_change_epsilon_but_may_change_rows() -> None:
    request = load_spec(SPEC).to_request(SPEC)
    with pytest.raises(OverrideError, match="resumed run"):
        apply_overrides(request, ReleaseOverrides(epsilon=0.5), resuming=True)
    assert apply_overrides(request, ReleaseOverrides(rows=7), resuming=True).rows == 7


@pytest.mark.parametrize(
    "data", [{"rows": 0}, {"rows": -5}, {"epsilon": 0}, {"epsilon": -1.0}, {"seed": 1}]
)
def test_the_form_refuses_bad_values(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ReleaseOverrides.model_validate(data)


def test_the_form_schema_offers_rows_and_epsilon() -> None:
    schema = ReleaseOverrides.model_json_schema()
    assert set(schema["properties"]) == {"rows", "epsilon"}


@pytest.mark.usefixtures("prefect_harness")
def test_the_cli_refuses_a_higher_epsilon_in_one_paragraph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli import main

    home = str(tmp_path / "h")
    assert main(["--home", home, "run", SPEC, "--epsilon", "3"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.startswith("dprelease: the epsilon override 3 is higher than")
    assert err.count("\n") == 1  # one paragraph: Prefect's own failure logs stay quiet
    with pytest.raises(OverrideError):  # --debug: the exception and its traceback
        main(["--debug", "--home", home, "run", SPEC, "--epsilon", "3"])
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--home", home, "run", SPEC, "--rows", "0"])
    assert "must be greater than 0" in capsys.readouterr().err
