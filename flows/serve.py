"""Serving one Prefect deployment per spec file, each with the spec's schedule."""

from __future__ import annotations

from pathlib import Path

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.release import release
from flows.spec import load_spec


def deployment_name(spec_path: Path) -> str:
    """The deployment's name: the spec file's stem."""
    return spec_path.stem


def serve_specs(specs_dir: Path, home: str | None = None) -> None:
    """Serve every ``*.yaml`` in ``specs_dir``; deployments stay active if serving stops.

    Each deployment has a concurrency limit of one, so scheduled and manual runs of a spec
    queue instead of racing; the ledger stays correct either way (its charge is atomic).
    """
    deployments: list[RunnerDeployment] = []
    for path in sorted(specs_dir.glob("*.yaml")):
        spec = load_spec(path)
        deployments.append(
            release.to_deployment(  # type: ignore[arg-type]  # sync call returns the value
                name=deployment_name(path),
                cron=spec.schedule,
                parameters={"spec_path": str(path.resolve()), "home": home},
                description=spec.release.description,
                tags=["dprelease", spec.source.table],
                concurrency_limit=1,  # runs of one spec queue: DuckDB has one writer per file
            )
        )
    serve(*deployments, pause_on_shutdown=False)
