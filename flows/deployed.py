"""The flow a work-pool deployment runs (``deployments/prefect.yaml``): no ``home`` parameter.

A deployment's run form is built from its flow's signature, and ``release`` takes a
``home`` (the CLI and tests call it in process, each with its own warehouse directory).
This wrapper takes everything else, so its form offers only the spec, the safe overrides
and ``resume_run_id`` (each described, from the docstring below): nobody who may press Run
can point a release at another warehouse directory (another ledger), and ``spec_path``,
which the form shows as text, must name a file in the reviewed specs folder
(:func:`flows.served.refuse_unreviewed_spec`). Its runs use the
worker's ``$DPRELEASE_HOME`` (else ``./.dprelease`` in the repository the worker pulls).
It carries the same flow name (and run names), so its runs sit with the CLI's in the UI.
(``dprelease serve`` drops ``home`` from the served flow's schema instead, :mod:`flows.serve`.)
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.finish import ReleaseOutcome
from flows.overrides import ReleaseOverrides
from flows.refusal import run_refusing
from flows.release import release
from flows.run_labels import release_run_name
from flows.served import refuse_unreviewed_spec, reviewed_specs_folder


@flow(name="release", flow_run_name=release_run_name, validate_parameters=True)
def deployed_release(
    spec_path: str,
    overrides: ReleaseOverrides | None = None,
    resume_run_id: str | None = None,
) -> ReleaseOutcome:
    """Run the release a spec file declares, against the worker's warehouse.

    Args:
        spec_path: The release spec this deployment runs: a file in the repository's
            reviewed specs folder (deployments/specs); any other path is refused.
        overrides: Optional, safe changes for this run only: the rows to generate, and an
            epsilon lower than the spec's (a higher one is refused). Leave empty to run the
            spec as reviewed.
        resume_run_id: Re-synthesize a charged run from its stored measurements, at no new
            privacy cost (`dprelease runs` lists runs). Leave empty for a new, charged run.
    """
    reviewed = run_refusing(
        None, lambda: refuse_unreviewed_spec(spec_path, reviewed_specs_folder())
    )
    if not isinstance(reviewed, Path):
        return reviewed  # the refusal's Failed state (raised to in-process callers)
    outcome: ReleaseOutcome = release.fn(
        str(reviewed), resume_run_id=resume_run_id, home=None, overrides=overrides
    )
    return outcome
