"""Privacy accounting in zero-concentrated DP (zCDP), with exact ledger arithmetic.

Every release is charged in rho. Composition is addition of rho, which the ledger does in
exact fixed-point decimals (18 places), so sums recompute exactly from the ledger rows.

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

from dpcore.errors import BudgetError, BudgetExhaustedError

RHO_PLACES = Decimal("1e-18")


def _check_eps_delta(epsilon: float, delta: float, what: str) -> None:
    """Refuse zero, negative, NaN or infinite epsilon, and delta outside (0, 1)."""
    if not isinstance(epsilon, int | float) or not math.isfinite(epsilon) or epsilon <= 0:
        raise BudgetError(f"{what} epsilon must be a finite number > 0, got {epsilon!r}")
    if not isinstance(delta, int | float) or not math.isfinite(delta) or not 0 < delta < 1:
        raise BudgetError(f"{what} delta must be a finite number in (0, 1), got {delta!r}")


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
    """``rho`` as an exact ledger decimal, rounded up for costs and down for caps."""
    return Decimal(repr(float(rho))).quantize(
        RHO_PLACES, rounding=ROUND_CEILING if round_up else ROUND_FLOOR
    )


@dataclass(frozen=True)
class PrivacyCost:
    """One release's declared (epsilon, delta) and the rho charged for it."""

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        _check_eps_delta(self.epsilon, self.delta, "the release's")

    @property
    def rho(self) -> float:
        """The zCDP budget the release's mechanisms may spend (noise is calibrated to it)."""
        return rho_from_eps_delta(self.epsilon, self.delta)

    @property
    def ledger_rho(self) -> Decimal:
        """The charge written to the ledger: ``rho`` rounded up."""
        return to_ledger_rho(self.rho, round_up=True)


@dataclass(frozen=True)
class PrivacyCap:
    """A dataset's lifetime cap as (epsilon, delta), and the rho it allows in total."""

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        _check_eps_delta(self.epsilon, self.delta, "the cap's")

    @property
    def ledger_rho(self) -> Decimal:
        """Total rho the dataset may ever spend: the cap's rho rounded down."""
        return to_ledger_rho(rho_from_eps_delta(self.epsilon, self.delta), round_up=False)


@dataclass(frozen=True)
class BudgetState:
    """A dataset's cap and what has been spent, both in exact ledger rho."""

    dataset: str
    cap: PrivacyCap
    spent_rho: Decimal
    unit: str | None = None
    """Whom the cap protects (``row`` or ``person:<key>``), once a charge has fixed it."""

    @property
    def cap_rho(self) -> Decimal:
        """The cap in ledger rho."""
        return self.cap.ledger_rho

    @property
    def remaining_rho(self) -> Decimal:
        """Rho still available (never negative)."""
        return max(Decimal(0), self.cap_rho - self.spent_rho)

    @property
    def spent_epsilon(self) -> float:
        """Cumulative epsilon at the cap's delta implied by everything spent."""
        return eps_from_rho(float(self.spent_rho), self.cap.delta)

    def can_charge(self, rho: Decimal) -> bool:
        """Whether a charge of ``rho`` keeps the total within the cap."""
        return self.spent_rho + rho <= self.cap_rho

    def after(self, rho: Decimal) -> BudgetState:
        """The state once ``rho`` is charged; refuses to pass the cap."""
        if not self.can_charge(rho):
            raise BudgetExhaustedError(exhausted_message(self, rho))
        return BudgetState(self.dataset, self.cap, self.spent_rho + rho, self.unit)

    def runs_left(self, rho: Decimal) -> int:
        """How many more charges of ``rho`` the remaining budget pays for."""
        return int(self.remaining_rho // rho) if rho > 0 else 0


ZCDP_NOTE = (
    "Costs add up as shares of the cap (exactly, in zCDP's rho), not as epsilons: an "
    "epsilon only means something beside its delta, and composing releases in zCDP is "
    "tighter than adding their epsilons, so a release at epsilon 1 uses far less than a "
    "quarter of a cap of epsilon 4. Cumulative epsilons are quoted at the cap's delta."
)
"""One sentence for every screen that shows a budget (CLI, report, artifacts, README)."""


def cap_share(rho: Decimal, cap: PrivacyCap | Decimal) -> float:
    """``rho`` as a share of the cap (exact decimal division, then a float for display)."""
    cap_rho = cap if isinstance(cap, Decimal) else cap.ledger_rho
    return float(rho / cap_rho) if cap_rho > 0 else 1.0


def largest_epsilon(remaining_rho: Decimal, delta: float) -> float:
    """The largest epsilon at ``delta`` whose charge the remaining budget still pays for
    (0.0 when nothing is left): exactly what a plan at that epsilon accepts, and one step
    above is refused."""
    if remaining_rho <= 0:
        return 0.0
    try:
        return split_cost(remaining_rho, 1, delta).epsilon
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
        used = cap_share(state.spent_rho, state.cap_rho)
        return cls(
            state.dataset,
            state.cap,
            used,
            max(0.0, 1.0 - used),
            delta,
            largest_epsilon(state.remaining_rho, delta),
        )

    def sentence(self) -> str:
        """``12.3% of raw.adult's lifetime cap (...) is used and 87.7% is left; ...``."""
        shown = floor_digits(self.largest_epsilon)
        rest = (
            f"what is left pays for one more release of at most epsilon={shown:.4g} at "
            f"delta={self.delta:g}"
            if shown > 0
            else "nothing more can be charged"
        )
        return (
            f"{percent(self.used)} of {self.dataset}'s lifetime cap (epsilon="
            f"{self.cap.epsilon:g}, delta={self.cap.delta:g}) is used and {percent(self.left)} "
            f"is left; {rest}"
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
        f"{percent(cap_share(rho, state.cap_rho))} of the lifetime cap, but "
        f"{statement.sentence()}. Lower the release's epsilon, or publish a refresh from "
        "stored measurements, which costs nothing."
    )


def split_cost(remaining_rho: Decimal, runs: int, delta: float) -> PrivacyCost:
    """The largest per-run cost whose ledger charge is at most ``remaining_rho / runs``.

    For a horizon of ``runs`` releases: charging this at each run never passes the cap, and
    the last run of the horizon takes all that is left, up to the float round trip between
    epsilon and rho (about 1e-12 of the share, always left unspent, never overspent).
    """
    if runs < 1:
        raise BudgetError(f"a horizon needs at least one run to come, got {runs}")
    share = (remaining_rho / runs).quantize(RHO_PLACES, rounding=ROUND_FLOOR)
    if share <= 0:
        raise BudgetExhaustedError(
            f"the remaining budget (rho={remaining_rho:.6g}) cannot be split over {runs} "
            "more run(s); raise the cap or shorten the horizon"
        )
    epsilon = eps_from_rho(float(share), delta)
    cost = PrivacyCost(epsilon, delta)
    while cost.ledger_rho > share:  # float round trips may land a hair above the share
        epsilon = math.nextafter(epsilon, 0.0) * (1 - 1e-12)
        cost = PrivacyCost(epsilon, delta)
    return cost
