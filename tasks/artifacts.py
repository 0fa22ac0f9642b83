"""Task: Prefect artifacts for a release, built from DP outputs and the ledger only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from dpcore.accounting import kind_words
from dpcore.marginals import Measurement
from expectations import UtilityReport
from tasks.context import warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.ledger import history
from warehouse.publish import PublishedRelease


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def report_link(report: Path | None) -> str:
    """A markdown link to the HTML release report (a local file under the warehouse home)."""
    if report is None:
        return "no report was written for this run"
    return f"[release report]({report.resolve().as_uri()}) (`{report}`)"


def noise_markdown(measurements: Sequence[Measurement]) -> str:
    """The noise scale of each measured marginal, as a markdown table."""
    rows = "\n".join(
        f"| {' x '.join(m.clique) or '(total count)'} | {m.values.size:,} | {m.sigma:.4g} |"
        for m in measurements
    )
    return f"| measured marginal | noisy cells | sigma |\n|---|---|---|\n{rows}\n"


def release_markdown(
    request: ReleaseRequest,
    published: PublishedRelease,
    utility: UtilityReport,
    run_id: str,
    report: Path | None = None,
    measurements: Sequence[Measurement] = (),
) -> str:
    """The release summary shown in the Prefect UI, linking to the HTML report."""
    noise = (
        f"\n## Noise per measured marginal\n\n{noise_markdown(measurements)}"
        if measurements
        else ""
    )
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
| privacy cost | {request.cost.words()} ({kind_words(request.cost.delta)}; zCDP \
rho = {request.cost.rho:.6g}) |
| dataset cap | {request.cap.words()} |
| run | `{run_id}` |
| report | {report_link(report)} |

## Utility checks (synthetic rows vs noisy measurements)

| check | column | observed | threshold | result |
|---|---|---|---|---|
{checks}
{noise}"""


def publish_artifacts_fn(
    request: ReleaseRequest,
    published: PublishedRelease,
    utility: UtilityReport,
    run_id: str,
    home: str | None,
    report: Path | None = None,
    measurements: Sequence[Measurement] = (),
) -> None:
    """A markdown summary of the release (linking its report) and the budget ledger table.

    The input-validation report is never linked here: it is computed from private rows and
    stays in the run log (``privacy.runs.input_report``) for operators only.
    """
    create_markdown_artifact(
        key=artifact_key("release", request.name),
        markdown=release_markdown(request, published, utility, run_id, report, measurements),
        description=f"Release {published.table_name}",
    )
    rows = [h.as_dict() for h in history(warehouse_paths(home).warehouse, request.dataset)]
    create_table_artifact(
        key=artifact_key("budget", request.dataset),
        table=rows,
        description=f"Budget ledger of {request.dataset}",
    )


publish_artifacts = task(name="publish artifacts", cache_policy=NO_CACHE)(publish_artifacts_fn)
