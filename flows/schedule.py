"""How long a scheduled release's budget lasts: runs left and the date it runs out.

Pure date arithmetic over the spec's cron schedule and the ledger's remaining budget; it
reads no source rows and spends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from cronsim import CronSim, CronSimError

from dpcore.accounting import BudgetState

MAX_LISTED_RUNS = 100_000
CRON_EXAMPLE = "0 3 * * 1"


def check_cron(expression: str) -> str:
    """``expression`` if it is a five-field cron schedule that fires, else ``ValueError``.

    The parser is :mod:`cronsim`'s, the one that computes the schedule's runs
    (:func:`runway`), so a schedule the spec accepts is one whose dates ``plan`` can list:
    out-of-range fields (minute 61) and dates that never come (31 February) are refused, not
    only a wrong number of fields. Six-field (seconds) schedules are refused too: Prefect's
    cron schedules have five.
    """
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"schedule must be a cron string with 5 fields, e.g. '{CRON_EXAMPLE}'; "
            f"{expression!r} has {len(fields)}"
        )
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as error:
        raise ValueError(
            f"schedule {expression!r} is not a valid cron string ({error}); "
            f"e.g. '{CRON_EXAMPLE}' (minute hour day-of-month month day-of-week)"
        ) from None
    return expression


@dataclass(frozen=True)
class BudgetRunway:
    """Scheduled runs the remaining budget pays for, the last paid one and the first refused.

    ``runs_left`` counts whole runs at this spec's cost; ``first_refused`` is None only when
    the budget outlasts :data:`MAX_LISTED_RUNS` scheduled runs.
    """

    cron: str
    runs_left: int
    last_paid: datetime | None
    first_refused: datetime | None


def runway(
    state: BudgetState,
    cost_rho: Decimal,
    cron: str,
    now: datetime,
    *,
    runs_left: int | None = None,
) -> BudgetRunway:
    """The budget's runway for a schedule starting after ``now`` (timezone-aware).

    ``runs_left`` overrides the count of runs the budget pays for at ``cost_rho`` (a
    horizon states its own).
    """
    if runs_left is None:
        runs_left = state.runs_left(cost_rho)
    dates = CronSim(cron, now)
    last_paid: datetime | None = None
    for _ in range(min(runs_left, MAX_LISTED_RUNS)):
        last_paid = next(dates)
    first_refused = next(dates) if runs_left < MAX_LISTED_RUNS else None
    return BudgetRunway(cron, runs_left, last_paid, first_refused)
