"""Task: utility expectations on the synthetic table against the noisy measurements."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.errors import DPReleaseError
from dpcore.marginals import Measurement
from expectations import UtilityConfig, UtilityReport, check_utility
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
    return check_utility(
        table.summary,
        request.codec,
        measurements,
        table.synthetic.noisy_total,
        config,
        expected_rows=request.rows,
    )


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
