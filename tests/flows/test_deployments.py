"""Deployments: `dprelease serve` builds one per spec; prefect.yaml covers every spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import flows.serve
from flows.spec import load_spec
from tests.flows.conftest import SPECS

DEPLOYMENTS = SPECS.parent


def test_serve_registers_one_scheduled_deployment_per_spec_that_never_pauses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    captured: dict[str, Any] = {}

    def fake_serve(*deployments: Any, **kwargs: Any) -> None:
        captured["deployments"] = deployments
        captured["kwargs"] = kwargs

    monkeypatch.setattr(flows.serve, "serve", fake_serve)
    monkeypatch.setenv("DPRELEASE_HOME", str(tmp_path / "home"))  # serving binds it
    flows.serve.serve_specs(SPECS)
    specs = sorted(SPECS.glob("*.yaml"))
    deployments = [d for d in captured["deployments"] if d.flow_name == "release"]
    refreshes = [d for d in captured["deployments"] if d.flow_name == "refresh"]
    assert [d.name for d in deployments] == [p.stem for p in specs]
    assert [d.name for d in refreshes] == [p.stem for p in specs]
    assert len(captured["deployments"]) == 2 * len(specs)
    assert captured["kwargs"]["pause_on_shutdown"] is False
    for deployment, path in zip(refreshes, specs, strict=True):
        assert deployment.parameters["name"] == load_spec(path).release.name
        assert not deployment.schedules  # refreshes are run by hand
    for deployment, path in zip(deployments, specs, strict=True):
        assert deployment.parameters["spec_path"] == str(path.resolve())
        assert deployment.concurrency_limit == 1
        cron = deployment.schedules[0].schedule.cron
        assert cron == load_spec(path).schedule


def test_prefect_yaml_has_a_deployment_for_every_spec() -> None:
    config = yaml.safe_load((DEPLOYMENTS / "prefect.yaml").read_text())
    by_spec = {d["parameters"]["spec_path"]: d for d in config["deployments"]}
    for path in SPECS.glob("*.yaml"):
        deployment = by_spec[f"deployments/specs/{path.name}"]
        assert deployment["entrypoint"] == "flows/deployed.py:deployed_release"
        assert deployment["schedules"][0]["cron"] == load_spec(path).schedule
        assert deployment["concurrency_limit"] == 1
    root = DEPLOYMENTS.parent
    assert (root / "flows" / "deployed.py").exists()
    assert Path(root / "deployments" / "specs" / "adult.yaml").exists()
