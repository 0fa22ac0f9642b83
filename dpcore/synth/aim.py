"""AIM: adaptive, workload-aware selection of marginals (McKenna et al., VLDB 2022), extended
with grouped (coarse) candidates and a dedicated 1-way budget.

Accounting (zCDP, add/remove-one-row neighbours, every histogram of L2 sensitivity 1;
grouping codes keeps a histogram a histogram). With ``d`` columns, ``T`` nominal rounds
(default ``8 d``, fewer at small budgets: :meth:`AIMSynthesizer.default_rounds`), 1-way share
``beta`` (default: a schedule in rho only, see :meth:`AIMSynthesizer.oneway_fraction`) and
measurement share ``alpha`` (0.95; see :class:`AIMSynthesizer`):

* every 1-way marginal is measured first, column ``i`` with noise ``sigma_i ∝ size_i^(-1/3)``
  (larger domains get less noise), together costing exactly ``beta rho``;
* with ``R = (1 - beta) rho`` left, each round selects one candidate with the exact
  exponential mechanism at ``eps = sqrt(8 (1 - alpha) R / T)`` (cost ``eps^2 / 8``; scores have
  sensitivity ``max_r w_r``) and measures it with ``sigma = sqrt(T / (2 alpha R))`` (cost
  ``1 / (2 sigma^2)``);
* when the noise is negligible against the counts (noisy total ``N >= 2 b0 sigma``,
  ``b0`` = ``batch_ratio``; see :meth:`AIMSynthesizer.batch_size`), a round selects up to
  ``max_batch`` (3) candidates, one exponential-mechanism draw each at that ``eps`` with
  the scores of the model fitted before the round (each draw among the eligible cliques
  not yet drawn in the round, a public choice), and measures each at that ``sigma``,
  before one model refit: each pick costs exactly what a round costs, and a batch leaves at
  least one round's cost unspent (it has at least one pick), so the schedule below, and
  the total, are unchanged; annealing reads a batch's picks in order, as rounds;
* a share ``gamma`` of ``R`` (``refine_share``, 0.15) is held back for the refinement round
  below; the ordinary rounds spend the other ``(1 - gamma) R``;
* when ``anneal_patience`` (2) measurements in a row barely changed the model (each one's
  change in L1 below its expected noise ``sqrt(2/pi) sigma n_r``), sigma halves and eps
  doubles (budget annealing);
* when less than two rounds' cost of ``(1 - gamma) R`` remains, or half the time budget is
  spent, the final ordinary round uses all of it that remains, split ``alpha`` / ``1 - alpha``
  between measurement and selection;
* the refinement round then spends ``gamma R``, split the same way, selecting among the
  full-resolution versions of the cliques measured so far only grouped (all eligible
  candidates if there are none): which candidates were selected is public (the selections
  are DP outputs), so this narrower candidate set costs nothing more, and the measurement is
  an ordinary histogram (L2 sensitivity 1).

The spent total therefore equals ``rho`` (up to floating-point rounding of the sum).

Under pure DP (``calculus=PURE``: the budget is epsilon, measurements draw discrete Laplace
noise of scale ``t`` costing ``1 / t``, a selection at ``eps`` costs ``eps``) every split above
is the same share of epsilon and every scale comes from :class:`dpcore.calculus.Calculus`;
the 1-way scales go as ``size_i^(-1/2)`` (the optimum of the same objective under a cost
``sum 1 / t_i``), annealing halves the scale (doubling that round's cost), and the expected
noise term uses the Laplace's mean absolute value ``t``. Composition is addition in both.

Candidates are the workload's downward closure; a candidate is eligible only if the model
with it stays within ``max_model_cells * rho_used / rho`` junction-tree cells. Every eligible
clique with a column of more than ``2 k`` codes (``k``: ``coarse_groups``, fewer at small
budgets, see :meth:`AIMSynthesizer.group_count`) is also offered in grouped versions, at
``k`` groups and, with ``coarse_levels=2`` (an experiment, off by default), also at
``k // 2`` groups (:func:`group_levels`): such columns' codes are cut into that many
contiguous groups of about equal mass under the current model's 1-way estimate (public
post-processing; a heavy code gets a group of its own), so the measurement has far fewer
noisy cells (with two levels the selection chooses the resolution whose detail pays for
its noise). With ``coarse_order="similar"`` (or ``"both"``: an experiment, off by default;
issue 17) the codes are instead (or also) grouped by their estimated conditional of the
clique's other columns (:func:`~dpcore.synth.coarse.similarity_groups`): still a function
of the current model only, so of earlier DP outputs (post-processing, public), and a
grouped histogram is still a histogram of L2 sensitivity 1, so neither the scores'
sensitivity nor any measurement's cost changes. How many candidates there are never
changes a selection's price. A candidate's score is
``w_r (||G_r(M_r(D) - N M_r(p))||_1 - sqrt(2/pi) sigma n_r)``: ``G_r`` the grouping (identity
at full resolution), ``w_r`` the workload coverage of ``r``, ``n_r`` its number of (grouped)
cells and ``N`` the estimated total.

Every fit (between rounds and the final one) reads the 1-way tables of columns with at least
20 codes denoised by kernel smoothing whose width SURE chooses from the noisy table alone
(:mod:`dpcore.synth.smoothing`; ``smooth_oneway``): post-processing, no cost, and the
measurements returned (and published) stay raw.

Issue 17's "two groups" of runs, and the refinement round: a pair whose fine structure
matters but whose full-resolution table is too noisy for an ordinary round is measured only
grouped, and without the refinement round got its fine structure only if the final round
(whatever budget happened to remain) picked its full-resolution version. On GSS at epsilon
0.3, occupation x prestige (12 x 66 codes; prestige is nearly a function of occupation) then
had pair TVD 0.18 when measured in full and 0.42-0.46 otherwise (3 of 5 seeded runs). The
refinement round is a final measurement with a known, sizeable budget that ranks only such
pairs' full tables; ``gamma`` 0.1 was too little there (it picked 34-cell income x gender,
not the 792-cell pair), 0.15 measured the pair in full in 5 of 5 runs. Annealing after two
stalls rather than one keeps a single low-scoring pick (the selection is noisy among close
scores) from quadrupling every later round's cost: on Adult at epsilon 1 one seed in 10
annealed twice by round 23 and ended with 26 measurements instead of 30-37 (model's 2-way
TVD 0.039 against 0.034-0.037 for the others; 0.0356 with both changes). It costs time:
about 20% more rounds (CPU time on Adult at epsilon 1: 1.24 times main's).
Figures (``bench/aim_groups.py``, seeded, model's exact 2-way TVD): see the README.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from dpcore.calculus import ZCDP, Calculus
from dpcore.constraints import StructuralZeros
from dpcore.domain import Clique, Domain
from dpcore.marginals import CountOracle, Measurement, estimate_total
from dpcore.noise import RandomSource
from dpcore.synth.base import PlannedMeasurement
from dpcore.synth.coarse import (
    CoarseMeasurement,
    Groups,
    cell_index,
    coarse_cells,
    coarsen,
    quantile_groups,
    similarity_groups,
)
from dpcore.synth.inference import FloatArray
from dpcore.synth.junction_tree import build_junction_tree, junction_tree_cells
from dpcore.synth.model import GraphicalModel, fit_model
from dpcore.synth.selection import exponential_mechanism
from dpcore.synth.smoothing import smoothed_oneways
from dpcore.workload import make_workload

COARSE_ORDERS = ("code", "similar", "both")
"""How grouped candidates group a large column's codes (``AIMSynthesizer.coarse_order``)."""


