"""The DP domain step (issue 15): charged to the dataset's cap before any noise, refused past
it with nothing drawn, rare values never kept, and its result written into the draft."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import numpy as np
import numpy.typing as npt
import pytest

from dpcore.accounting import PrivacyCap, PrivacyCost
from dpcore.errors import BudgetError, BudgetExhaustedError
from dpcore.noise import RandomSource, seeded_source
from flows.cli import main
from flows.learn_domains import STEP_RELEASE, learn_domains
from flows.spec import load_spec
from warehouse.errors import UnitMismatchError, UnregisteredDatasetError
from warehouse.ledger import budget_state, charge, history, register_budget
from warehouse.paths import WarehousePaths
from warehouse.source import table_catalog

RARE = "RARE_MARKER_e41c"
COST = PrivacyCost(1.0, 1e-9)


class NoDraws(RandomSource):
    """A randomness source that fails the test if anything draws from it."""

    private = True

    def words(self, n: int) -> npt.NDArray[np.uint64]:
        raise AssertionError("noise was drawn")


CAP = PrivacyCap(4.0, 1e-6)


def shop(home: WarehousePaths, cap: PrivacyCap | None = CAP) -> dict[str, str]:
    """``raw.shop``: two common cities, one held by 3 rows (a marker), spend 100..399."""
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "CREATE TABLE raw.shop AS SELECT "
            f"CASE WHEN i < 3 THEN '{RARE}' WHEN i % 2 = 0 THEN 'Leeds' ELSE 'York' END AS city, "
            "(100 + i % 300)::INTEGER AS spend FROM range(3000) t(i)"
        )
    if cap is not None:
        register_budget(home.warehouse, "raw.shop", cap)
    return table_catalog(home.warehouse, "raw.shop")


def test_the_step_is_charged_then_learns_kept_values_and_bounds(bare_home: WarehousePaths) -> None:
    """With rho about 0.0075 a column the noise has sigma ~8.2 and the threshold tau is 53;
    the rare city (3 rows) is kept with probability below exp(-(50/8.2)**2 / 2) < 1e-7, the
    common ones (1,500 rows) dropped with less, and 2,000 rows in [200, 500) make a bin far
    above 4 sigma: the test's false-failure rate is below 1e-6."""
    catalog = shop(bare_home)
    step = learn_domains(
        bare_home.warehouse, "raw.shop", ["city", "spend"], catalog, COST, seeded_source(3)
    )
    (row,) = history(bare_home.warehouse, "raw.shop")
    assert row.charge.release == STEP_RELEASE and row.charge.run_id == step.charge.run_id
    assert row.outcome == "learned domains"
    assert row.charge.rho == COST.charge_for(PrivacyCap(4.0, 1e-6))
    state = budget_state(bare_home.warehouse, "raw.shop")
    assert state is not None and state.spent == row.charge.rho
    city, spend = step.columns["city"], step.columns["spend"]
    assert set(city.entry["values"]) == {"Leeds", "York"}
    assert RARE not in repr(step)
    low, high = spend.entry["bounds"]
    assert low <= 200 and high >= 399
    assert "NOT PRIVATE" in city.note and step.charge.run_id in spend.note


def test_the_step_past_the_cap_is_refused_with_nothing_drawn(bare_home: WarehousePaths) -> None:
    catalog = shop(bare_home)
    cap = PrivacyCap(4.0, 1e-6)
    most = PrivacyCost(3.99, 1e-6)  # nearly the whole cap
    charge(bare_home.warehouse, dataset="raw.shop", run_id="earlier", release="r",
           spec_hash="h", cost=most, cap=cap)  # fmt: skip
    before = budget_state(bare_home.warehouse, "raw.shop")
    with pytest.raises(BudgetExhaustedError, match=r"raw\.shop"):
        learn_domains(bare_home.warehouse, "raw.shop", ["city"], catalog, COST, NoDraws())
    after = budget_state(bare_home.warehouse, "raw.shop")
    assert before is not None and after is not None and after.spent == before.spent
    assert len(history(bare_home.warehouse, "raw.shop")) == 1


@pytest.mark.parametrize(
    ("cap", "unit", "error"),
    [
        (None, None, UnregisteredDatasetError),
        (PrivacyCap(4.0, 0.0), None, BudgetError),
        (PrivacyCap(4.0, 1e-6), "person:id", UnitMismatchError),
    ],
)
def test_a_step_the_ledger_cannot_take_is_refused_before_any_charge(
    bare_home: WarehousePaths,
    cap: PrivacyCap | None,
    unit: str | None,
    error: type[Exception],
) -> None:
    catalog = shop(bare_home, cap=None)
    if cap is not None:
        register_budget(bare_home.warehouse, "raw.shop", cap, unit=unit)
    with pytest.raises(error):
        learn_domains(bare_home.warehouse, "raw.shop", ["city"], catalog, COST, NoDraws())
    state = budget_state(bare_home.warehouse, "raw.shop")
    assert state is None or state.spent == Decimal(0)


def test_init_learn_writes_the_learned_domains_into_a_draft_that_plans(
    bare_home: WarehousePaths, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    shop(bare_home)
    out = tmp_path / "shop.yaml"
    home = ["--home", str(bare_home.home)]
    assert main([*home, "init", "raw.shop", "--learn", "city"]) == 2  # no --epsilon
    book = tmp_path / "shop.json"
    book.write_text('{"columns": {"city": {"type": "category", "values": ["Leeds"]}}}')
    learn_city = ["init", "raw.shop", "--learn", "city", "--epsilon", "1"]
    assert main([*home, *learn_city, "--codebook", str(book)]) == 2  # public already
    assert "already declares city" in capsys.readouterr().err
    state = budget_state(bare_home.warehouse, "raw.shop")
    assert state is not None and state.spent == 0  # the refusals charged nothing
    code = main(
        [*home, "init", "raw.shop", "--learn", "city", "spend", "--epsilon", "1", "--out", str(out)]
    )
    said = capsys.readouterr()
    assert code == 0, said.err
    text = out.read_text()
    assert "learned under DP by run domain-" in text and "epsilon=1, delta=1e-09" in text
    assert RARE not in text and RARE not in said.out + said.err
    spec = load_spec(out)
    assert set(spec.columns["city"].values) == {"Leeds", "York"}  # type: ignore[union-attr]
    assert main([*home, "plan", str(out)]) == 0
    capsys.readouterr()
    assert main([*home, "budget", "--history", "raw.shop"]) == 0
    listed = capsys.readouterr().out
    assert "dprelease init --learn" in listed and "learned domains" in listed
    assert "noisy domain counts, not stored" in listed
