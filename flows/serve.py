"""Serving Prefect deployments per spec file: its scheduled release, and a manual refresh.

A manual run from the Prefect UI gets a typed form: the spec is a choice among the served
spec files (an ``enum`` in the deployment's parameter schema, which the server enforces),
and ``overrides`` is the typed :class:`flows.overrides.ReleaseOverrides` form.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.refresh import refresh
from flows.release import release
from flows.spec import load_spec


def deployment_name(spec_path: Path) -> str:
    """The deployment's name: the spec file's stem."""
    return spec_path.stem


def spec_choice(deployment: RunnerDeployment, choices: Sequence[str]) -> None:
    """Make ``spec_path`` a drop-down of ``choices`` in the deployment's run form.

    Prefect builds the schema from the flow's signature (a free-text string); an ``enum``
    turns it into a choice, as Prefect itself does for frozen parameters, and the server
    rejects runs whose spec is not one of them (``enforce_parameter_schema``).
    """
    schema = deployment._parameter_openapi_schema.properties["spec_path"]
    schema["enum"] = list(choices)
    schema["title"] = "Release spec"
    schema["description"] = "Which served spec file to run."


def build_deployments(specs_dir: Path, home: str | None = None) -> list[RunnerDeployment]:
    """One deployment per ``*.yaml`` in ``specs_dir``, each defaulting to its own spec."""
    paths = sorted(specs_dir.glob("*.yaml"))
    choices = [str(p.resolve()) for p in paths]
    deployments: list[RunnerDeployment] = []
    for path, resolved in zip(paths, choices, strict=True):
        spec = load_spec(path)
        deployment = release.to_deployment(
            name=deployment_name(path),
            cron=spec.schedule,
            parameters={"spec_path": resolved, "home": home},
            description=spec.release.description,
            tags=["dprelease", spec.source.name],
            concurrency_limit=1,  # runs of one spec queue: DuckDB has one writer per file
            enforce_parameter_schema=True,
        )
        assert isinstance(deployment, RunnerDeployment)  # called synchronously: not awaitable
        spec_choice(deployment, choices)
        deployments.append(deployment)
    return deployments


def build_refresh_deployments(specs_dir: Path, home: str | None = None) -> list[RunnerDeployment]:
    """One unscheduled ``refresh`` deployment per spec: a free re-sample, run by hand."""
    deployments: list[RunnerDeployment] = []
    for path in sorted(specs_dir.glob("*.yaml")):
        spec = load_spec(path)
        deployment = refresh.to_deployment(
            name=deployment_name(path),
            parameters={"name": spec.release.name, "home": home},
            description=(
                f"Publish a new version of {spec.release.name} re-sampled from its newest "
                "stored measurements, at no privacy cost."
            ),
            tags=["dprelease", "refresh"],
            concurrency_limit=1,
            enforce_parameter_schema=True,
        )
        assert isinstance(deployment, RunnerDeployment)
        deployments.append(deployment)
    return deployments


def serve_specs(specs_dir: Path, home: str | None = None) -> None:
    """Serve every ``*.yaml`` in ``specs_dir``; deployments stay active if serving stops.

    Each spec gets a scheduled ``release`` deployment and a manual ``refresh`` one. Each has
    a concurrency limit of one, so scheduled and manual runs of a spec queue instead of
    racing; the ledger stays correct either way (its charge is atomic).
    """
    serve(
        *build_deployments(specs_dir, home),
        *build_refresh_deployments(specs_dir, home),
        pause_on_shutdown=False,
    )
