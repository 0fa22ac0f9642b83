"""Task: Prefect artifacts for a release, built from DP outputs and the ledger only."""

from __future__ import annotations

import re

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from expectations import UtilityReport
from tasks.context import warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.ledger import history
from warehouse.publish import PublishedRelease


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def release_markdown(
    request: ReleaseRequest, published: PublishedRelease, utility: UtilityReport, run_id: str
) -> str:
    """The release summary shown in the Prefect UI."""
    checks = "\n".join(
        f"| {c.name} | {c.column or ''} | {c.observed:.4g} | {c.threshold:.4g} | "
        f"{'pass' if c.passed else 'FAIL'} |"
        for c in utility.checks
    )
    return f"""# Release `{published.table_name}`

{request.description}

| | |
|---|---|
| query | `SELECT * FROM release.{request.name}` (newest) or `release.{published.table_name}` |
| rows | {published.rows:,} synthetic rows (noisy total {utility.noisy_total:,.0f}) |
| columns | {len(request.codec.columns)} |
| method | {request.method} |
| privacy cost | epsilon = {request.cost.epsilon:g}, delta = {request.cost.delta:g} \
(rho = {request.cost.ledger_rho:.6g}) |
| dataset cap | epsilon = {request.cap.epsilon:g}, delta = {request.cap.delta:g} |
| run | `{run_id}` |

## Utility checks (synthetic rows vs noisy measurements)

| check | column | observed | threshold | result |
|---|---|---|---|---|
{checks}
"""


def publish_artifacts_fn(
    request: ReleaseRequest,
    published: PublishedRelease,
    utility: UtilityReport,
    run_id: str,
    home: str | None,
) -> None:
    """A markdown summary of the release and a table of the dataset's budget ledger."""
    create_markdown_artifact(
        key=artifact_key("release", request.name),
        markdown=release_markdown(request, published, utility, run_id),
        description=f"Release {published.table_name}",
    )
    rows = [
        {
            "seq": h.charge.seq,
            "run": h.charge.run_id,
            "release": h.charge.release,
            "charged_at": h.charge.charged_at.isoformat(timespec="seconds"),
            "epsilon": h.charge.epsilon,
            "delta": h.charge.delta,
            "rho": f"{h.charge.rho:.6g}",
            "cumulative_epsilon": round(h.cumulative_epsilon, 6),
            "cumulative_delta": h.cumulative_delta,
            "outcome": h.outcome,
        }
        for h in history(warehouse_paths(home).warehouse, request.dataset)
    ]
    create_table_artifact(
        key=artifact_key("budget", request.dataset),
        table=rows,
        description=f"Budget ledger of {request.dataset}",
    )


publish_artifacts = task(name="publish artifacts", cache_policy=NO_CACHE)(publish_artifacts_fn)
