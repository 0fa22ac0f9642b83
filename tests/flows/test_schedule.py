"""The budget runway of a scheduled release: runs left and the date the budget runs out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from dpcore.accounting import BudgetState, PrivacyCap
from flows.schedule import runway

CAP = PrivacyCap(4.0, 1e-6)


def test_weekly_schedule_runs_out_after_the_paid_runs() -> None:
    cost = CAP.ledger_rho / 3 - Decimal("1e-12")  # three runs fit, a fourth does not
    state = BudgetState("raw.t", CAP, Decimal(0))
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # a Saturday
    result = runway(state, cost, "0 3 * * 1", now)
    assert result.runs_left == 3
    assert result.last_paid == datetime(2026, 12, 14, 3, 0, tzinfo=UTC)
    assert result.first_refused == datetime(2026, 12, 21, 3, 0, tzinfo=UTC)


def test_exhausted_budget_runs_out_at_the_next_run() -> None:
    state = BudgetState("raw.t", CAP, CAP.ledger_rho)
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    result = runway(state, Decimal("0.01"), "0 3 1 * *", now)  # monthly
    assert result.runs_left == 0 and result.last_paid is None
    assert result.first_refused == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
