"""Task: write the release report to ``$DPRELEASE_HOME/reports/<name>_v<N>.html``.

It returns the report's path with its headline figures, so that the Prefect artifact
carries the very numbers the report leads with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.marginals import Measurement
from tasks.context import warehouse_paths
from tasks.report.headline import Headline, headline
from tasks.report.html import render_report
from tasks.report.inputs import build_report_inputs
from tasks.request import ReleaseRequest
from tasks.synthesize import SyntheticTable
from warehouse.ledger import Charge, history
from warehouse.publish import PublishedRelease


@dataclass(frozen=True)
class WrittenReport:
    """A report on disk and the headline figures it leads with."""

    path: Path
    headline: Headline


def report_path(home: str | None, published: PublishedRelease) -> Path:
    """Where a version's report lives (one file per version, never overwritten by another)."""
    return warehouse_paths(home).reports / f"{published.table_name}.html"


def write_release_report_fn(
    request: ReleaseRequest,
    published: PublishedRelease,
    receipt: Charge,
    measurements: Sequence[Measurement],
    table: SyntheticTable,
    utility_passed: bool,
    home: str | None,
    refresh_of: str | None = None,
    data_docs: str | None = None,
) -> WrittenReport:
    """Render the report from DP outputs (measurements, synthetic counts, ledger) and save it.

    ``receipt`` is the charge that paid for the measurements; ``refresh_of`` marks a refresh;
    ``data_docs`` is the folder of Great Expectations' Data Docs of the synthetic table, which
    the report links (relatively, so the link works from a file and over HTTP alike).
    """
    ledger = history(warehouse_paths(home).warehouse, request.dataset)
    path = report_path(home, published)
    inputs = build_report_inputs(
        request,
        published,
        receipt,
        measurements,
        table.summary.codes,
        ledger,
        utility_passed=utility_passed,
        refresh_of=refresh_of,
        data_docs=_relative_link(path, data_docs),
    )
    partial = path.with_suffix(".html.partial")
    partial.write_text(render_report(inputs), encoding="utf-8")
    partial.replace(path)
    return WrittenReport(path, headline(inputs))


def _relative_link(report: Path, docs: str | None) -> str | None:
    """The Data Docs index relative to the report's folder (None if absent or elsewhere)."""
    if docs is None or not (Path(docs) / "index.html").is_file():
        return None
    try:
        relative = (Path(docs) / "index.html").resolve().relative_to(report.parent.resolve())
    except ValueError:
        return None
    return relative.as_posix()


write_release_report = task(name="write release report", cache_policy=NO_CACHE)(
    write_release_report_fn
)
