"""Privacy accounting in zero-concentrated DP (zCDP) or pure epsilon-DP, with exact ledger
arithmetic.

A dataset's cap fixes the ledger's currency. A cap with ``delta > 0`` is kept in zCDP's rho;
a cap with ``delta = 0`` is a pure epsilon-DP cap, kept in epsilon. Composition is addition
in both currencies (rho adds under zCDP, epsilon under pure DP), which the ledger does in
exact fixed-point decimals (18 places), so sums recompute exactly from the ledger rows.

Which release a cap admits (:meth:`PrivacyCost.charge_for`):

* a zCDP cap admits approximate releases ``(epsilon, delta > 0)`` at their rho, and pure
  releases ``(epsilon, 0)`` at ``epsilon**2 / 2``, since epsilon-DP implies
  ``epsilon**2 / 2``-zCDP (Bun & Steinke 2016, Prop. 1.4);
* a pure cap admits only pure releases, at their epsilon: no approximate guarantee can be
  composed into a pure one, so an approximate release is refused (:class:`MixedPrivacyError`).

Conversions (both directions are conservative: any rounding favours privacy):

* ``eps_from_rho(rho, delta)``: rho-zCDP implies (eps, delta)-DP for
  ``eps = inf_{a>1} a*rho + (ln(1/delta) + (a-1)*ln(1-1/a) - ln a) / (a-1)``
  (Canonne, Kamath, Steinke 2020, Prop. 12 / Cor. 13; tighter than Bun-Steinke 2016's
  ``rho + 2*sqrt(rho*ln(1/delta))``, which we also evaluate and take the smaller of). Every
  ``a > 1`` gives a valid bound, so a numerical minimiser that misses the exact infimum can
  only over-state eps, never under-state it.
* ``rho_from_eps_delta(eps, delta)``: the largest rho (found by bisection, returning the
  lower end of the final bracket) whose ``eps_from_rho`` is at most ``eps``.

Cost rho values are rounded up and cap rho values rounded down to the ledger's precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import lru_cache

from dpcore.calculus import PURE, ZCDP, Calculus
from dpcore.errors import BudgetError, BudgetExhaustedError

RHO_PLACES = Decimal("1e-18")


class MixedPrivacyError(BudgetError):
    """An approximate (delta > 0) release was asked of a dataset with a pure epsilon-DP cap."""


def _check_eps_delta(epsilon: float, delta: float, what: str) -> None:
    """Refuse zero, negative, NaN or infinite epsilon, and delta outside [0, 1) (0: pure)."""
    if not isinstance(epsilon, int | float) or not math.isfinite(epsilon) or epsilon <= 0:
        raise BudgetError(f"{what} epsilon must be a finite number > 0, got {epsilon!r}")
    if not isinstance(delta, int | float) or not math.isfinite(delta) or not 0 <= delta < 1:
        raise BudgetError(
            f"{what} delta must be a finite number in [0, 1) (0 for pure epsilon-DP), got {delta!r}"
        )


def kind_words(delta: float) -> str:
    """``pure epsilon-DP`` for delta 0, else ``(epsilon, delta)-DP via zCDP``: every screen
    that states a guarantee names its kind."""
    return "pure epsilon-DP" if delta == 0 else "(epsilon, delta)-DP via zCDP"


def _cks_eps(rho: float, log_inv_delta: float, a: float) -> float:
    """The CKS (2020) epsilon bound at Renyi order ``a`` > 1."""
    return a * rho + (log_inv_delta + (a - 1) * math.log1p(-1 / a) - math.log(a)) / (a - 1)


def eps_from_rho(rho: float, delta: float) -> float:
    """Smallest epsilon we can certify for rho-zCDP at ``delta`` (see module docstring)."""
    if not math.isfinite(rho) or rho < 0:
        raise BudgetError(f"rho must be a finite number >= 0, got {rho!r}")
    if not 0 < delta < 1:
        raise BudgetError(f"delta must be in (0, 1), got {delta!r}")
    if rho == 0:
        return 0.0
    lid = math.log(1 / delta)
    bun_steinke = rho + 2 * math.sqrt(rho * lid)
    # The CKS objective is unimodal in log(a - 1): golden-section search on that scale.
    lo, hi = math.log(1e-9), math.log(1e9)
    phi = (math.sqrt(5) - 1) / 2
    x1, x2 = hi - phi * (hi - lo), lo + phi * (hi - lo)
    f1 = _cks_eps(rho, lid, 1 + math.exp(x1))
    f2 = _cks_eps(rho, lid, 1 + math.exp(x2))
    for _ in range(200):
        if f1 < f2:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - phi * (hi - lo)
            f1 = _cks_eps(rho, lid, 1 + math.exp(x1))
        else:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + phi * (hi - lo)
            f2 = _cks_eps(rho, lid, 1 + math.exp(x2))
    return max(0.0, min(bun_steinke, f1, f2))


def rho_from_eps_delta(epsilon: float, delta: float) -> float:
    """Largest rho such that rho-zCDP certifies (epsilon, delta)-DP."""
    _check_eps_delta(epsilon, delta, "the")
    return _rho_from_eps_delta(float(epsilon), float(delta))


@lru_cache(maxsize=1024)
def _rho_from_eps_delta(epsilon: float, delta: float) -> float:
    lo, hi = 0.0, float(epsilon)  # eps_from_rho(rho) >= rho, so rho <= eps
    for _ in range(200):
        mid = (lo + hi) / 2
        if eps_from_rho(mid, delta) <= epsilon:
            lo = mid
        else:
            hi = mid
    return lo


def to_ledger_rho(rho: float, *, round_up: bool) -> Decimal:
    """``rho`` (or any ledger amount) as an exact ledger decimal, rounded up for costs and
    down for caps."""
    return Decimal(repr(float(rho))).quantize(
        RHO_PLACES, rounding=ROUND_CEILING if round_up else ROUND_FLOOR
    )


@dataclass(frozen=True)
class PrivacyCap:
    """A dataset's lifetime cap as (epsilon, delta): a zCDP cap kept in rho, or with
    ``delta = 0`` a pure epsilon-DP cap kept in epsilon."""

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        _check_eps_delta(self.epsilon, self.delta, "the cap's")

    @property
    def pure(self) -> bool:
        """Whether this is a pure epsilon-DP cap (delta 0)."""
        return self.delta == 0

    @property
    def currency(self) -> str:
        """What the ledger counts for this cap: ``epsilon`` (pure) or ``rho``."""
        return "epsilon" if self.pure else "rho"

    @property
    def ledger_rho(self) -> Decimal:
        """Total rho a zCDP cap allows: the cap's rho rounded down."""
        return to_ledger_rho(rho_from_eps_delta(self.epsilon, self.delta), round_up=False)

    @property
    def ledger_amount(self) -> Decimal:
        """Total the dataset may ever spend, in the cap's currency, rounded down."""
        return to_ledger_rho(self.epsilon, round_up=False) if self.pure else self.ledger_rho

    def words(self) -> str:
        """``epsilon=4, delta=1e-06`` or ``epsilon=4, pure (delta=0)``."""
        if self.pure:
            return f"epsilon={self.epsilon:g}, pure (delta=0)"
        return f"epsilon={self.epsilon:g}, delta={self.delta:g}"


