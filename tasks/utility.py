"""Task: utility expectations on the synthetic table against the noisy measurements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.errors import DPReleaseError
from dpcore.marginals import Measurement
from expectations import UtilityCheck, UtilityConfig, UtilityReport, check_utility
from tasks.request import ReleaseRequest
from tasks.synthesize import SyntheticTable


class UtilityCheckFailedError(DPReleaseError):
    """The synthetic table failed its utility expectations; nothing was published."""


def check_utility_fn(
    request: ReleaseRequest, table: SyntheticTable, measurements: Sequence[Measurement]
) -> UtilityReport:
    """Run the utility suite (synthetic rows vs noisy measurements, never source rows).

    It reads the table's summary, built over exactly the rows that publishing writes.
    """
    config = UtilityConfig(
        max_tvd=request.utility.max_tvd, row_tolerance=request.utility.row_tolerance
    )
    report = check_utility(
        table.summary, request.codec, measurements, table.synthetic.noisy_total, config
    )
    if request.rows is None:
        return report
    return against_requested_rows(report, request.rows)


def against_requested_rows(report: UtilityReport, requested: int) -> UtilityReport:
    """The report with its row-count check made against the requested number of rows.

    With ``rows`` set (in the spec or as a run override) the table is sized on purpose, so
    comparing its size with the noisy total would refuse every such release.
    """
    deviation = abs(report.rows - requested) / requested
    checks = tuple(
        UtilityCheck("row_count", None, deviation, c.threshold, deviation <= c.threshold)
        if c.name == "row_count"
        else c
        for c in report.checks
    )
    return replace(report, checks=checks, success=all(c.passed for c in checks))


def require_utility(report: UtilityReport, run_id: str) -> None:
    """Stop before publishing if any utility check failed."""
    if not report.success:
        failed = ", ".join(
            f"{c.name}{'(' + c.column + ')' if c.column else ''}: {c.observed:.4g} > "
            f"{c.threshold:.4g}"
            for c in report.failed()
        )
        raise UtilityCheckFailedError(
            f"the synthetic table failed its utility checks ({failed}); nothing was published. "
            f"The charge stands and the measurements are kept: `dprelease run SPEC --resume "
            f"{run_id}` re-samples from them at no privacy cost, or relax "
            "expectations.utility in the spec."
        )


check_utility_task = task(name="utility expectations", cache_policy=NO_CACHE)(check_utility_fn)
