"""The ``release`` flow: spec → validate → charge → measure → synthesize → check → publish.

The charge is committed before any noise is drawn; measurements are stored under the run id,
so a retry or ``resume_run_id`` re-enters after the charge and never pays or draws twice.
"""

from __future__ import annotations

from contextlib import ExitStack

from prefect import flow, get_run_logger

from dpcore.errors import BudgetExhaustedError
from flows.finish import ReleaseOutcome, sample_check_publish
from flows.overrides import ReleaseOverrides
from flows.preflight import ResumeError, release_request
from flows.progress import step
from flows.refresh import refresh_in_run
from flows.refusal import install_refusal_filter, run_refusing
from flows.run_labels import label_run, release_run_name, run_tags
from tasks.budget import charge_budget, plan_release
from tasks.measure import measure
from tasks.request import ReleaseRequest
from tasks.runlog import failed_unless_published, new_run_id, record_start
from tasks.utility import warm_utility_checks
from tasks.validate import validate_source
from warehouse.ledger import charge_for_run
from warehouse.paths import WarehousePaths


@flow(name="release", flow_run_name=release_run_name, validate_parameters=True)
def release(
    spec_path: str,
    resume_run_id: str | None = None,
    home: str | None = None,
    overrides: ReleaseOverrides | None = None,
) -> ReleaseOutcome:
    """Run one release from its spec file; with ``resume_run_id``, reuse that run's charge.

    ``overrides`` may lower the spec's epsilon or set the rows to generate for this run only
    (a higher epsilon is refused: see :mod:`flows.overrides`). A refusal (any of our typed
    errors) ends the run Failed with its message and no traceback (:mod:`flows.refusal`);
    called in process, the flow raises it.
    """
    return run_refusing(home, lambda: _release(spec_path, resume_run_id, home, overrides))


def _release(
    spec_path: str,
    resume_run_id: str | None,
    home: str | None,
    overrides: ReleaseOverrides | None,
) -> ReleaseOutcome:
    """The release's steps: the pre-flight's checks again (a scheduled run has no CLI), then
    validate, charge, measure, synthesize, check and publish.

    Once the charge stands (or a resumed run's request is checked), GX's child starts
    importing on the other core while this process measures and fits
    (:func:`~tasks.utility.warm_utility_checks`); a refused run never starts it."""
    logger = get_run_logger()
    resumed = resume_run_id is not None
    request = release_request(spec_path, home, overrides, resume_run_id)
    run_id = resume_run_id or new_run_id()
    record_start(request, run_id, home)
    logger.info("release %s, run %s%s", request.name, run_id, " (resume)" if resumed else "")
    with failed_unless_published(run_id, home), ExitStack() as stack:
        if resumed:
            receipt = charge_for_run(WarehousePaths.from_env(home).warehouse, run_id)
            assert receipt is not None
            stack.enter_context(warm_utility_checks())
        else:
            with step("planning"):
                plan = plan_release(request, home)
            request = plan.request
            label_run(None, run_tags(request.name, request.dataset))  # e.g. a view's base table
            if not plan.affordable:
                return _when_exhausted(request, run_id, home, plan.refusal())
            with step("loading and validating source"):
                validate_source(request, run_id, home)  # the source's schema first, then rows
            logger.info("source validated; the input report is stored for operators only")
            try:
                with step("charging budget"):
                    receipt = charge_budget(request, run_id, home)
            except BudgetExhaustedError as error:  # another run took the budget meanwhile
                return _when_exhausted(request, run_id, home, str(error))
            logger.info(
                "charged epsilon=%g delta=%g to %s",
                receipt.epsilon,
                receipt.delta,
                request.dataset,
            )
            stack.enter_context(warm_utility_checks())
        with step("measuring marginals"):
            measurements = measure(request, run_id, home)
        logger.info("%d noisy marginals ready", len(measurements))
        return sample_check_publish(request, run_id, measurements, receipt, home, resumed=resumed)


def _when_exhausted(
    request: ReleaseRequest, run_id: str, home: str | None, refusal: str
) -> ReleaseOutcome:
    """Follow the spec's ``on_exhausted``: fail with nothing spent, or publish a refresh."""
    if request.on_exhausted != "refresh":
        raise BudgetExhaustedError(refusal)
    get_run_logger().info(
        "the budget cannot pay for a measured run of %s; publishing a refresh from stored "
        "measurements instead (privacy.on_exhausted: refresh)",
        request.name,
    )
    return refresh_in_run(request.name, run_id, home, request)


install_refusal_filter()
__all__ = ["ResumeError", "release"]