@dataclass(frozen=True)
class PrivacyCost:
    """One release's declared (epsilon, delta); ``delta = 0`` asks for pure epsilon-DP."""

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        _check_eps_delta(self.epsilon, self.delta, "the release's")

    @property
    def pure(self) -> bool:
        """Whether the release is pure epsilon-DP (delta 0): Laplace noise, epsilon budget."""
        return self.delta == 0

    @property
    def calculus(self) -> Calculus:
        """The mechanisms' prices: pure DP for delta 0, else zCDP."""
        return PURE if self.pure else ZCDP

    @property
    def budget(self) -> float:
        """What the release's mechanisms may spend, in :attr:`calculus`'s currency: epsilon
        for a pure release, else the largest rho certifying (epsilon, delta)."""
        return float(self.epsilon) if self.pure else self.rho

    @property
    def rho(self) -> float:
        """The release's zCDP cost: ``epsilon**2 / 2`` for a pure release (epsilon-DP implies
        it), else the largest rho certifying (epsilon, delta)."""
        if self.pure:
            return float(self.epsilon) ** 2 / 2.0
        return rho_from_eps_delta(self.epsilon, self.delta)

    @property
    def ledger_rho(self) -> Decimal:
        """The charge under a zCDP cap: ``rho`` rounded up."""
        return to_ledger_rho(self.rho, round_up=True)

    def charge_for(self, cap: PrivacyCap) -> Decimal:
        """The ledger charge under ``cap``, in its currency, rounded up; a pure cap refuses an
        approximate release (:class:`MixedPrivacyError`)."""
        if cap.pure:
            if not self.pure:
                raise MixedPrivacyError(mixed_message(self, cap))
            return to_ledger_rho(self.epsilon, round_up=True)
        return self.ledger_rho

    def words(self) -> str:
        """``epsilon=1, delta=1e-06`` or ``epsilon=1, pure (delta=0)``."""
        if self.pure:
            return f"epsilon={self.epsilon:g}, pure (delta=0)"
        return f"epsilon={self.epsilon:g}, delta={self.delta:g}"


