"""Task: publish the synthetic table with its catalog row, atomically: copied from the spool
written while it was checked, or streamed in chunks (:mod:`tasks.synthesize`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from dpcore.accounting import PrivacyCost, cap_share, cumulative_epsilon
from dpcore.encoding import ColumnCodec
from dpcore.marginals import Measurement
from expectations import UtilityReport
from tasks.context import warehouse_paths
from tasks.crosstabs import marginal_rows
from tasks.request import ReleaseRequest
from tasks.retry import io_task
from tasks.synthesize import SyntheticTable
from warehouse.faults import crash_point
from warehouse.ledger import Charge, budget_state
from warehouse.publish import PublishedRelease, ReleaseMetadata, publish
from warehouse.runs import set_status
from warehouse.spool import discard
from warehouse.vocabulary import ReleaseKind, RunStatus


def column_comment(codec: ColumnCodec) -> str:
    """A one-line public description of a released column's domain."""
    missing = " NULL means missing." if codec.has_missing else ""
    if codec.kind == "category":
        return f"Category, one of {len(codec.categories)} declared values.{missing} Synthetic."
    lo, hi = codec.bounds
    return (
        f"{codec.kind.capitalize()} in [{lo:g}, {hi:g}], drawn uniformly within "
        f"{codec.value_codes} declared bins.{missing} Synthetic."
    )


def publish_fn(
    request: ReleaseRequest,
    run_id: str,
    table: SyntheticTable,
    utility: UtilityReport,
    receipt: Charge,
    home: str | None,
    refresh_of: str | None = None,
    measurements: Sequence[Measurement] = (),
) -> PublishedRelease:
    """Write ``release.<name>_v<N>``, repoint ``release.<name>`` and add the catalog row.

    ``receipt`` is the charge that paid for the measurements. With ``refresh_of`` (the
    measurement run) the version is a refresh: it records a cost of zero and the dataset's
    cumulative spend as it stands now.
    """
    paths = warehouse_paths(home)
    cumulative_delta = request.cap.delta
    if refresh_of is None:
        spent = receipt.spent_after
        # The catalog's rho is the release's zCDP cost (epsilon**2 / 2 for a pure release),
        # whatever currency its cap's ledger counts in.
        cost = (receipt.epsilon, receipt.delta, PrivacyCost(receipt.epsilon, receipt.delta).rho)
    else:
        state = budget_state(paths.warehouse, request.dataset, request.cap, request.unit.label)
        spent = receipt.spent_after if state is None else state.spent
        cost = (0.0, 0.0, 0.0)
    meta = ReleaseMetadata(
        name=request.name,
        run_id=run_id,
        source=request.dataset,  # the base table whose cap paid (a view resolves to it)
        spec_hash=request.spec_hash,
        description=request.description,
        method=request.method,
        epsilon=cost[0],
        delta=cost[1],
        rho=cost[2],
        cumulative_epsilon=cumulative_epsilon(spent, request.cap),
        cumulative_delta=cumulative_delta,
        cap_epsilon=request.cap.epsilon,
        cap_delta=request.cap.delta,
        utility_passed=utility.success,
        utility={"checks": [asdict(c) for c in utility.checks], "rows": utility.rows},
        column_comments={c.name: column_comment(c) for c in request.codec.columns},
        kind=ReleaseKind.MEASURED if refresh_of is None else ReleaseKind.REFRESH,
        measurement_run=refresh_of or run_id,
        cumulative_rho=spent,
        unit=request.unit.label,
        cost_share=0.0 if refresh_of is not None else cap_share(receipt.rho, request.cap),
        cumulative_share=cap_share(spent, request.cap),
        guarantee="pure" if request.cost.pure else "zcdp",
    )
    marginals = marginal_rows(table, measurements, refresh_of or run_id) if measurements else None
    rows = table.frames() if table.spool is None else table.spool
    published = publish(paths, rows, meta, private=table.synthetic.private, marginals=marginals)
    if table.spool is not None:
        discard(table.spool)
    crash_point("after-rename")
    set_status(paths.warehouse, run_id, RunStatus.PUBLISHED, version=published.version)
    return published


publish_release = io_task("publish release", publish_fn)