@dataclass(frozen=True)
class AIMSynthesizer:
    """AIM with a fast junction-tree estimator; see the module docstring for the accounting.

    ``workload``: cliques of column names (default: all 2-way marginals);
    ``max_model_cells``: bound on the model's total junction-tree cells (memory: 8 bytes each,
    a few copies during fitting);
    ``time_budget_s``: soft wall-time budget: after half of it ``measure`` spends the rest of
    rho in one final round, and ``fit`` stops iterating at it;
    ``rounds`` (``T``; default :meth:`default_rounds`), ``measure_share`` (``alpha``),
    ``oneway_share`` (``beta``), ``coarse_groups`` (at most ``k`` groups, 0 disables grouped
    candidates): see the module docstring; ``round_noise_cap``: see :meth:`default_rounds`;
    ``coarse_noise_ratio``: see :meth:`group_count`; ``coarse_levels``: 1 (grouped
    candidates at ``k`` groups) or 2 (also at ``k // 2``, see :func:`group_levels`);
    ``coarse_order``: "code" (contiguous groups), "similar" or "both" (see
    :meth:`_groupings`; not the default: no gain in seeded runs, see the README, issue 17);
    ``measure_share`` 0.95 rather than AIM's 0.9: on Adult (model's exact 2-way TVD, SURE
    smoothing on, configurations alternated) the median of 8 runs at epsilon 1 was 0.0349
    against 0.0360 and the worst 0.0357 against 0.0375; at 0.3 the median of 6 was 0.0566
    against 0.0587 (worst 0.0621 against 0.0602); at 3 the medians of 5 were 0.0259 and 0.0258.
    The selection then runs at ``sqrt(0.05 / 0.1)`` of the epsilon, a less greedy choice
    among candidates whose scores are within a few noise levels of each other. The sampled
    10-run figures are in the README.
    ``refine_share`` (``gamma``) and ``anneal_patience``: see the module docstring (0 and 1
    give the previous AIM); ``batch_ratio`` and ``max_batch``: see :meth:`batch_size` (0 or 1
    give one pick per round);
    ``round_iterations`` / ``fit_iterations``: at most that many junction-tree calibrations
    per refit between rounds (warm-started from the previous round's potentials and step
    size: 80 of them fit as closely as 100 from a fresh step did) and for the final fit;
    ``round_stall`` / ``fit_stall``: those fits also stop once their last 10 calibrations
    lowered the loss by less than that fraction of its scale ``cells / 2`` (``stall`` of
    :func:`~dpcore.synth.model.fit_model`). On Adult (``bench/refit_quality.py``, seeded runs
    paired with both rules off; model's exact 2-way TVD, median / worst): at epsilon 1
    0.0343 / 0.0358 against 0.0344 / 0.0355 (20 pairs, mean difference +0.00006, standard
    error 0.00017) with 2,102 calibrations in ``measure`` against 3,294 (CPU 3.97 s against
    5.76 s); at 0.3 0.0571 / 0.0616 against 0.0573 / 0.0616 (6 pairs, CPU 2.30 s against 4.18
    s); at 3 0.0248 / 0.0265 against 0.0246 / 0.0251 (16 pairs, +0.00024, standard error
    0.00011: a small cost where precise measurements make the loss improve faster in these
    units, so the rule saves less: CPU 6.17 s against 7.64 s). Before the refinement round
    (``refine_share`` 0, ``anneal_patience`` 1) ``round_stall`` 0.01 changed it by +0.00007
    (standard error 0.00012, 55 pairs at epsilon 1); 0.015 and 0.02 leaned worse (+0.0002 in
    16 pairs against 0.01), 0.03 was worse (median 0.0362 against 0.0351 of 20). Fewer
    calibrations at a fixed count did worse: 40 or 60 per refit gave medians of 0.0376 (20
    runs) and 0.0367 (5), 25 gave 0.0356 (20): in a run examined, an under-converged refit
    moved a large new clique's estimate less and the annealing test halved sigma rounds
    earlier, leaving fewer rounds. Stopping a refit once the change passed 1.5 times that
    test's threshold was worse too (median 0.0369 of 9), as was starting the new clique's
    potential at a proportional-fitting step (0.0356 to 0.0366 of 20 against 0.0353).
    ``fit_stall`` 0.002 stopped the final fit after 261-347 of its 400 calibrations at
    epsilon 1 (median 320 in 10 runs, CPU 1.46 s against 1.85 s) with the same exact 2-way
    TVD (the same measurements refitted: mean difference -0.0001, sd 0.0002; 0.005 stopped
    at 242 with a worse worst run, 0.0373 against 0.0370); at epsilon 3 it never fires.
    ``batch_iterations``: the calibrations per fit in ``measure`` when its rounds are
    batched (:meth:`refit_iterations`); ``fit_ramp``: the final fit ramps its step up when
    they were (:meth:`fit`); ``zeros``: declared
    constraints every fit respects (:mod:`dpcore.constraints`); ``smooth_oneway``: fit to
    SURE-smoothed copies of large 1-way tables (see the module docstring).
    """

    workload: Sequence[Sequence[str]] | None = None
    max_model_cells: int = 200_000
    time_budget_s: float | None = None
    rounds: int | None = None
    measure_share: float = 0.95
    oneway_share: float | None = None
    round_iterations: int = 80
    round_stall: float = 0.01
    fit_iterations: int = 400
    fit_stall: float = 0.002
    coarse_groups: int = 12
    round_noise_cap: float = 0.004
    coarse_noise_ratio: float = 40.0
    coarse_levels: int = 1
    coarse_order: Literal["code", "similar", "both"] = "code"
    refine_share: float = 0.15
    anneal_patience: int = 2
    batch_ratio: float = 25_000.0
    max_batch: int = 3
    batch_iterations: int = 40
    fit_ramp: bool = True
    smooth_oneway: bool = True
    calculus: Calculus = ZCDP
    zeros: tuple[StructuralZeros, ...] = ()
    name: str = field(default="aim", init=False)

    def __post_init__(self) -> None:
        """Refuse an unknown ``coarse_order`` when the synthesizer is built, not mid-measure."""
        if self.coarse_order not in COARSE_ORDERS:
            raise ValueError(
                f"unknown coarse_order {self.coarse_order!r}: use one of {', '.join(COARSE_ORDERS)}"
            )

    def default_rounds(self, domain: Domain, rho: float, total: float) -> int:
        """``rounds`` if set, else ``T = 8 d`` capped so that a round's initial noise
        ``sigma = sqrt(T / (2 alpha rho))`` (``rho`` here: the budget left after the 1-way
        tables) is at most ``round_noise_cap`` times the estimated row count ``total`` (public:
        from the noisy 1-way tables); but at least ``d - 1`` rounds (enough to connect every
        column, as MST's spanning tree does) where that keeps the noise within twice the cap,
        and at least one round.

        At small budgets many rounds at a noise of several percent of a marginal's cells each
        give a model built from many imprecise measurements; fewer, more precise rounds keep
        the strong relationships (annealing still halves the noise when a measurement barely
        moves the model). On Adult the cap binds at epsilon 0.3 (about ``3 d`` rounds), not at
        epsilon >= 1. On a smaller table it can bind hard: on the 17,818 training rows of
        ``bench/utility.py``'s CPS table at epsilon 0.3 it left 8 rounds for 12 columns, and
        the floor's 11 rounds lowered the 2-way TVD (median of 3 runs 0.056 against 0.060).
        The cap 0.004 was re-checked on all three tables of ``bench/utility.py`` (model's
        2-way TVD, medians): 0.006 gave 0.0576 against 0.0586 on Adult at epsilon 0.3 (5 runs
        each) and 0.0484 against 0.0507 on CPS at 0.3 (3 runs), but nothing on GSS at 0.3
        (0.0699 against 0.0673, then 0.0669 against 0.0730, 5 and 3 runs) or CPS at 1 (0.0290
        against 0.0276, then 0.0272 against 0.0283, 4 runs each); 0.005 was no better. So it
        stays. Every quantity here is public, so the count costs nothing.
        """
        if self.rounds is not None:
            return self.rounds
        cheapest = self.calculus.measurement_cost(self.round_noise_cap * max(total, 1.0))
        limit = self.measure_share * rho / cheapest
        # Twice the noise is a quarter (pure DP: half) of the cost per round.
        widest = (
            self.measure_share
            * rho
            / self.calculus.measurement_cost(2.0 * self.round_noise_cap * max(total, 1.0))
        )
        connected = min(len(domain) - 1, math.floor(widest))
        return max(1, connected, min(8 * len(domain), math.floor(limit)))

    def group_count(self, sigma: float, total: float) -> int:
        """Groups ``k`` per grouped column: ``coarse_groups``, capped so that a group holds
        about ``total / k >= coarse_noise_ratio * sigma`` rows (``sigma``: the first round's
        noise, ``total``: the estimated row count, both public), and at least 2; 0 if
        ``coarse_groups`` is 0.

        A grouped 2-way table spreads a group's rows over the other column's codes, so at
        small budgets fewer, heavier groups keep each cell's count above the noise. On Adult
        this gives 6 groups at epsilon 0.3 and 12 at epsilon >= 1; on the CPS table of
        ``bench/utility.py`` (17,818 training rows) 6 at epsilon 1. With ``coarse_levels=2``
        the ratio bounds the finer of the two offered resolutions, so 20 there keeps the
        coarser one at 40. Re-checked at epsilon 0.3 (model's 2-way TVD, medians of 3 runs):
        CPS 0.0488 at 25, 0.0507 at 40, 0.0528 at 60; GSS 0.0715, 0.0730 (0.0673 in 5 more
        runs), 0.0690: no ratio wins on both, so 40 stays.
        """
        if self.coarse_groups <= 0:
            return 0
        heaviest = math.floor(total / (self.coarse_noise_ratio * sigma))
        return max(2, min(self.coarse_groups, heaviest))

    def batch_size(self, sigma: float, total: float) -> int:
        """Candidates selected (and measured) per round before the model is refitted:
        ``floor(total / (batch_ratio * sigma))`` within ``[1, max_batch]``; 1 if
        ``batch_ratio`` is 0. ``sigma`` (the round's noise) and ``total`` (the noisy row count)
        are public.

        Issue 17: at 10**7 rows a round's noise is about ``1e-5`` of the counts, nothing
        stalls, and the refit after every pick (not the measuring) took most of AIM's time.
        A refit between picks matters less when the picks are exact. The first round's
        ``total / sigma`` is at most 2,500 on the three tables of ``bench/utility.py`` at
        epsilon <= 3 (7,500 at 10), about 14,000 on ``bench/scale.py``'s table at 10**6
        rows and 140,000 at 10**7 (epsilon 1), so batches start above 50,000 (annealing
        doubles the ratio; nothing on the small tables comes near). Measured at 10**7 rows
        from exact counts (seeds 1-3, model's exact 2-way TVD mean / max, measure's wall
        time on a shared machine): one pick per round 0.0031-0.0040 / 0.024-0.025 in
        7.6-10.9 s; two 0.0035-0.0038 / 0.023-0.025 in 5.6-6.4 s; three 0.0033-0.0036 /
        0.024 in 4.3-6.0 s; four 0.0049-0.0053 / 0.052-0.054 (more picks and no annealing:
        a larger, less converged model), so at most three.
        """
        if self.batch_ratio <= 0:
            return 1
        return max(1, min(self.max_batch, math.floor(total / (self.batch_ratio * sigma))))

    def refit_iterations(self, sigma: float, total: float) -> int:
        """Calibrations allowed to a fit inside :meth:`measure` (the first one and the refits):
        ``batch_iterations`` when the round's noise is negligible (:meth:`batch_size` above 1,
        from public ``sigma`` and ``total``), else ``round_iterations``.

        Issue 17: at 10**7 rows the refits were most of the rounds' time and none stalled
        (the loss still fell a few percent per 10 calibrations after 80, hundreds of times
        its noise scale: the selection re-picked age pairs the refit had not yet fitted, 73
        picks for 32 distinct pairs). With 40 (the first fit included, so the step it
        hands on is the same rule's) the same 32 pairs were measured in every seed and a
        3000-calibration fit of the measurements was as good (seed 1: 2-way TVD mean 0.00176
        against 0.00175, max 0.0247 both), in about 55% of the calibrations
        (``bench/scale_rounds.py``, ``scale_rounds-wt62-iterations-only*.json``, 10 seeds:
        measure's median 3.3 s against 5.6-6.4 s; with a plain final fit the model's TVD
        mean was 0.0035 against 0.0033 and max 0.0236-0.0242 against 0.0242; the final fit's
        ``ramp`` recovers the mean, see :meth:`fit`). Which pairs end in the model is a knife
        edge there, though: the pairs that age is independent of (city size, region,
        vehicle) get a spurious dependence through the measured pairs and become ineligible
        under the cell cap as the model grows; whether one is picked while still eligible
        decides the worst pair (0.024 or 0.05). 30, 50 and 60 calibrations per refit, or 40
        after the first fit's 80 (the experiment the README reports), or four picks per
        round all landed at 0.05, as did main at 5 * 10**6 rows (and 40 there). The rule
        does not touch tables whose rounds are not batched (Adult, CPS, GSS).
        """
        if self.batch_size(sigma, total) > 1:
            return self.batch_iterations
        return self.round_iterations

    def _initial_scales(self, rounds: int, rho: float) -> tuple[float, float]:
        sigma = self.calculus.scale_for(self.measure_share * rho / rounds)
        epsilon = self.calculus.selection_epsilon((1.0 - self.measure_share) * rho / rounds)
        return sigma, epsilon

    def _schedule_rho(self, budget: float, domain: Domain) -> float:
        """The zCDP budget the 1-way schedule reads: ``budget`` itself in zCDP; under pure DP
        the rho whose rounds (``8 d`` of them) get the same noise scale as this epsilon's,
        ``epsilon**2 / (16 d)`` (a heuristic of the schedule, not of the accounting)."""
        if self.calculus.name == "zcdp":
            return budget
        return budget**2 / (16.0 * len(domain))

    def oneway_fraction(self, rho: float, domain: Domain | None = None) -> float:
        """Share of rho for the 1-way marginals: ``oneway_share`` if set, else the schedule
        ``0.2 * (0.015 / rho) ** (1/4)`` clipped to [0.1, 0.4] (more for smaller budgets,
        where the 1-way tables of large columns dominate the error; depends on rho only).
        On Adult: 0.36 at epsilon 0.3, 0.2 at 1, 0.12 at 3 (measured: at epsilon 0.3 a share
        of 0.36 lowers the 2-way error by about 0.002 against 0.29, at 3 the share 0.12 is as
        good as 0.14)."""
        if self.oneway_share is not None:
            return self.oneway_share
        if domain is not None:
            rho = self._schedule_rho(rho, domain)
        return min(0.4, max(0.1, 0.2 * (0.015 / rho) ** 0.25))

    def _oneway_sigmas(self, domain: Domain, rho: float) -> list[float]:
        """Noise of each 1-way measurement: ``sigma_i ∝ size_i ** (-1/3)`` (pure DP:
        ``size_i ** (-1/2)``), costing ``oneway_fraction(rho) * rho`` in total (this split
        minimises the summed expected L1 error ``∝ sum_i size_i sigma_i`` of the 1-way tables
        for that cost)."""
        spend = self.oneway_fraction(rho, domain) * rho
        if self.calculus.name == "zcdp":
            weights = [size ** (2.0 / 3.0) for size in domain.sizes]
            scale = math.sqrt(sum(weights) / (2.0 * spend))
            return [scale * size ** (-1.0 / 3.0) for size in domain.sizes]
        scale = sum(math.sqrt(size) for size in domain.sizes) / spend
        return [scale / math.sqrt(size) for size in domain.sizes]

    def plan(self, domain: Domain, rho: float) -> list[PlannedMeasurement]:
        """The 1-way measurements made first; later rounds are chosen adaptively."""
        sigmas = self._oneway_sigmas(domain, rho)
        return [
            PlannedMeasurement((n,), sigma, "1-way; adaptive rounds follow")
            for n, sigma in zip(domain.names, sigmas, strict=True)
        ]

    def max_sigma(self, domain: Domain, rho: float) -> float:
        """The largest noise scale :meth:`measure` can use at ``rho``, known without rows.

        The 1-way scales are planned. A round's initial scale ``sqrt(T / (2 alpha r))``
        (``r = rho - used``, ``used`` the 1-way share) is largest at the most rounds ``T``;
        annealing only lowers it, and a non-final round runs only while at least twice its
        cost remains, so the final round's ``r`` is at least one first-round cost and its
        scale at most the first round's over ``sqrt(alpha)``. The refinement round's scale is
        ``scale_for(alpha * refine_share * r)`` with ``r`` the budget left after the 1-way tables.
        """
        oneway = max(self._oneway_sigmas(domain, rho))
        rounds = self.rounds if self.rounds is not None else 8 * len(domain)
        left = rho * (1.0 - self.oneway_fraction(rho, domain))
        first_cost = self.measure_share * left / max(1, rounds)
        largest = max(oneway, self.calculus.scale_for(self.measure_share * first_cost))
        if self.refine_share > 0:
            refine = self.calculus.scale_for(self.measure_share * self.refine_share * left)
            largest = max(largest, refine)
        return largest

    def candidates(self, domain: Domain) -> list[Clique]:
        """The workload's downward closure plus every 1-way marginal."""
        cliques = list(make_workload(domain, self.workload).closure())
        return cliques + [(n,) for n in domain.names if (n,) not in cliques]

    def measure(
        self, domain: Domain, rho: float, oracle: CountOracle, source: RandomSource
    ) -> list[Measurement]:
        """Run AIM's rounds, spending exactly ``rho``; returns every measurement made."""
        if not (math.isfinite(rho) and rho > 0):
            raise ValueError(f"rho must be finite and > 0, got {rho!r}")
        workload = make_workload(domain, self.workload)
        cliques = self.candidates(domain)
        exact = dict(zip(cliques, oracle.counts(cliques), strict=True))
        # The soft time budget starts after counting: how long the scan of the source took
        # (which grows with its row count) must not decide how many rounds are run.
        started = time.perf_counter()
        weights = {c: max(workload.coverage(c), 0.0) for c in cliques}
        sensitivity = max(weights.values())
        oneway = [(n,) for n in domain.names]
        sigmas = self._oneway_sigmas(domain, rho)
        price = self.calculus
        measurements: list[Measurement] = [
            _noisy(c, exact[c], sigma, source, price)
            for c, sigma in zip(oneway, sigmas, strict=True)
        ]
        used = sum(price.measurement_cost(sigma) for sigma in sigmas)
        if used > rho * (1 + 1e-12):
            raise ValueError("rho is too small for the 1-way measurements")
        first = self._for_fit(measurements)
        total = estimate_total(first)  # the first model's total, known before fitting it
        rounds = self.default_rounds(domain, rho - used, total)
        sigma, epsilon = self._initial_scales(rounds, rho - used)
        model, fitted = fit_model(
            domain, first, iterations=self.refit_iterations(sigma, total), zeros=self.zeros
        )
        groups = self.group_count(sigma, model.total)
        budget = self.time_budget_s
        reserve = self.refine_share * (rho - used)
        tree_sizes: dict[frozenset[tuple[str, str]], int] = {}
        last = refining = False
        stalls = 0
        while True:
            remaining = rho - used - (0.0 if refining else reserve)
            late = budget is not None and time.perf_counter() - started > 0.5 * budget
            round_cost = price.measurement_cost(sigma) + price.selection_cost(epsilon)
            last = refining or late or remaining < 2.0 * round_cost
            batch = 1
            if last:
                sigma = price.scale_for(self.measure_share * remaining)
                epsilon = price.selection_epsilon((1.0 - self.measure_share) * remaining)
            else:  # at least one round's cost is left after the batch
                batch = min(self.batch_size(sigma, model.total), int(remaining // round_cost) - 1)
            estimates = _Estimates(model)
            noise = price.expected_abs(sigma)  # the batch's, should annealing follow a pick
            scored: dict[tuple[Clique, Groups], float] = {}
            picks: list[tuple[_Option, FloatArray]] = []
            for _ in range(max(1, batch)):
                cost = price.measurement_cost(sigma) + price.selection_cost(epsilon)
                limit = self.max_model_cells * (used + cost) / rho
                fixed = [m.clique for m in measurements] + [z.clique for z in self.zeros]
                eligible = _eligible(domain, fixed, cliques, limit, tree_sizes)
                picked = {o.clique for o, _ in picks}
                options = [
                    o
                    for o in self._variants(domain, estimates, eligible, groups)
                    if o.clique not in picked
                ]
                if refining:
                    options = _refinements(options, measurements)
                if not options:  # every eligible clique is in this batch already
                    break
                used += cost
                scores = [
                    scored.setdefault(
                        (o.clique, o.groups),
                        weights[o.clique] * (o.error(estimates, exact[o.clique]) - noise * o.cells),
                    )
                    for o in options
                ]
                chosen = options[exponential_mechanism(scores, epsilon, sensitivity, source)]
                picks.append((chosen, chosen.estimate(estimates)))
                measured = chosen.measure(exact[chosen.clique], sigma, source, price)
                measurements.append(replace(measured, selection_epsilon=epsilon))
            if refining or (last and reserve <= 0):
                break
            refining = last
            model, fitted = fit_model(
                domain,
                self._for_fit(measurements),
                iterations=self.refit_iterations(sigma, model.total),
                warm_start=model.potentials,
                step=fitted.step,  # warm start of the solver's step size too
                zeros=self.zeros,
                stall=self.round_stall,
            )
            after = _Estimates(model)
            for chosen, before in picks:  # annealing reads each pick as if it were a round
                change = float(np.abs(chosen.estimate(after) - before).sum())
                stalls = stalls + 1 if change <= noise * chosen.cells else 0
                if stalls >= self.anneal_patience:
                    sigma /= 2.0
                    epsilon *= 2.0
                    stalls = 0
        return measurements

    def _variants(
        self, domain: Domain, estimates: _Estimates, eligible: Sequence[Clique], k: int
    ) -> list[_Option]:
        """Each eligible clique at full resolution, plus grouped versions at each of
        :func:`group_levels` ``(k)`` groups for which it has a column of more than twice that
        many codes (groups: per ``coarse_order``, see :meth:`_groupings`).

        Several resolutions let the selection trade detail against noise per clique: a pair
        of two large columns (age by hours) at ``k`` groups each has ``k**2`` noisy cells,
        whose expected noise often outweighs what the model gets wrong on it, so it is never
        chosen and stays at its independent estimate; at ``k / 2`` groups it costs a quarter
        of the noise and is measured. Offering more candidates costs no privacy: the
        exponential mechanism's price does not depend on how many there are."""
        contiguous: dict[tuple[str, int], tuple[int, ...]] = {}
        options = []
        for clique in eligible:
            options.append(_Option(domain, clique, ()))
            if len(clique) < 2:
                continue
            for level in group_levels(k, self.coarse_levels):
                large = [c for c in clique if domain.size(c) > 2 * level]
                if large:
                    for groups in self._groupings(clique, large, level, estimates, contiguous):
                        options.append(_Option(domain, clique, groups))
        return options

    def _groupings(
        self,
        clique: Clique,
        large: Sequence[str],
        level: int,
        estimates: _Estimates,
        contiguous: dict[tuple[str, int], tuple[int, ...]],
    ) -> list[Groups]:
        """The group maps a clique is offered at ``level`` groups per large column.

        ``coarse_order`` "code": contiguous groups of about equal mass under the model's
        1-way estimate (:func:`~dpcore.synth.coarse.quantile_groups`); "similar": codes
        ordered by their estimated conditional of the clique's other columns, then cut
        into groups of about equal mass
        (:func:`~dpcore.synth.coarse.similarity_groups`; contiguous where the model's
        conditionals barely differ); "both": each, as separate candidates (a duplicate
        offered once). Neither "similar" nor "both" lowered the model's 2-way TVD in seeded
        runs (GSS, CPS at epsilon 0.3 and 1, Adult at 1; README, issue 17), and they cost
        CPU (Adult at 1: 6.7 s against 4.6 s), so "code" stays the default. Every map is a
        function of the current model only (post-processing of noisy measurements, public),
        and a grouped histogram is still a histogram (L2 sensitivity 1): no grouping changes
        the accounting."""
        maps: list[Groups] = []
        if self.coarse_order in ("code", "both"):
            for c in large:
                if (c, level) not in contiguous:
                    contiguous[(c, level)] = quantile_groups(estimates.model.marginal((c,)), level)
            maps.append(tuple(contiguous[(c, level)] if c in large else () for c in clique))
        if self.coarse_order in ("similar", "both"):
            table = estimates.counts(clique).reshape(estimates.model.domain.shape(clique))
            similar = tuple(
                similarity_groups(table, i, level) if c in large else ()
                for i, c in enumerate(clique)
            )
            if similar not in maps:
                maps.append(similar)
        return maps

    def _for_fit(self, measurements: Sequence[Measurement]) -> list[Measurement]:
        """What the estimator is fitted to: the measurements, with the 1-way tables of large
        columns denoised when ``smooth_oneway`` (:mod:`dpcore.synth.smoothing`; post-processing
        of noisy values only, the returned measurements stay raw)."""
        if not self.smooth_oneway:
            return list(measurements)
        return smoothed_oneways(measurements)

    def fit(self, domain: Domain, measurements: Sequence[Measurement]) -> GraphicalModel:
        """Estimate the junction-tree model from the stored measurements.

        When the rounds ran batched (:meth:`_negligible_noise`) and ``fit_ramp`` is on, the
        fit doubles its step until the first backtrack (``ramp`` of
        :func:`~dpcore.synth.model.fit_model`): with noise negligible against the counts the
        cold step ``1 / sum(N^2 / sigma^2)`` is about a hundred times below the one the fit
        works at (seed 1 at 10**7 rows: 3.5e-13 against 2-7e-11), and growing it by 10% per
        step took about 100 of the 400 calibrations to get there (the ramp about 25; loss
        after 400: 5.6e5 against 1.4e5). At 10**7 rows (``bench/scale_rounds.py``, seeds 1-3,
        same measurements refitted) the model's exact 2-way TVD mean fell from
        0.0032-0.0036 to 0.0026-0.0028 in the same 400 calibrations; the worst pair, an
        unmeasured one whose error is structural (0.0247 after 3000 calibrations), moved
        towards that value (0.0237-0.0244 to 0.0238-0.0246). At 5 * 10**6 rows, whose model
        lacks a pair age is independent of, the ramp lowered the TVD mean (0.0051 against
        0.0056) but raised that worst pair (0.056 against 0.049-0.051): a closer fit of a
        model without the pair moves it towards its converged, wrong value. Post-processing
        only; tables whose rounds are not batched fit as before.
        """
        data = self._for_fit(measurements)
        model, _ = fit_model(
            domain,
            data,
            iterations=self.fit_iterations,
            time_limit_s=self.time_budget_s,
            zeros=self.zeros,
            stall=self.fit_stall,
            ramp=self.fit_ramp and self._negligible_noise(data),
        )
        return model

    def _negligible_noise(self, measurements: Sequence[Measurement]) -> bool:
        """Whether the rounds ran batched: :meth:`batch_size` above 1 at the largest noise of
        the measurements over several columns (the first round's, or the final round's,
        which is at most ``1 / sqrt(alpha)`` times larger) and the estimated total. Public
        quantities only, so :meth:`fit` can tell from the measurements alone."""
        rounds = [m.sigma for m in measurements if len(m.clique) > 1]
        if not rounds:
            return False
        return self.batch_size(max(rounds), estimate_total(measurements)) > 1


def _noisy(
    clique: Clique,
    counts: npt.NDArray[np.int64],
    sigma: float,
    source: RandomSource,
    price: Calculus,
) -> Measurement:
    noise = price.draw(sigma, counts.size, source)
    return Measurement(clique, counts + noise, sigma, source.private, noise=price.noise)


def group_levels(k: int, levels: int = 2) -> tuple[int, ...]:
    """The group counts grouped candidates are offered at: ``k``, then halved ``levels - 1``
    times (each at least 2, no repeats); none when ``k`` is 0."""
    if k <= 0:
        return ()
    return tuple(dict.fromkeys(max(2, k >> i) for i in range(max(1, levels))))


class _Estimates:
    """The model's estimated counts per clique, each computed once per round."""

    def __init__(self, model: GraphicalModel) -> None:
        self.model = model
        self._cache: dict[Clique, FloatArray] = {}

    def counts(self, clique: Clique) -> FloatArray:
        if clique not in self._cache:
            self._cache[clique] = self.model.marginal(clique) * self.model.total
        return self._cache[clique]


class _Option:
    """A candidate measurement: a clique, possibly with grouped codes."""

    def __init__(self, domain: Domain, clique: Clique, groups: Groups) -> None:
        self.clique = clique
        self.groups = groups
        self.cells = coarse_cells(domain, clique, groups)
        self.index = cell_index(domain, clique, groups) if groups else None

    def reduce(self, table: npt.NDArray[Any]) -> FloatArray:
        flat = np.asarray(table, dtype=np.float64).reshape(-1)
        return flat if self.index is None else coarsen(flat, self.index, self.cells)

    def estimate(self, estimates: _Estimates) -> FloatArray:
        return self.reduce(estimates.counts(self.clique))

    def error(self, estimates: _Estimates, exact: npt.NDArray[np.int64]) -> float:
        return float(np.abs(self.reduce(exact) - self.estimate(estimates)).sum())

    def measure(
        self, exact: npt.NDArray[np.int64], sigma: float, source: RandomSource, price: Calculus
    ) -> Measurement:
        if self.index is None:
            return _noisy(self.clique, exact, sigma, source, price)
        counts = np.bincount(self.index, weights=exact, minlength=self.cells)
        grouped = np.rint(counts).astype(np.int64)
        noise = price.draw(sigma, self.cells, source)
        return CoarseMeasurement(
            self.clique, grouped + noise, sigma, source.private, self.groups, noise=price.noise
        )


def _refinements(options: Sequence[_Option], measurements: Sequence[Measurement]) -> list[_Option]:
    """The full-resolution ``options`` of cliques measured so far only grouped (public: which
    candidates were selected); all ``options`` if there are none."""
    full = {m.clique for m in measurements if not isinstance(m, CoarseMeasurement)}
    grouped = {m.clique for m in measurements if isinstance(m, CoarseMeasurement)} - full
    chosen = [o for o in options if o.index is None and o.clique in grouped]
    return chosen or list(options)


def _edges(cliques: Sequence[Clique]) -> frozenset[tuple[str, str]]:
    """The graph of a set of cliques (which alone determines the junction tree)."""
    return frozenset(
        (a, b) for clique in cliques for i, a in enumerate(clique) for b in clique[i + 1 :]
    )


def _eligible(
    domain: Domain,
    cliques: Sequence[Clique],
    candidates: Sequence[Clique],
    limit: float,
    sizes: dict[frozenset[tuple[str, str]], int] | None = None,
) -> list[Clique]:
    """Candidates whose addition keeps the junction tree within ``limit`` cells.

    ``sizes`` caches junction-tree cells by graph across rounds.
    """
    cache = {} if sizes is None else sizes
    tree = build_junction_tree(domain, cliques)
    blocks = [set(c) for c in tree.cliques]
    base = _edges([domain.canonical(c) for c in cliques])
    out = []
    for c in candidates:
        if any(set(c) <= b for b in blocks):
            out.append(c)  # already inside a model clique: the model does not grow
            continue
        key = base | _edges([domain.canonical(c)])
        if key not in cache:
            cache[key] = junction_tree_cells(domain, [*cliques, c])
        if cache[key] <= limit:
            out.append(c)
    if not out:
        out = [c for c in candidates if len(c) == 1]
    return out
