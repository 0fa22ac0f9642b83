"""Serving Prefect deployments per spec file: its scheduled release, and a manual refresh.

A manual run from the Prefect UI gets a typed form: the spec is a choice among the served
spec files (an ``enum`` in the deployment's parameter schema, which the server enforces),
``overrides`` is the typed :class:`flows.overrides.ReleaseOverrides` form (the spec's
epsilon shown as the override's maximum), and ``resume_run_id`` resumes a charged run.

The form exposes no storage: the warehouse directory is bound when serving starts
(``$DPRELEASE_HOME``, set by :func:`serve_specs` for the runs it starts), never a
parameter. The flows refuse a ``home`` passed to a deployment's run
(:func:`flows.served.refuse_home_override`).

The same process serves the home's release reports over HTTP
(:mod:`flows.report_server`), so the links in the runs' artifacts open from the Prefect UI.
Deployments are tagged with their release and dataset (``release:<name>``,
``dataset:<table>``), as runs from the command line are (:mod:`flows.run_labels`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.refresh import refresh
from flows.release import release
from flows.report_server import REPORTS_URL_ENV, reports_served
from flows.run_labels import run_tags
from flows.spec import ReleaseSpec, load_spec
from warehouse.paths import WarehousePaths


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


def _properties(deployment: RunnerDeployment) -> dict[str, Any]:
    properties: dict[str, Any] = deployment._parameter_openapi_schema.properties
    return properties


def without_storage(deployment: RunnerDeployment) -> None:
    """Drop ``home`` from the run form: the served home is bound when serving starts."""
    _properties(deployment).pop("home", None)


def describe_release_form(deployment: RunnerDeployment, spec: ReleaseSpec) -> None:
    """Titles and descriptions for the release form; the spec's epsilon is the override's
    maximum (the server then refuses a higher one before any run starts)."""
    properties = _properties(deployment)
    properties["overrides"]["title"] = "Overrides (this run only)"
    properties["overrides"]["description"] = (
        "Optional, safe changes for this run: the rows to generate, and an epsilon lower "
        "than the spec's. Leave empty to run the spec as reviewed."
    )
    properties["resume_run_id"]["title"] = "Resume run id"
    properties["resume_run_id"]["description"] = (
        "Re-synthesize a charged run from its stored measurements, at no new privacy cost "
        "(`dprelease runs` lists runs). Leave empty for a new, charged run."
    )
    definitions = deployment._parameter_openapi_schema.definitions
    epsilon = definitions["ReleaseOverrides"]["properties"]["epsilon"]
    if spec.privacy.epsilon is None:
        epsilon["description"] = (
            f"Not available for {spec.release.name}: its privacy.horizon sets each run's "
            "epsilon. Leave empty."
        )
        return
    epsilon["maximum"] = spec.privacy.epsilon
    epsilon["description"] = (
        f"Spend less than the spec's epsilon on this run: at most {spec.privacy.epsilon:g} "
        f"for {spec.release.name} (a lower cost, more noise). Leave empty for the spec's."
    )


def build_deployments(specs_dir: Path) -> list[RunnerDeployment]:
    """One deployment per ``*.yaml`` in ``specs_dir``, each defaulting to its own spec."""
    paths = sorted(specs_dir.glob("*.yaml"))
    choices = [str(p.resolve()) for p in paths]
    deployments: list[RunnerDeployment] = []
    for path, resolved in zip(paths, choices, strict=True):
        spec = load_spec(path)
        deployment = release.to_deployment(
            name=deployment_name(path),
            cron=spec.schedule,
            parameters={"spec_path": resolved},
            description=spec.release.description,
            tags=run_tags(spec.release.name, spec.source.name),
            concurrency_limit=1,  # runs of one spec queue: DuckDB has one writer per file
            enforce_parameter_schema=True,
        )
        assert isinstance(deployment, RunnerDeployment)  # called synchronously: not awaitable
        spec_choice(deployment, choices)
        without_storage(deployment)
        describe_release_form(deployment, spec)
        deployments.append(deployment)
    return deployments


def build_refresh_deployments(specs_dir: Path) -> list[RunnerDeployment]:
    """One unscheduled ``refresh`` deployment per spec: a free re-sample, run by hand."""
    deployments: list[RunnerDeployment] = []
    for path in sorted(specs_dir.glob("*.yaml")):
        spec = load_spec(path)
        deployment = refresh.to_deployment(
            name=deployment_name(path),
            parameters={"name": spec.release.name},
            description=(
                f"Publish a new version of {spec.release.name} re-sampled from its newest "
                "stored measurements, at no privacy cost."
            ),
            tags=[*run_tags(spec.release.name, spec.source.name), "refresh"],
            concurrency_limit=1,
            enforce_parameter_schema=True,
        )
        assert isinstance(deployment, RunnerDeployment)
        without_storage(deployment)
        deployments.append(deployment)
    return deployments


def serve_specs(specs_dir: Path, home: str | None = None, reports_port: int | None = None) -> None:
    """Serve every ``*.yaml`` in ``specs_dir``; deployments stay active if serving stops.

    Each spec gets a scheduled ``release`` deployment and a manual ``refresh`` one. Each has
    a concurrency limit of one, so scheduled and manual runs of a spec queue instead of
    racing; the ledger stays correct either way (its charge is atomic). ``home`` (default
    ``$DPRELEASE_HOME``, else ``./.dprelease``) is bound here, for every run served, and its
    reports are served over HTTP meanwhile (on ``reports_port``; see
    :func:`flows.report_server.reports_served`); the runs link them at that address.
    """
    paths = WarehousePaths.from_env(home)
    os.environ["DPRELEASE_HOME"] = str(paths.home)
    deployments = [*build_deployments(specs_dir), *build_refresh_deployments(specs_dir)]
    configured = os.environ.get(REPORTS_URL_ENV)
    with reports_served(paths.home, reports_port) as url:
        print(f"release reports: {url}/ (this home's reports, for the runs' artifacts)", flush=True)
        os.environ[REPORTS_URL_ENV] = url  # the served runs link the reports here
        try:
            serve(*deployments, pause_on_shutdown=False)
        finally:
            if configured is None:
                os.environ.pop(REPORTS_URL_ENV, None)
            else:
                os.environ[REPORTS_URL_ENV] = configured