def mixed_message(cost: PrivacyCost, cap: PrivacyCap) -> str:
    """Why a pure cap refuses an approximate release, and what to do."""
    return (
        f"this release asks for (epsilon={cost.epsilon:g}, delta={cost.delta:g})-DP, but the "
        f"dataset's lifetime cap is pure epsilon-DP ({cap.words()}), which only pure releases "
        "can be charged to: no delta may be spent against it. Set privacy.delta: 0 to release "
        "under pure DP (Laplace noise), or ask the privacy officer for a cap with a delta"
    )


@dataclass(frozen=True)
class BudgetState:
    """A dataset's cap and what has been spent, both exact ledger amounts in the cap's
    currency (rho, or epsilon for a pure cap)."""

    dataset: str
    cap: PrivacyCap
    spent: Decimal
    unit: str | None = None
    """Whom the cap protects (``row`` or ``person:<key>``), once a charge has fixed it."""

    @property
    def cap_amount(self) -> Decimal:
        """The cap as a ledger amount."""
        return self.cap.ledger_amount

    @property
    def remaining(self) -> Decimal:
        """What is still available (never negative)."""
        return max(Decimal(0), self.cap_amount - self.spent)

    @property
    def spent_epsilon(self) -> float:
        """Cumulative epsilon at the cap's delta implied by everything spent."""
        return cumulative_epsilon(self.spent, self.cap)

    def can_charge(self, amount: Decimal) -> bool:
        """Whether a charge of ``amount`` keeps the total within the cap."""
        return self.spent + amount <= self.cap_amount

    def after(self, amount: Decimal) -> BudgetState:
        """The state once ``amount`` is charged; refuses to pass the cap."""
        if not self.can_charge(amount):
            raise BudgetExhaustedError(exhausted_message(self, amount))
        return BudgetState(self.dataset, self.cap, self.spent + amount, self.unit)

    def runs_left(self, amount: Decimal) -> int:
        """How many more charges of ``amount`` the remaining budget pays for."""
        return int(self.remaining // amount) if amount > 0 else 0


def cumulative_epsilon(spent: Decimal, cap: PrivacyCap) -> float:
    """What ``spent`` (a ledger amount under ``cap``) amounts to as one epsilon at the cap's
    delta: the amount itself under a pure cap, else the zCDP conversion."""
    return float(spent) if cap.pure else eps_from_rho(float(spent), cap.delta)


ZCDP_NOTE = (
    "Costs add up as shares of the cap (exactly, in zCDP's rho), not as epsilons: an "
    "epsilon only means something beside its delta, and composing releases in zCDP is "
    "tighter than adding their epsilons, so a release at epsilon 1 uses far less than a "
    "quarter of a cap of epsilon 4; a pure release (delta 0) at epsilon e costs e^2/2 in rho. "
    "Cumulative epsilons are quoted at the cap's delta."
)
"""One sentence for every screen that shows a zCDP budget (CLI, report, artifacts, README)."""

PURE_NOTE = (
    "This cap is pure epsilon-DP (delta 0): releases charged to it are pure too, and their "
    "epsilons add up exactly, so the shares of the cap are shares of its epsilon."
)
"""The same sentence for a pure cap."""


def budget_note(cap: PrivacyCap) -> str:
    """The sentence that explains how ``cap``'s costs add up."""
    return PURE_NOTE if cap.pure else ZCDP_NOTE


def cap_share(amount: Decimal, cap: PrivacyCap | Decimal) -> float:
    """``amount`` as a share of the cap (exact decimal division, then a float for display)."""
    total = cap if isinstance(cap, Decimal) else cap.ledger_amount
    return float(amount / total) if total > 0 else 1.0


def largest_epsilon(remaining: Decimal, delta: float, cap: PrivacyCap) -> float:
    """The largest epsilon at ``delta`` whose charge the remaining budget of ``cap`` still
    pays for (0.0 when nothing is left, or when a pure cap cannot take that delta): exactly
    what a plan at that epsilon accepts, and one step above is refused."""
    if remaining <= 0 or (cap.pure and delta > 0):
        return 0.0
    try:
        return split_cost(remaining, 1, delta, cap).epsilon
    except BudgetExhaustedError:
        return 0.0


def floor_digits(value: float, digits: int = 4) -> float:
    """``value`` cut (never rounded up) to ``digits`` significant digits: an epsilon shown as
    affordable stays affordable when typed back into a spec."""
    if not math.isfinite(value) or value <= 0:
        return 0.0
    exact = Decimal(repr(float(value)))
    step = Decimal(1).scaleb(exact.adjusted() - digits + 1)
    return float(exact.quantize(step, rounding=ROUND_FLOOR))


def percent(share: float) -> str:
    """A share as a percentage with one decimal, never rounding a partial use to 0 or 100."""
    text = f"{100 * share:.1f}%"
    if share > 0 and text == "0.0%":
        return "<0.1%"
    if share < 1 and text == "100.0%":
        return ">99.9%"
    return text


@dataclass(frozen=True)
class BudgetStatement:
    """A dataset's budget as every screen states it: the shares of the lifetime cap used and
    left (exact, from rho) and, in a spec's own terms, the largest epsilon at its delta that
    what is left still pays for."""

    dataset: str
    cap: PrivacyCap
    used: float
    left: float
    delta: float
    largest_epsilon: float

    @classmethod
    def of(cls, state: BudgetState, delta: float) -> BudgetStatement:
        """The statement of ``state`` for releases at ``delta``."""
        used = cap_share(state.spent, state.cap_amount)
        return cls(
            state.dataset,
            state.cap,
            used,
            max(0.0, 1.0 - used),
            delta,
            largest_epsilon(state.remaining, delta, state.cap),
        )

    def sentence(self) -> str:
        """``12.3% of raw.adult's lifetime cap (...) is used and 87.7% is left; ...``."""
        shown = floor_digits(self.largest_epsilon)
        at = "pure (delta=0)" if self.delta == 0 else f"at delta={self.delta:g}"
        if shown > 0:
            rest = f"what is left pays for one more release of at most epsilon={shown:.4g} {at}"
        elif self.cap.pure and self.delta > 0 and self.left > 0:
            rest = "a pure cap takes only pure releases (delta=0)"
        else:
            rest = "nothing more can be charged"
        return (
            f"{percent(self.used)} of {self.dataset}'s lifetime cap ({self.cap.words()}) is "
            f"used and {percent(self.left)} is left; {rest}"
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready fields (shares as fractions)."""
        return {
            "used_share": self.used,
            "left_share": self.left,
            "largest_epsilon": self.largest_epsilon,
            "at_delta": self.delta,
        }


def exhausted_message(state: BudgetState, rho: Decimal, delta: float | None = None) -> str:
    """The refusal text: what was asked, what remains, what to do (at the release's delta)."""
    statement = BudgetStatement.of(state, state.cap.delta if delta is None else delta)
    return (
        f"privacy budget exhausted for {state.dataset}: this release would use "
        f"{percent(cap_share(rho, state.cap_amount))} of the lifetime cap, but "
        f"{statement.sentence()}. Lower the release's epsilon, or publish a refresh from "
        "stored measurements, which costs nothing."
    )


def split_cost(remaining: Decimal, runs: int, delta: float, cap: PrivacyCap) -> PrivacyCost:
    """The largest per-run cost at ``delta`` whose charge under ``cap`` is at most
    ``remaining / runs``.

    For a horizon of ``runs`` releases: charging this at each run never passes the cap, and
    the last run of the horizon takes all that is left, up to the float round trip between
    epsilon and the ledger amount (about 1e-12 of the share, always left unspent, never
    overspent).
    """
    if runs < 1:
        raise BudgetError(f"a horizon needs at least one run to come, got {runs}")
    share = (remaining / runs).quantize(RHO_PLACES, rounding=ROUND_FLOOR)
    if share <= 0:
        raise BudgetExhaustedError(
            f"the remaining budget ({cap.currency}={remaining:.6g}) cannot be split over "
            f"{runs} more run(s); raise the cap or shorten the horizon"
        )
    if cap.pure and delta > 0:
        raise MixedPrivacyError(mixed_message(PrivacyCost(1.0, delta), cap))
    if cap.pure:
        epsilon = float(share)
    elif delta == 0:
        epsilon = math.sqrt(2.0 * float(share))
    else:
        epsilon = eps_from_rho(float(share), delta)
    cost = PrivacyCost(epsilon, delta)
    while cost.charge_for(cap) > share:  # float round trips may land a hair above the share
        epsilon = math.nextafter(epsilon, 0.0) * (1 - 1e-12)
        cost = PrivacyCost(epsilon, delta)
    return cost
