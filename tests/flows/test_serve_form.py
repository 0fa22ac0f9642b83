"""The run form `dprelease serve` offers in the Prefect UI: a spec choice and typed overrides."""

from __future__ import annotations

import yaml

from flows.serve import build_deployments
from tests.flows.conftest import SPECS


def test_spec_is_a_choice_and_overrides_are_typed() -> None:
    choices = [str(p.resolve()) for p in sorted(SPECS.glob("*.yaml"))]
    for deployment in build_deployments(SPECS):
        assert deployment.enforce_parameter_schema is True
        schema = deployment._parameter_openapi_schema.model_dump()
        spec = schema["properties"]["spec_path"]
        assert spec["enum"] == choices and spec["title"] == "Release spec"
        assert deployment.parameters["spec_path"] in choices
        overrides = schema["properties"]["overrides"]
        assert "ReleaseOverrides" in str(overrides)
        fields = schema["definitions"]["ReleaseOverrides"]["properties"]
        assert set(fields) == {"rows", "epsilon"}
        assert "resume_run_id" in schema["properties"]


def test_prefect_yaml_enforces_the_parameter_schema() -> None:
    config = yaml.safe_load((SPECS.parent / "prefect.yaml").read_text())
    assert all(d["enforce_parameter_schema"] is True for d in config["deployments"])
