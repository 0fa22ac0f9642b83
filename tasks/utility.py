"""Task: utility checks of the synthetic table against the noisy measurements, with GX."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager

from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.errors import DPReleaseError
from dpcore.marginals import Measurement
from expectations import UtilityConfig, UtilityReport, check_utility, synthetic_suite, warm_child
from tasks.context import warehouse_paths
from tasks.request import ReleaseRequest
from tasks.synthesize import SyntheticTable


class UtilityCheckFailedError(DPReleaseError):
    """The synthetic table failed its utility expectations; nothing was published."""


def check_utility_fn(
    request: ReleaseRequest,
    table: SyntheticTable,
    measurements: Sequence[Measurement],
    run_id: str | None = None,
    home: str | None = None,
) -> UtilityReport:
    """Run the utility checks (synthetic rows vs noisy measurements, never source rows).

    Great Expectations validates the table's rows batch by batch, as publishing writes them:
    read from the spool if the table was spooled, else sampled again; with ``run_id`` its
    Data Docs go to the home's ``reports/data-docs/<run_id>/``. The plain checks read the
    table's summary.
    """
    config = UtilityConfig(
        max_tvd=request.utility.max_tvd, row_tolerance=request.utility.row_tolerance
    )
    docs = None if run_id is None else warehouse_paths(home).data_docs(run_id)
    return check_utility(
        table.summary,
        request.codec,
        measurements,
        table.synthetic.noisy_total,
        config,
        expected_rows=request.rows,
        batches=table.batches(synthetic_suite.BATCH_ROWS),
        release=request.name,
        docs_dir=None if docs is None else str(docs),
    )


def warm_utility_checks() -> AbstractContextManager[None]:
    """Start Great Expectations' child now, to import GX while the run measures and fits;
    the utility check uses it (see :func:`expectations.child.warm_child`). Enter it only once
    the run will validate (after the charge): a refused run never starts one."""
    return warm_child()


def require_utility(report: UtilityReport, run_id: str) -> None:
    """Stop before publishing if any utility check failed."""
    if not report.success:
        failed = ", ".join(
            f"{c.name}{'(' + c.column + ')' if c.column else ''}: {c.describe()}"
            for c in report.failed()
        )
        docs = (
            f" Great Expectations' Data Docs: {report.data_docs}/index.html."
            if report.data_docs
            else ""
        )
        raise UtilityCheckFailedError(
            f"the synthetic table failed its utility checks ({failed}); nothing was published."
            f"{docs} The charge stands and the measurements are kept: `dprelease run SPEC "
            f"--resume {run_id}` re-samples from them at no privacy cost, or relax "
            "expectations.utility in the spec (or the steward's suite file, "
            f"expectations/suites/{report.suite_file or 'default.json'})."
        )


check_utility_task = task(name="utility expectations", cache_policy=NO_CACHE)(check_utility_fn)
