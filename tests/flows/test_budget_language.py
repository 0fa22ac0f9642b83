"""One budget language: after releases at epsilon 1 then 4 under a cap of (4, 1e-6), every
screen states the same shares of the cap, and the largest epsilon it states is exactly the
largest that planning then accepts (one step above is refused)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dpcore.accounting import BudgetStatement, PrivacyCost, cap_share, floor_digits, percent
from dpcore.errors import BudgetExhaustedError
from flows.cli import main
from flows.release import release
from tests.flows.conftest import write_spec
from warehouse.ledger import budget_state
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog

pytestmark = pytest.mark.usefixtures("prefect_harness")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_screen_states_the_same_shares(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for epsilon in (1.0, 4.0):  # both fit: zCDP composes far below 1 + 4 = 5 > 4
        release(
            write_spec(tmp_path, f"e{epsilon:g}", privacy__epsilon=epsilon), home=str(home.home)
        )
    state = budget_state(home.warehouse, "raw.adult")
    assert state is not None
    statement = BudgetStatement.of(state, 1e-9)
    used, left = percent(statement.used), percent(statement.left)
    shown = floor_digits(statement.largest_epsilon)
    four = cap_share(PrivacyCost(4.0, 1e-9).ledger_rho, state.cap_amount)

    h = ["--home", str(home.home)]
    code, out, _ = run_cli(capsys, *h, "budget")
    assert code == 0 and f"{used} of raw.adult's lifetime cap" in out and f"{left} is left" in out
    assert f"at most epsilon={shown:.4g} at delta=1e-09" in out
    code, out, _ = run_cli(capsys, *h, "budget", "--json")
    (row,) = json.loads(out)
    assert math.isclose(row["used_share"], statement.used) and row["at_delta"] == 1e-9
    code, out, _ = run_cli(capsys, *h, "budget", "--history", "raw.adult")
    assert f"{percent(four)} of the cap, {used} used after" in out

    newest = catalog(home, "adult")[0]
    assert percent(float(str(newest["cumulative_share"]))) == used
    assert percent(float(str(newest["cost_share"]))) == percent(four)
    report = (home.reports / f"adult_v{newest['version']}.html").read_text()
    assert statement.sentence().replace("'", "&#x27;") in report

    step = 10 ** (math.floor(math.log10(shown)) - 3)  # one unit in the last shown digit
    fits = write_spec(tmp_path, "fits", privacy__epsilon=shown)
    code, out, _ = run_cli(capsys, *h, "plan", fits, "--json")
    plan = json.loads(out)
    assert code == 0 and plan["affordable"] is True and plan["runs_left"] == 1
    assert math.isclose(plan["budget"]["used_share"], statement.used)
    code, out, _ = run_cli(capsys, *h, "plan", fits)
    assert f"budget: {statement.sentence()}" in out
    above = write_spec(tmp_path, "above", privacy__epsilon=shown + step)
    code, out, _ = run_cli(capsys, *h, "plan", above, "--json")
    assert json.loads(out)["affordable"] is False
    with pytest.raises(BudgetExhaustedError) as refusal:
        release(above, home=str(home.home))
    assert statement.sentence() in str(refusal.value)
