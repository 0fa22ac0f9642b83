"""The run form `dprelease serve` offers in the Prefect UI: a spec choice and typed overrides,
each described, and no storage (the home is bound when serving starts)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from prefect.utilities.schema_tools import validate

import flows.serve
from flows.serve import build_deployments, build_refresh_deployments
from flows.served import ServedHomeError, refuse_home_override
from flows.spec import load_spec
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


def test_the_form_offers_no_storage_and_describes_every_field() -> None:
    for deployment in [*build_deployments(SPECS), *build_refresh_deployments(SPECS)]:
        schema = deployment._parameter_openapi_schema.model_dump()
        assert "home" not in schema["properties"], deployment.name
        assert "home" not in deployment.parameters, deployment.name
    for deployment in build_deployments(SPECS):
        schema = deployment._parameter_openapi_schema.model_dump()
        assert set(schema["properties"]) == {"spec_path", "resume_run_id", "overrides"}
        for name in ("spec_path", "resume_run_id", "overrides"):
            assert schema["properties"][name]["description"], name
        for field in schema["definitions"]["ReleaseOverrides"]["properties"].values():
            assert field["description"]


def _adult_form() -> dict[str, Any]:
    (deployment,) = [d for d in build_deployments(SPECS) if d.name == "adult"]
    return deployment._parameter_openapi_schema.model_dump_for_openapi()


def test_the_spec_epsilon_is_the_overrides_maximum_and_the_server_enforces_it() -> None:
    schema = _adult_form()
    spec_epsilon = load_spec(SPECS / "adult.yaml").privacy.epsilon
    epsilon = schema["definitions"]["ReleaseOverrides"]["properties"]["epsilon"]
    assert epsilon["maximum"] == spec_epsilon
    assert f"at most {spec_epsilon:g}" in epsilon["description"]
    spec = str((SPECS / "adult.yaml").resolve())
    ok = {"spec_path": spec, "overrides": {"epsilon": spec_epsilon / 2}}
    too_high = {"spec_path": spec, "overrides": {"epsilon": spec_epsilon * 2}}
    assert validate(ok, schema, preprocess=True) == []
    assert validate(too_high, schema, preprocess=True) != []


def test_serving_binds_the_home_for_the_runs_it_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(flows.serve, "serve", lambda *deployments, **kwargs: None)
    monkeypatch.setenv("DPRELEASE_HOME", str(tmp_path / "elsewhere"))
    flows.serve.serve_specs(SPECS, home=str(tmp_path / "served"))

    assert os.environ["DPRELEASE_HOME"] == str((tmp_path / "served").resolve())


def test_serving_serves_the_reports_and_tags_runs_with_release_and_dataset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """While `serve` runs, the home's reports are served and the runs it starts link them
    ($DPRELEASE_REPORTS_URL, restored afterwards); deployments carry the run tags."""
    from flows.report_server import REPORTS_URL_ENV, answers, read_record

    seen: dict[str, Any] = {}

    def fake_serve(*deployments: Any, **kwargs: Any) -> None:
        seen["url"] = os.environ[REPORTS_URL_ENV]
        seen["answers"] = answers(seen["url"], (tmp_path / "served").resolve())
        seen["record"] = read_record((tmp_path / "served").resolve())
        seen["tags"] = {d.name + "/" + d.flow_name: d.tags for d in deployments}

    monkeypatch.setattr(flows.serve, "serve", fake_serve)
    monkeypatch.delenv(REPORTS_URL_ENV, raising=False)
    monkeypatch.setenv("DPRELEASE_HOME", str(tmp_path / "served"))
    flows.serve.serve_specs(SPECS, home=str(tmp_path / "served"))
    assert seen["url"].startswith("http://127.0.0.1:") and seen["answers"]
    assert seen["record"] is not None and seen["record"].url == seen["url"]
    assert REPORTS_URL_ENV not in os.environ  # restored
    assert read_record((tmp_path / "served").resolve()) is None  # no longer served
    for tags in seen["tags"].values():
        assert {"dprelease", "release:adult", "dataset:raw.adult"} <= set(tags)


def test_a_deployment_run_that_sets_home_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_home_override("/anywhere")  # in process (CLI, tests): allowed
    refuse_home_override(None)
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__ID", str(uuid.uuid4()))  # as in a served run
    refuse_home_override(None)  # a served run: the bound home
    with pytest.raises(ServedHomeError, match="bound when serving started"):
        refuse_home_override("/another/warehouse")


def test_prefect_yaml_enforces_the_parameter_schema() -> None:
    config = yaml.safe_load((SPECS.parent / "prefect.yaml").read_text())
    assert all(d["enforce_parameter_schema"] is True for d in config["deployments"])


def test_the_work_pool_form_offers_no_storage_and_describes_every_field() -> None:
    """prefect.yaml's deployments build their form from their entrypoint flow's signature."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.utilities.callables import parameter_schema

    root = SPECS.parents[1]
    config = yaml.safe_load((SPECS.parent / "prefect.yaml").read_text())
    for deployment in config["deployments"]:
        file, name = deployment["entrypoint"].split(":")
        flow = load_flow_from_entrypoint(f"{root / file}:{name}")
        assert flow.name == "release"
        schema = parameter_schema(flow).model_dump_for_openapi()
        assert set(schema["properties"]) == {"spec_path", "overrides", "resume_run_id"}
        for field in schema["properties"].values():
            assert field["description"], field
        assert set(deployment["parameters"]) == {"spec_path"}
