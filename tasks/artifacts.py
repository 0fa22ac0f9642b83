"""Task: Prefect artifacts for a release, built from DP outputs and the ledger only.

The ``release-<name>`` markdown artifact leads with the report's headline figures (cost as
a share of the cap, the agreement score and its noise floor), so that the Prefect UI shows
them without opening anything, then links the report at an HTTP address (a page served over
HTTP cannot link a ``file://`` one). When nothing serves reports, it says how to open the
report instead of carrying a dead link.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # tasks.report is imported only when a report is due (flows.finish)
    from tasks.report.headline import Headline


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")


def report_link(name: str, report: Path | None, url: str | None) -> str:
    """How to open the HTML release report: a link to ``url`` where it is served, and the
    command that opens it on the machine that wrote it (always true, served or not)."""
    if report is None:
        return "no report was written for this run"
    command = f"`dprelease report {name} --open`"
    if url is None:
        return (
            f"`{report.name}`: open it with {command} on the machine that ran the release "
            "(no report server was running; `dprelease serve` serves reports to this page)"
        )
    return f"[open the release report]({url}) (or {command})"


def headline_markdown(headline: Headline | None) -> str:
    """The report's headline figures as the artifact's opening paragraph ('' if none)."""
    if headline is None:
        return ""
    agreement = headline.agreement_text()
    return (
        f"**{headline.rows:,} synthetic rows of {headline.columns} columns; "
        f"{headline.cost_text()}.** {headline.budget_sentence}."
        + (f"\n\n{agreement}" if agreement else "")
        + "\n\n"
    )


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
    *,
    headline: Headline | None = None,
    url: str | None = None,
) -> str:
    """The release summary shown in the Prefect UI: the headline figures, the facts, the
    utility checks and the noise, and how to open the HTML report."""
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

{headline_markdown(headline)}{request.description}

**Report:** {report_link(request.name, report, url)}

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
    *,
    headline: Headline | None = None,
    url: str | None = None,
) -> None:
    """A markdown summary of the release (linking its report) and the budget ledger table.

    The input-validation report is never linked here: it is computed from private rows and
    stays in the run log (``privacy.runs.input_report``) for operators only.
    """
    create_markdown_artifact(
        key=artifact_key("release", request.name),
        markdown=release_markdown(
            request, published, utility, run_id, report, measurements, headline=headline, url=url
        ),
        description=f"Release {published.table_name}",
    )
    rows = [h.as_dict() for h in history(warehouse_paths(home).warehouse, request.dataset)]
    create_table_artifact(
        key=artifact_key("budget", request.dataset),
        table=rows,
        description=f"Budget ledger of {request.dataset}",
    )


publish_artifacts = task(name="publish artifacts", cache_policy=NO_CACHE)(publish_artifacts_fn)
