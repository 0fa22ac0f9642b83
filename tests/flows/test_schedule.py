"""The budget runway of a scheduled release: runs left and the date the budget runs out."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from dpcore.accounting import BudgetState, PrivacyCap
from flows.cli import main
from flows.schedule import check_cron, runway
from flows.spec import load_spec
from tests.flows.conftest import SPECS
from tests.registration import register_spec
from warehouse import clock

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


def test_plan_for_the_adult_spec_on_a_monthly_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The steward's view: runs left and the date the budget runs out, from a fresh ledger."""
    monkeypatch.setattr(clock, "utc_now", lambda: datetime(2026, 11, 28, 12, 0, tzinfo=UTC))
    spec = str(SPECS / "adult.yaml")
    home = str(tmp_path / "home")
    register_spec(home, spec)
    assert main(["--home", home, "plan", spec, "--schedule", "0 3 1 * *"]) == 0
    out = capsys.readouterr().out
    request = load_spec(spec).to_request(spec)
    paid = int(request.cap.ledger_rho // request.cost.ledger_rho)
    assert paid == 20  # epsilon 1 at delta 1e-9 per run, cap epsilon 4 at delta 1e-6
    assert f"runs of this spec left: {paid}" in out
    assert (
        f"schedule '0 3 1 * *': the budget pays for {paid} more scheduled runs "
        "(the last on 2028-07-01); it runs out on 2028-08-01" in out
    )
    assert "on_exhausted: fail" in out
    readme = (SPECS.parents[1] / "README.md").read_text()
    shown = readme.split("```text\n", 1)[1].split("```", 1)[0]
    for line in shown.splitlines():  # the README quotes this very output
        assert line in out, line


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("0 3 * *", "5 fields"),
        ("0 3 * * 1 *", "5 fields"),
        ("61 3 * * 1", "not a valid cron string"),
        ("0 3 31 2 *", "not a valid cron string"),
    ],
)
def test_cron_is_checked_by_the_parser_that_lists_its_runs(cron: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_cron(cron)
    assert check_cron("0 3 1 * *") == "0 3 1 * *"


def test_plan_refuses_a_bad_schedule_preview(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(SPECS / "adult.yaml")
    with pytest.raises(SystemExit) as info:
        main(["--home", str(tmp_path), "plan", spec, "--schedule", "0 25 * * *"])
    assert info.value.code == 2
    assert "not a valid cron string" in capsys.readouterr().err
