"""The post-measurement half of a release, shared by measured releases and refreshes.

From stored noisy measurements to a published version: fit and sample, check utility,
publish, name the run after what it published (:mod:`flows.run_labels`), then write the
report and artifacts. Only DP outputs are used from here on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger

from dpcore.marginals import Measurement
from expectations import UtilityReport
from flows.progress import step
from flows.report_server import report_url, serving_url
from flows.run_labels import label_run, run_name, run_tags
from tasks.artifacts import publish_artifacts
from tasks.context import warehouse_paths
from tasks.publish import publish_release
from tasks.request import ReleaseRequest
from tasks.runlog import safe_error_text
from tasks.synthesize import SyntheticTable, synthesize_table
from tasks.utility import check_utility_task, require_utility
from warehouse.ledger import Charge
from warehouse.publish import PublishedRelease
from warehouse.vocabulary import ReleaseKind


@dataclass(frozen=True)
class ReleaseOutcome:
    """What a release run did, for the CLI and callers.

    ``kind`` is ``measured`` (charged and measured now) or ``refresh`` (re-sampled from the
    stored measurements of ``measurement_run`` at no privacy cost: epsilon and delta are 0).
    """

    run_id: str
    name: str
    version: int
    table_name: str
    rows: int
    epsilon: float
    delta: float
    resumed: bool
    utility_passed: bool
    report: str | None
    kind: str = ReleaseKind.MEASURED
    measurement_run: str | None = None


def sample_check_publish(
    request: ReleaseRequest,
    run_id: str,
    measurements: list[Measurement],
    receipt: Charge,
    home: str | None,
    *,
    resumed: bool = False,
    refresh_of: str | None = None,
) -> ReleaseOutcome:
    """Fit, sample, check and publish from ``measurements``, paid for by ``receipt``."""
    logger = get_run_logger()
    with step("fitting and sampling"):
        table = synthesize_table(request, measurements, home, spool=True)
    with step("checking utility"):
        utility = check_utility_task(request, table, measurements, run_id, home)
    require_utility(utility, run_id)
    with step("publishing"):
        published = publish_release(
            request,
            run_id,
            table,
            utility,
            receipt,
            home,
            refresh_of=refresh_of,
            measurements=measurements,
        )
    logger.info("published release.%s (%d rows)", published.table_name, published.rows)
    name = run_name(
        request.name,
        version=published.version,
        epsilon=receipt.epsilon,
        refresh=refresh_of is not None,
        resumed=resumed,
    )
    label_run(name, run_tags(request.name, request.dataset))
    report = _report(
        request, published, receipt, measurements, table, utility, run_id, home, refresh_of
    )
    refresh = refresh_of is not None
    return ReleaseOutcome(
        run_id=run_id,
        name=request.name,
        version=published.version,
        table_name=published.table_name,
        rows=published.rows,
        epsilon=0.0 if refresh else receipt.epsilon,
        delta=0.0 if refresh else receipt.delta,
        resumed=resumed,
        utility_passed=utility.success,
        report=None if report is None else str(report),
        kind=ReleaseKind.REFRESH if refresh else ReleaseKind.MEASURED,
        measurement_run=refresh_of or run_id,
    )


def _report(
    request: ReleaseRequest,
    published: PublishedRelease,
    receipt: Charge,
    measurements: list[Measurement],
    table: SyntheticTable,
    utility: UtilityReport,
    run_id: str,
    home: str | None,
    refresh_of: str | None,
) -> Path | None:
    """Write the report and artifacts; a failure here warns but never fails the release.

    Its modules (``tasks.report``, which draws its charts as inline SVG strings of its own)
    are imported inside the step: no other step needs them."""
    logger = get_run_logger()
    with step("writing report and artifacts"):
        try:
            from tasks.report import write_release_report

            written = write_release_report(
                request,
                published,
                receipt,
                measurements,
                table,
                utility.success,
                home,
                refresh_of,
                utility.data_docs,
            )
            report = written.path
            logger.info("release report written to %s", report)
            base = serving_url(warehouse_paths(home).home)
            publish_artifacts(
                request,
                published,
                utility,
                run_id,
                home,
                report,
                measurements,
                headline=written.headline,
                url=None if base is None else report_url(base, report),
            )
            return report
        except Exception as error:  # the release stands: a missing report must not fail it
            logger.warning(
                "release.%s is published and complete, but its report or artifacts were "
                "not written (%s)",
                published.table_name,
                safe_error_text(error),
            )
            return None
