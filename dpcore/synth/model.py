"""A graphical model estimated from noisy marginals (post-processing only).

Estimation solves

    minimise over distributions p:   sum_r  || N * M_r(p) - y_r ||^2 / (2 * sigma_r^2)

where ``y_r`` are the noisy counts of clique ``r`` (``M_r`` may first group codes, see
:mod:`dpcore.synth.coarse`), ``sigma_r`` their noise scale (inverse-variance weighting) and
``N`` the total estimated from all measurements (:func:`estimate_total`). The minimiser over
the marginal polytope lies in the exponential family whose sufficient statistics are the
measured cliques, so ``p`` is parameterised by one log-potential table per measured clique
and the problem is solved by accelerated entropic mirror descent on those tables (Nesterov
momentum with adaptive restart, Armijo backtracking with a growing step), with exact
marginals from junction-tree calibration (:mod:`dpcore.synth.inference`) at each step. The
start is the independent model of the noisy 1-way tables projected onto the simplex.
Negative or mutually inconsistent noisy counts need no special handling: the estimate is
always a proper distribution that fits them in the least-squares sense. Codes never seen
keep positive probability: the support is the whole public domain.

Repeated measurements of one clique (and grouping) are merged first (inverse-variance
weighted mean). Potentials can warm-start a later fit with more cliques.

Declared constraints (:mod:`dpcore.constraints`) enter as fixed log-potentials: 0 on allowed
cells, a value whose exponential underflows to exactly 0 on forbidden ones. The fitted
distribution is then the least-squares fit within the exponential family restricted to the
allowed cells, and forbidden cells have probability exactly 0 in every belief, so sampling
never produces them. They are public and post-processing: no privacy cost.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from dpcore.constraints import StructuralZeros
from dpcore.distributions import project_to_simplex
from dpcore.domain import Clique, Domain
from dpcore.marginals import Measurement, estimate_total
from dpcore.synth.coarse import CoarseMeasurement, Groups, cell_index, coarse_shape, coarsen
from dpcore.synth.inference import (
    FloatArray,
    Reduction,
    broadcast_shape,
    calibrate,
    calibrate_planned,
    calibration_plan,
    clique_marginal,
    reduction,
    sum_by,
)
from dpcore.synth.junction_tree import JunctionTree, build_junction_tree
from dpcore.synth.sampling import forward_sample


@dataclass(frozen=True)
class Observation:
    """All measurements of one canonical clique (and grouping) merged, inverse-variance weighted.

    ``counts`` is flat over the grouped cells; ``index`` maps each full cell (C order) to its
    grouped cell, or is None when the clique is measured at full resolution.
    """

    clique: Clique
    counts: FloatArray = field(repr=False)
    variance: float
    index: npt.NDArray[np.int64] | None = field(default=None, repr=False)
    groups: Groups = ()


def _canonical(domain: Domain, m: Measurement) -> tuple[Clique, FloatArray, Groups]:
    """A measurement's clique, flat counts and groups, with axes in the domain's order."""
    clique = tuple(m.clique)
    groups: Groups = m.groups if isinstance(m, CoarseMeasurement) else ()
    shape = coarse_shape(domain, clique, groups)
    if int(np.prod(shape)) != m.values.size:
        raise ValueError(f"measurement of {clique} has {m.values.size} values, expected {shape}")
    table = np.asarray(m.values, dtype=np.float64).reshape(shape)
    canon = domain.canonical(clique)
    if clique != canon:
        order = [clique.index(n) for n in canon]
        table = np.transpose(table, order)
        groups = tuple(groups[i] for i in order) if groups else ()
    if groups and all(tuple(g) == tuple(range(len(g))) for g in groups):
        groups = ()
    return canon, table.reshape(-1), groups


def canonical_values(domain: Domain, measurement: Measurement) -> FloatArray:
    """A full-resolution measurement's counts as a table whose axes follow the domain's order."""
    canon, flat, groups = _canonical(domain, measurement)
    if groups:
        raise ValueError("canonical_values needs a full-resolution measurement")
    return flat.reshape(domain.shape(canon))


def merge_measurements(domain: Domain, measurements: Sequence[Measurement]) -> list[Observation]:
    """One inverse-variance weighted observation per distinct clique and grouping."""
    sums: dict[tuple[Clique, Groups], FloatArray] = {}
    precision: dict[tuple[Clique, Groups], float] = {}
    for m in measurements:
        if m.sigma <= 0 or not math.isfinite(m.sigma):
            raise ValueError(f"measurement of {m.clique} has an invalid sigma {m.sigma!r}")
        canon, flat, groups = _canonical(domain, m)
        key = (canon, groups)
        weight = 1.0 / m.variance
        if key in sums:
            sums[key] = sums[key] + flat * weight
            precision[key] += weight
        else:
            sums[key] = flat * weight
            precision[key] = weight
    out = []
    for (clique, groups), total in sums.items():
        index = cell_index(domain, clique, groups) if groups else None
        out.append(
            Observation(
                clique,
                total / precision[(clique, groups)],
                1.0 / precision[(clique, groups)],
                index,
                groups,
            )
        )
    return out


@dataclass(frozen=True)
class GraphicalModel:
    """A fitted junction-tree model: calibrated beliefs, potentials and the estimated total."""

    domain: Domain
    tree: JunctionTree = field(repr=False)
    potentials: Mapping[Clique, FloatArray] = field(repr=False)
    beliefs: tuple[FloatArray, ...] = field(repr=False)
    total: float
    _tables: dict[Clique, FloatArray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _conditionals: dict[int, FloatArray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def marginal(self, clique: Clique) -> FloatArray:
        """Probability table over ``clique`` in the given column order, flattened (C order).

        Tables are remembered per canonical clique (AIM asks for each candidate's marginal
        once per variant), and so are the conditional tables that joins of several tree
        cliques share; callers must not write into the returned array."""
        clique = tuple(clique)
        canon = self.domain.canonical(clique)
        table = self._tables.get(canon)
        if table is None:
            table = clique_marginal(self.tree, self.beliefs, canon, self._conditionals).view()
            table.flags.writeable = False
            self._tables[canon] = table
        if canon != clique:
            table = np.transpose(table, [canon.index(n) for n in clique])
        return np.ascontiguousarray(table).reshape(-1)

    def sample(self, rows: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
        """``(rows, len(domain))`` codes by forward sampling along the junction tree."""
        return forward_sample(self.tree, self.beliefs, rows, rng)


@dataclass(frozen=True)
class FitReport:
    """How an estimation ended: junction-tree calibrations run, final loss, wall time, and
    the mirror-descent step size it ended with (a warm start's ``step``)."""

    iterations: int
    loss: float
    seconds: float
    step: float = 0.0


_FORBIDDEN = -1e6
"""The log-potential of a forbidden cell: ``exp`` of it (minus any finite maximum) is 0.0."""


class _Problem:
    """The least-squares objective over one junction tree (mutable working state)."""

    def __init__(
        self,
        domain: Domain,
        observations: Sequence[Observation],
        total: float,
        tree: JunctionTree,
        zeros: Sequence[StructuralZeros] = (),
    ) -> None:
        self.domain = domain
        self.masks: list[tuple[int, FloatArray]] = []
        for z in zeros:
            canon = z.canonical(domain)
            home = tree.home(canon.clique)
            table = np.where(canon.allowed, 0.0, _FORBIDDEN)
            shape = broadcast_shape(domain, canon.clique, tree.cliques[home])
            self.masks.append((home, table.reshape(shape)))
        self.obs = list(observations)
        self.total = total
        self.tree = tree
        self.homes = [tree.home(o.clique) for o in self.obs]
        # One potential table per measured clique, plus one per column (for warm starts).
        self.cliques: list[Clique] = []
        for o in self.obs:
            if o.clique not in self.cliques:
                self.cliques.append(o.clique)
        for name in domain.names:
            if (name,) not in self.cliques:
                self.cliques.append((name,))
        self.slot = [self.cliques.index(o.clique) for o in self.obs]
        self.pot_homes = [tree.home(c) for c in self.cliques]
        self.pot_shapes = [
            broadcast_shape(domain, c, tree.cliques[h])
            for c, h in zip(self.cliques, self.pot_homes, strict=True)
        ]
        self.folds = self._folds()
        self.plan = self._marginal_plan()
        self.calibration = calibration_plan(tree)
        self._stack_observations()

    def _stack_observations(self) -> None:
        """All observations' counts in one vector with per-cell weights, and how each
        potential's gradient is gathered from the stacked one (``scatter``: per potential,
        its shape and each of its observations' ``(start, stop, index)``), so the loss and
        gradient are a few array operations however many cliques are measured."""
        sizes = [o.counts.size for o in self.obs]
        self.counts = np.concatenate([o.counts for o in self.obs]) if self.obs else np.zeros(0)
        variance = np.repeat([o.variance for o in self.obs], sizes)
        self.half_precision = 0.5 / variance
        self.gain = self.total / variance
        parts: list[list[tuple[int, int, npt.NDArray[np.int64] | None]]] = [
            [] for _ in self.cliques
        ]
        start = 0
        for o, slot, size in zip(self.obs, self.slot, sizes, strict=True):
            parts[slot].append((start, start + size, o.index))
            start += size
        self.scatter = [
            (self.domain.shape(c), tuple(p)) for c, p in zip(self.cliques, parts, strict=True)
        ]

    def _folds(self) -> list[tuple[int, int, tuple[int, ...]]]:
        """``(potential, into, shape)`` for each potential whose clique lies inside a larger
        potential's at the same tree clique: it is added to that one as a small table (laid
        out by ``shape``), so calibration multiplies in fewer full-size factors."""
        sets = [set(c) for c in self.cliques]
        homes = self.pot_homes
        maximal = [
            k
            for k in range(len(sets))
            if not any(homes[j] == homes[k] and sets[k] < sets[j] for j in range(len(sets)))
        ]
        folds = []
        for k in range(len(sets)):
            if k in maximal:
                continue
            into = next(j for j in maximal if homes[j] == homes[k] and sets[k] < sets[j])
            shape = broadcast_shape(self.domain, self.cliques[k], self.cliques[into])
            folds.append((k, into, shape))
        return folds

    def _marginal_plan(self) -> tuple[list[tuple[int, Reduction | None]], list[int]]:
        """How to compute every observation's marginal from the tree beliefs with few passes
        over large tables: ``steps`` ``(source, reduction)`` each sum a table of the work list
        (tree beliefs first, then the steps' results in order) down to a smaller clique;
        ``refs`` gives each observation's entry in that list.

        Per tree clique, the observations homed there share intermediate tables: while at
        least two of them miss a column, the clique without its largest such column is
        summed once and they are taken from it (recursively)."""
        domain = self.domain
        cliques: list[Clique] = list(self.tree.cliques)
        steps: list[tuple[Clique, int]] = []
        found: dict[Clique, int] = {}

        def add(clique: Clique, source: int) -> int:
            steps.append((clique, source))
            cliques.append(clique)
            return len(cliques) - 1

        def expand(source: int, wanted: list[Clique]) -> None:
            top = cliques[source]
            remaining = [w for w in wanted if w != top]
            if len(remaining) < len(wanted):
                found[top] = source
            for v in sorted(top, key=lambda n: (-domain.size(n), domain.index(n))):
                group = [w for w in remaining if v not in w]
                if len(group) >= 2:
                    sub = tuple(n for n in top if n != v)
                    expand(add(sub, source), group)
                    remaining = [w for w in remaining if v in w]
            for w in remaining:
                found[w] = add(w, source)

        for home in range(len(self.tree.cliques)):
            wanted = sorted(
                {o.clique for o, h in zip(self.obs, self.homes, strict=True) if h == home},
                key=lambda c: [domain.index(n) for n in c],
            )
            if wanted:
                expand(home, wanted)
        plan = [(source, reduction(domain, cliques[source], clique)) for clique, source in steps]
        return plan, [found[o.clique] for o in self.obs]

    def marginals(self, beliefs: Sequence[FloatArray]) -> list[FloatArray]:
        """Each observation's clique marginal (full resolution), by the precomputed plan."""
        steps, refs = self.plan
        work = list(beliefs)
        for source, how in steps:
            work.append(sum_by(work[source], how))
        return [work[r] for r in refs]

    def assemble(self, theta: Sequence[FloatArray]) -> list[FloatArray]:
        tables: list[FloatArray | None] = [None] * len(self.tree.cliques)
        for home, shape, t in zip(self.pot_homes, self.pot_shapes, theta, strict=True):
            table = tables[home]
            tables[home] = t.reshape(shape) if table is None else table + t.reshape(shape)
        for home, mask in self.masks:
            table = tables[home]
            tables[home] = mask if table is None else table + mask
        return [
            np.zeros(self.domain.shape(c))
            if t is None
            else np.broadcast_to(t, self.domain.shape(c))
            for c, t in zip(self.tree.cliques, tables, strict=True)
        ]

    def factors(self, theta: Sequence[FloatArray]) -> list[list[FloatArray]]:
        """Per tree clique, the log-tables whose sum is its potential (broadcastable)."""
        out: list[list[FloatArray]] = [[] for _ in self.tree.cliques]
        merged: list[FloatArray | None] = list(theta)
        for k, into, shape in self.folds:
            target = merged[into]
            assert target is not None
            merged[into] = target + theta[k].reshape(shape)
            merged[k] = None
        for home, shape, t in zip(self.pot_homes, self.pot_shapes, merged, strict=True):
            if t is not None:
                out[home].append(t.reshape(shape))
        for home, mask in self.masks:
            out[home].append(mask)
        return out

    def beliefs(self, theta: Sequence[FloatArray]) -> list[FloatArray]:
        """Calibrated beliefs: in probability space, or in log space if that underflows."""
        beliefs = calibrate_planned(self.calibration, self.factors(theta))
        if beliefs is None:
            beliefs, _ = calibrate(self.tree, self.assemble(theta))
        return beliefs

    def evaluate(
        self, theta: Sequence[FloatArray]
    ) -> tuple[float, list[FloatArray], list[FloatArray], list[FloatArray]]:
        """Loss, gradients (per potential table), model marginals (per observation), beliefs."""
        beliefs = self.beliefs(theta)
        margs = self.marginals(beliefs)
        seen = [
            mu.reshape(-1) if o.index is None else coarsen(mu, o.index, o.counts.size)
            for o, mu in zip(self.obs, margs, strict=True)
        ]
        diff = self.total * np.concatenate(seen) - self.counts if seen else self.counts
        loss = float(np.dot(diff * diff, self.half_precision))
        grad = diff * self.gain
        grads: list[FloatArray] = []
        for shape, parts in self.scatter:
            table: FloatArray | None = None
            for start, stop, index in parts:
                part = grad[start:stop] if index is None else grad[start:stop][index]
                table = part if table is None else table + part
            grads.append(np.zeros(shape) if table is None else table.reshape(shape))
        return loss, grads, margs, beliefs

    def predicted_decrease(
        self, grads: Sequence[FloatArray], old: Sequence[FloatArray], new: Sequence[FloatArray]
    ) -> float:
        """First-order decrease ``<grad, old - new>`` over the measured cliques' marginals."""
        total = 0.0
        seen: set[int] = set()
        for slot, a, b in zip(self.slot, old, new, strict=True):
            if slot not in seen:
                seen.add(slot)
                total += float(np.vdot(grads[slot], a - b))
        return total


def _initial_potentials(
    domain: Domain, problem: _Problem, warm_start: Mapping[Clique, FloatArray] | None
) -> list[FloatArray]:
    """Warm-start tables where given; otherwise the independent model of the 1-way data.

    A measured 1-way marginal starts at the log of its projection onto the simplex, floored at
    ``1e-6`` so every code keeps positive probability.
    """
    theta = []
    by_clique = {o.clique: o for o in problem.obs if len(o.clique) == 1 and o.index is None}
    for c in problem.cliques:
        if warm_start is not None and c in warm_start:
            theta.append(np.array(warm_start[c], dtype=np.float64, copy=True))
        elif warm_start is None and c in by_clique:
            p = project_to_simplex(by_clique[c].counts / problem.total)
            theta.append(np.log(np.maximum(p, 1e-6)))
        else:
            theta.append(np.zeros(domain.shape(c)))
    return theta


class _Point(NamedTuple):
    """Potentials with their loss, gradients, measured-clique marginals and beliefs."""

    theta: list[FloatArray]
    loss: float
    grads: list[FloatArray]
    margs: list[FloatArray]
    beliefs: list[FloatArray]


def _at(problem: _Problem, theta: list[FloatArray]) -> _Point:
    return _Point(theta, *problem.evaluate(theta))


def _stalled(
    history: list[tuple[int, float]], calls: int, loss: float, window: int, threshold: float
) -> bool:
    """Record an accepted ``loss`` after ``calls`` calibrations; True when it is less than
    ``threshold`` below the last accepted loss at least ``window`` calibrations earlier."""
    history.append((calls, loss))
    last = bisect.bisect_right(history, (calls - window, math.inf)) - 1
    return last >= 0 and history[last][1] - loss < threshold


def fit_model(
    domain: Domain,
    measurements: Sequence[Measurement],
    *,
    iterations: int = 1000,
    warm_start: Mapping[Clique, FloatArray] | None = None,
    time_limit_s: float | None = None,
    tolerance: float = 1e-10,
    zeros: Sequence[StructuralZeros] = (),
    step: float | None = None,
    stall: float = 0.0,
    window: int = 10,
    ramp: bool = False,
) -> tuple[GraphicalModel, FitReport]:
    """Fit the model to noisy measurements (see the module docstring).

    The solver is accelerated entropic mirror descent: a Nesterov extrapolation of the
    potentials, a mirror step from there with Armijo backtracking (the step grows by 10% after
    each success), and a restart of the momentum whenever the loss would increase, so the
    accepted losses never go up. ``iterations`` bounds the number of junction-tree
    calibrations (the unit of cost); ``warm_start`` maps cliques to potentials of an earlier
    fit (missing ones start at the independent 1-way model or 0). Also stops at
    ``time_limit_s`` or when an accepted step improves the loss by less than ``tolerance``
    (relative). ``zeros`` are declared constraints the model must respect exactly.

    ``stall`` > 0 is a stopping rule in statistical units: stop once the accepted loss fell
    by less than ``stall * cells / 2`` over the last ``window`` calibrations (``cells``: the
    observed noisy cells; ``cells / 2`` is the loss's expected value at the truth, its
    natural scale). The rule is off at 0. AIM uses 0.01 between rounds (on Adult at epsilon 1
    about two thirds of the calibrations, with the same model quality) and 0.002 for its
    final fit (about 260-350 of 400); see :class:`dpcore.synth.aim.AIMSynthesizer`. With more
    precise measurements a fit's improvements are larger in these units, so the rule stops
    later: at epsilon 3 it saved about a sixth of the refits' calibrations.

    ``ramp`` doubles the step after each accepted step (instead of growing it by 10%) until
    the first backtrack or momentum restart: for a cold start whose bound step is far too
    small (measurements precise against large counts). AIM turns it on for its final fit
    only when its rounds ran batched (:meth:`~dpcore.synth.aim.AIMSynthesizer.fit`).
    """
    started = time.perf_counter()
    observations = merge_measurements(domain, measurements)
    total = estimate_total(measurements)
    cliques = [o.clique for o in observations] + [domain.canonical(z.clique) for z in zeros]
    tree = build_junction_tree(domain, cliques)
    problem = _Problem(domain, observations, total, tree, zeros)
    n_pot = len(problem.cliques)
    if step is None or not (math.isfinite(step) and step > 0):
        step = 1.0 / sum(total * total / o.variance for o in observations)
    current = _at(problem, _initial_potentials(domain, problem, warm_start))
    previous = current.theta
    momentum = 0
    calls = 1
    threshold = stall * sum(o.counts.size for o in observations) / 2.0
    history = [(calls, current.loss)]  # accepted points, for the ``stall`` rule
    ramping = ramp
    while calls < iterations:
        if time_limit_s is not None and time.perf_counter() - started > time_limit_s:
            break
        momentum += 1
        beta = (momentum - 1) / (momentum + 2)
        if beta > 0:
            base = _at(
                problem, [t + beta * (t - p) for t, p in zip(current.theta, previous, strict=True)]
            )
            calls += 1
        else:
            base = current
        trial: _Point | None = None
        for _ in range(40):
            moved = list(base.theta)
            for k in range(n_pot):
                moved[k] = base.theta[k] - step * base.grads[k]
            candidate = _at(problem, moved)
            calls += 1
            predicted = problem.predicted_decrease(base.grads, base.margs, candidate.margs)
            if candidate.loss <= base.loss - 0.5 * predicted:
                trial = candidate
                break
            step *= 0.5
            ramping = False
        if trial is None:
            break
        if trial.loss > current.loss:
            momentum = 0  # restart: the next step is a plain mirror step from ``current``
            previous = current.theta
            ramping = False
            continue
        improvement = current.loss - trial.loss
        previous, current = current.theta, trial
        step *= 2.0 if ramping else 1.1
        if beta == 0 and improvement <= tolerance * current.loss:
            break
        if threshold > 0 and _stalled(history, calls, current.loss, window, threshold):
            break
    potentials = {c: t for c, t in zip(problem.cliques, current.theta, strict=True)}
    model = GraphicalModel(domain, tree, potentials, tuple(current.beliefs), total)
    report = FitReport(calls, current.loss, time.perf_counter() - started, step)
    return model, report
