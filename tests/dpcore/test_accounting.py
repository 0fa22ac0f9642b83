"""Accounting: zCDP conversions are conservative and tight, pure epsilon adds up exactly,
ledger arithmetic is exact, and which cap admits which release is enforced."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from dpcore.accounting import (
    BudgetState,
    PrivacyCap,
    PrivacyCost,
    eps_from_rho,
    rho_from_eps_delta,
    split_cost,
    to_ledger_rho,
)
from dpcore.errors import BudgetError, BudgetExhaustedError


def bun_steinke(rho: float, delta: float) -> float:
    return rho + 2 * math.sqrt(rho * math.log(1 / delta))


@pytest.mark.parametrize("rho", [1e-4, 0.01, 0.1, 1.0, 10.0])
@pytest.mark.parametrize("delta", [1e-12, 1e-9, 1e-6, 1e-3])
def test_eps_is_never_worse_than_bun_steinke(rho: float, delta: float) -> None:
    assert eps_from_rho(rho, delta) <= bun_steinke(rho, delta) + 1e-12


def test_eps_is_strictly_tighter_than_bun_steinke_in_the_usual_regime() -> None:
    assert eps_from_rho(0.015, 1e-9) < 0.9 * bun_steinke(0.015, 1e-9)


def test_eps_is_a_valid_bound_against_the_exact_gaussian_curve() -> None:
    """For the Gaussian mechanism (which is exactly rho-zCDP) the optimal delta(eps) is known

    in closed form: delta = Phi(-eps/mu + mu/2) - e^eps Phi(-eps/mu - mu/2), mu = sqrt(2 rho).
    Our eps at delta must have exact delta(eps) <= delta (conservative), and be close to it.
    """
    for rho in (0.005, 0.05, 0.5):
        for delta in (1e-9, 1e-6):
            eps = eps_from_rho(rho, delta)
            mu = math.sqrt(2 * rho)

            def phi(x: float) -> float:
                return 0.5 * math.erfc(-x / math.sqrt(2))

            exact_delta = phi(-eps / mu + mu / 2) - math.exp(eps) * phi(-eps / mu - mu / 2)
            assert exact_delta <= delta
            assert exact_delta > delta / 100  # tight to within a small factor


@pytest.mark.parametrize("eps,delta", [(0.3, 1e-9), (1.0, 1e-9), (4.0, 1e-6), (10.0, 1e-5)])
def test_rho_round_trip_is_conservative_and_tight(eps: float, delta: float) -> None:
    rho = rho_from_eps_delta(eps, delta)
    assert eps_from_rho(rho, delta) <= eps
    assert eps_from_rho(rho * 1.0001, delta) > eps * 0.9999


def test_eps_is_monotone_in_rho() -> None:
    values = [eps_from_rho(r, 1e-9) for r in (0.001, 0.01, 0.1, 1.0)]
    assert values == sorted(values)
    assert eps_from_rho(0.0, 1e-9) == 0.0


@pytest.mark.parametrize("eps", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_epsilon_is_refused(eps: float) -> None:
    with pytest.raises(BudgetError, match="epsilon"):
        PrivacyCost(eps, 1e-9)


@pytest.mark.parametrize("delta", [-1e-9, 1.0, float("nan"), float("inf")])
def test_bad_delta_is_refused(delta: float) -> None:
    with pytest.raises(BudgetError, match="delta"):
        PrivacyCap(1.0, delta)


def test_ledger_rounding_favours_privacy() -> None:
    cost = PrivacyCost(1.0, 1e-9)
    cap = PrivacyCap(1.0, 1e-9)
    assert cost.ledger_rho >= Decimal(repr(cost.rho))
    assert cap.ledger_rho <= Decimal(repr(cost.rho))
    assert to_ledger_rho(0.1, round_up=True) == Decimal("0.100000000000000000")


def test_budget_state_admits_exactly_what_fits() -> None:
    cap = PrivacyCap(4.0, 1e-6)
    step = cap.ledger_rho / 4
    state = BudgetState("raw.t", cap, Decimal(0))
    for _ in range(4):
        assert state.can_charge(step)
        state = state.after(step)
    assert state.remaining == cap.ledger_rho - 4 * step
    assert not state.can_charge(step)
    with pytest.raises(BudgetExhaustedError, match="is left"):
        state.after(step)
    assert state.runs_left(step) == 0


def test_runs_left_counts_whole_runs() -> None:
    cap = PrivacyCap(4.0, 1e-6)
    state = BudgetState("raw.t", cap, Decimal(0))
    cost = PrivacyCost(1.0, 1e-9).ledger_rho
    assert state.runs_left(cost) == int(cap.ledger_rho // cost)


@pytest.mark.parametrize("runs", [1, 2, 7, 12, 24])
@pytest.mark.parametrize("delta", [1e-9, 1e-6])
def test_a_horizon_spends_all_of_the_cap_and_never_more(runs: int, delta: float) -> None:
    cap = PrivacyCap(3.0, 1e-6)
    state = BudgetState("raw.t", cap, Decimal(0))
    for left in range(runs, 0, -1):
        cost = split_cost(state.remaining, left, delta, cap)
        assert cost.ledger_rho <= state.remaining / left
        assert cost.delta == delta
        state = state.after(cost.ledger_rho)  # raises if a share ever passed the cap
    # What is left is float round-trip dust (eps <-> rho), far below any real charge.
    assert Decimal(0) <= state.remaining < cap.ledger_rho * Decimal("1e-9")


def test_a_horizon_splits_what_remains_after_other_spending() -> None:
    cap = PrivacyCap(3.0, 1e-6)
    state = BudgetState("raw.t", cap, cap.ledger_rho / 2)
    cost = split_cost(state.remaining, 4, 1e-6, cap)
    assert cap.ledger_rho / 8 * (1 - Decimal("1e-9")) < cost.ledger_rho <= cap.ledger_rho / 8


def test_nothing_left_cannot_be_split() -> None:
    with pytest.raises(BudgetExhaustedError, match="cannot be split"):
        split_cost(Decimal(0), 3, 1e-6, PrivacyCap(1.0, 1e-6))
    with pytest.raises(BudgetError, match="at least one run"):
        split_cost(Decimal("0.5"), 0, 1e-6, PrivacyCap(1.0, 1e-6))


def test_one_budget_language_adds_up() -> None:
    """The issue's case: releases at epsilon 1 then 4 under a cap of (4, 1e-6) both fit; the
    shares add up exactly, and the largest epsilon stated is exactly the largest that fits."""
    from dpcore.accounting import (
        BudgetStatement,
        cap_share,
        floor_digits,
        largest_epsilon,
        percent,
    )

    cap = PrivacyCap(4.0, 1e-6)
    first, second = PrivacyCost(1.0, 1e-9), PrivacyCost(4.0, 1e-9)
    state = BudgetState("raw.adult", cap, Decimal(0)).after(first.ledger_rho)
    state = state.after(second.ledger_rho)
    statement = BudgetStatement.of(state, 1e-9)
    assert statement.used == pytest.approx(
        cap_share(first.ledger_rho, cap) + cap_share(second.ledger_rho, cap), abs=1e-15
    )
    assert statement.used + statement.left == pytest.approx(1.0)
    most = statement.largest_epsilon
    assert state.can_charge(PrivacyCost(most, 1e-9).ledger_rho)
    assert not state.can_charge(PrivacyCost(most * (1 + 1e-9), 1e-9).ledger_rho)
    assert f"{percent(statement.used)} of raw.adult's lifetime cap" in statement.sentence()
    shown = floor_digits(most)
    assert f"at most epsilon={shown:.4g} at delta=1e-09" in statement.sentence()
    assert shown <= most < shown + 10 ** (math.floor(math.log10(most)) - 3)
    assert largest_epsilon(Decimal(0), 1e-9, cap) == 0.0
    assert percent(1e-6) == "<0.1%" and percent(0.99999) == ">99.9%"


# Pure epsilon-DP: delta 0 in a release and in a cap.


def test_a_pure_cost_is_epsilon_dp_and_costs_half_epsilon_squared_in_zcdp() -> None:
    cost = PrivacyCost(0.8, 0.0)
    assert cost.pure and cost.calculus.name == "pure" and cost.budget == 0.8
    # epsilon-DP implies epsilon**2 / 2-zCDP (Bun & Steinke 2016, Prop. 1.4).
    assert cost.rho == pytest.approx(0.32)
    assert cost.charge_for(PrivacyCap(4.0, 1e-6)) == to_ledger_rho(0.8**2 / 2, round_up=True)
    assert cost.charge_for(PrivacyCap(4.0, 0.0)) == Decimal("0.8")
    assert "pure" in cost.words()


def test_a_pure_cap_sums_epsilon_exactly_over_releases() -> None:
    cap = PrivacyCap(1.0, 0.0)
    assert cap.pure and cap.currency == "epsilon" and cap.ledger_amount == Decimal(1)
    state = BudgetState("raw.t", cap, Decimal(0))
    for _ in range(10):  # ten releases at 0.1 add up to exactly 1: not one more fits
        state = state.after(PrivacyCost(0.1, 0.0).charge_for(cap))
    assert state.spent == Decimal(1) and state.remaining == 0 and state.spent_epsilon == 1.0
    with pytest.raises(BudgetExhaustedError, match="nothing more can be charged"):
        state.after(PrivacyCost(1e-9, 0.0).charge_for(cap))


def test_a_pure_cap_refuses_an_approximate_release_and_says_what_to_do() -> None:
    from dpcore.accounting import MixedPrivacyError

    with pytest.raises(MixedPrivacyError) as refused:
        PrivacyCost(0.5, 1e-9).charge_for(PrivacyCap(4.0, 0.0))
    message = str(refused.value)
    assert "pure epsilon-DP" in message and "privacy.delta: 0" in message
    with pytest.raises(MixedPrivacyError):
        split_cost(Decimal(1), 2, 1e-9, PrivacyCap(4.0, 0.0))


@pytest.mark.parametrize("cap", [PrivacyCap(3.0, 0.0), PrivacyCap(3.0, 1e-6)])
def test_the_largest_pure_epsilon_is_exactly_what_fits(cap: PrivacyCap) -> None:
    from dpcore.accounting import largest_epsilon

    state = BudgetState("raw.t", cap, PrivacyCost(0.3, 0.0).charge_for(cap))
    eps = largest_epsilon(state.remaining, 0.0, cap)
    assert eps > 0
    assert state.can_charge(PrivacyCost(eps, 0.0).charge_for(cap))
    above = math.nextafter(eps, math.inf) * (1 + 1e-9)
    assert not state.can_charge(PrivacyCost(above, 0.0).charge_for(cap))
    if cap.pure:
        assert eps == pytest.approx(2.7)
        assert largest_epsilon(state.remaining, 1e-9, cap) == 0.0  # only pure ones fit


@pytest.mark.parametrize("runs", [1, 3, 7])
def test_a_pure_horizon_spends_all_of_a_pure_cap_and_never_more(runs: int) -> None:
    cap = PrivacyCap(2.0, 0.0)
    state = BudgetState("raw.t", cap, Decimal(0))
    for left in range(runs, 0, -1):
        cost = split_cost(state.remaining, left, 0.0, cap)
        assert cost.pure
        state = state.after(cost.charge_for(cap))
    assert Decimal(0) <= state.remaining < Decimal("1e-9")


def test_the_budget_sentence_names_a_pure_cap() -> None:
    from dpcore.accounting import PURE_NOTE, BudgetStatement, budget_note

    cap = PrivacyCap(2.0, 0.0)
    state = BudgetState("raw.t", cap, Decimal("0.5"))
    sentence = BudgetStatement.of(state, 0.0).sentence()
    assert "25.0% of raw.t's lifetime cap (epsilon=2, pure (delta=0)) is used" in sentence
    assert "at most epsilon=1.5 pure (delta=0)" in sentence
    assert budget_note(cap) == PURE_NOTE
    assert "a pure cap takes only pure releases" in BudgetStatement.of(state, 1e-9).sentence()
