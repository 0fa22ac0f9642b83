"""Exact inference on a junction tree: calibrated clique beliefs and marginals of any clique.

Potentials are log-tables over the tree's cliques (axes in the domain's column order).
Calibration is one upward and one downward sum-product pass; the downward message reuses the
calibrated parent belief (``parent marginal / upward message``).

Two equivalent calibrations. :func:`calibrate` works in log space on whole clique tables,
exponentiating each clique table twice. :func:`calibrate_factors` takes each clique's
potential as a sum of small log-tables (one per measured clique) and works in probability
space: it exponentiates only the small tables (each shifted by its maximum), multiplies them
into the clique table and scales every factor and message to a maximum of 1, so a whole
calibration costs products and sums, no ``exp`` or ``log`` of a large table (about half the
time). Every factor and message is scaled to a maximum of 1, so no product overflows; a
product table whose maximum may fall below ``1e-280`` (potentials spanning hundreds of
nats that cancel across tables; bounded from its message's maximum or, at the root, its
sum, which the pass computes anyway) would lose precision, so it returns None and the
caller uses :func:`calibrate`.

Everything about a calibration that depends on the tree alone (shapes, message layouts,
how each table is summed to each separator) is a :class:`CalibrationPlan`, computed once per
tree, so each call does array work only. Most of that work is on tables of thousands of
cells whose innermost axes have 2 to 6 codes, where numpy's loops are slow, so: factors and
messages are multiplied smallest product first, large broadcast products iterate along the
axis rotation with the longest common inner run (:func:`_iteration_order`), sums merge
adjacent axes and take short trailing runs by slices (:class:`Reduction`), a belief is
normalised through its separator ratio (its total is known from the separator), and a
belief's marginals on several separators come from the largest one that holds them.
Summation order differs from plain ``einsum`` only in rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain
from dpcore.synth.junction_tree import JunctionTree

FloatArray = npt.NDArray[np.float64]
_TINY = 1e-300


@lru_cache(maxsize=65536)
def broadcast_shape(domain: Domain, sub: Clique, clique: Clique) -> tuple[int, ...]:
    """Shape that lays a table over ``sub`` (canonical) along ``clique``'s axes."""
    inside = set(sub)
    return tuple(domain.size(n) if n in inside else 1 for n in clique)


def sum_to(domain: Domain, table: FloatArray, clique: Clique, sub: Clique) -> FloatArray:
    """Sum a table over ``clique`` down to canonical ``sub`` (shape ``domain.shape(sub)``),
    by :func:`reduction` (cached per layout)."""
    return sum_by(table, _reduction(domain.shape(clique), _kept(clique, sub)))


@lru_cache(maxsize=65536)
def _kept(clique: Clique, sub: Clique) -> tuple[bool, ...]:
    inside = set(sub)
    return tuple(n in inside for n in clique)


def _log_sum_to(domain: Domain, table: FloatArray, clique: Clique, sub: Clique) -> FloatArray:
    top = float(table.max())
    summed = sum_to(domain, np.exp(table - top), clique, sub)
    return np.log(np.maximum(summed, _TINY)) + top


def calibrate(
    tree: JunctionTree, potentials: Sequence[FloatArray]
) -> tuple[list[FloatArray], float]:
    """Normalised beliefs (probability tables) of every tree clique and the log partition."""
    domain = tree.domain
    kids = _children(tree)
    full = [np.array(p, dtype=np.float64, copy=True) for p in potentials]
    up: list[FloatArray | None] = [None] * len(full)
    for i in reversed(tree.order):
        clique = tree.cliques[i]
        for child in kids[i]:
            message = up[child]
            assert message is not None
            full[i] += message.reshape(broadcast_shape(domain, tree.separator[child], clique))
        if tree.parent[i] >= 0:
            up[i] = _log_sum_to(domain, full[i], clique, tree.separator[i])
    root = tree.order[0]
    top = float(full[root].max())
    log_z = float(np.log(np.exp(full[root] - top).sum())) + top
    beliefs: list[FloatArray] = [np.empty(0)] * len(full)
    beliefs[root] = np.exp(full[root] - log_z)
    for i in tree.order[1:]:
        parent, sep, clique = tree.parent[i], tree.separator[i], tree.cliques[i]
        marg = sum_to(domain, beliefs[parent], tree.cliques[parent], sep)
        message = up[i]
        assert message is not None
        down = np.log(np.maximum(marg, _TINY)) + log_z - message
        full[i] += down.reshape(broadcast_shape(domain, sep, clique))
        belief = np.exp(full[i] - log_z)
        total = float(belief.sum())
        beliefs[i] = belief / total if total > 0 else np.full_like(belief, 1.0 / belief.size)
    return beliefs, log_z


_FLOOR = 1e-280
"""Smallest maximum a product table may have before precision would be lost."""


def _product(
    factors: Sequence[FloatArray], shape: tuple[int, ...], tables: Sequence[FloatArray] = ()
) -> FloatArray:
    """``exp`` of the sum of log-tables broadcast to ``shape``, each shifted by its maximum,
    times ``tables`` (probability tables, broadcast too): a new array, ones when there is
    nothing to multiply. Small operands are multiplied together first
    (:func:`_multiplication_order`), so few products span the whole table."""
    items = [_exp_shifted(f) for f in factors]
    items.extend(tables)
    if not items:
        return np.ones(shape)
    if len(items) == 1:
        single = np.empty(shape)
        single[...] = items[0]
        return single
    steps = _multiplication_order(tuple(item.shape for item in items))
    for i, j, union in steps[:-1]:
        right = items.pop(j)
        items.append(_multiply(items.pop(i), right, np.empty(union)))
    i, j, _ = steps[-1]
    return _multiply(items[i], items[j], np.empty(shape))


def _exp_shifted(table: FloatArray) -> FloatArray:
    """``exp(table - max(table))`` in one new array."""
    out = np.asarray(table - float(table.max()))  # a new array (0-d too)
    return np.exp(out, out=out)


def _multiply(x: FloatArray, y: FloatArray, out: FloatArray) -> FloatArray:
    """``x * y`` (broadcast) into ``out`` (C-contiguous, of the broadcast shape; may be
    ``x``), iterated in the order :func:`_iteration_order` chooses (the products are the
    same in any order)."""
    order = _iteration_order(x.shape, y.shape, out.shape)
    if order is None:
        return np.multiply(x, y, out=out)
    np.multiply(x.transpose(order), y.transpose(order), out=out.transpose(order), order="C")
    return out


_LARGE = 4096
"""Tables with fewer cells are multiplied in their own order and summed without slicing off
a kept run (neither would pay)."""


@lru_cache(maxsize=4096)
def _iteration_order(
    x: tuple[int, ...], y: tuple[int, ...], out: tuple[int, ...]
) -> tuple[int, ...] | None:
    """For a product whose innermost run (trailing axes adjacent in memory on which ``x``
    and ``y`` are each present or each broadcast throughout) is at most ``_SHORT_RUN``
    cells, the rotation of the axes with the longest such run; None (the tables' own
    order) otherwise. numpy's loop over a broadcast product is slow when that run is
    short: a (85, 1, 6, 2, 2) by (85, 15, 1, 2, 1) product took 184 us in C order, 47 us
    with the first axis innermost; but a strided inner loop is slower than a contiguous
    one of 6 or more cells (GSS's (73, 9, 6, 6) by (73, 1, 6, 6): 14 us in C order, 37 us
    rotated)."""
    n = len(out)
    if n < 2 or math.prod(out) < _LARGE:
        return None
    status = [(a == 1, b == 1) for a, b in zip(x, y, strict=True)]

    def run(order: Sequence[int]) -> int:
        total, previous, last = 1, -1, -1
        for k in reversed(order):
            if previous >= 0 and k != previous - 1:
                break
            if out[k] > 1:
                if total > 1 and status[k] != status[last]:
                    break
                total *= out[k]
                last = k
            previous = k
        return total

    rotations = [tuple(range(r, n)) + tuple(range(r)) for r in range(n)]
    if run(rotations[0]) > _SHORT_RUN:
        return None
    best = max(rotations, key=lambda order: (run(order), -rotations.index(order)))
    return None if best == rotations[0] else best


_SHORT_RUN = 4
"""The longest innermost run of a product left in the tables' own order regardless."""


@lru_cache(maxsize=4096)
def _multiplication_order(
    shapes: tuple[tuple[int, ...], ...],
) -> tuple[tuple[int, int, tuple[int, ...]], ...]:
    """Pairs ``(i, j)``, ``i < j``, to multiply in turn (both taken from the list, their
    broadcast product, of the shape given third, appended), always the pair whose product
    has the fewest cells. On Adult's final model a clique of 35,640 cells with four factors
    and four messages took 1.2 ms as eight whole-table products (each broadcasting its
    operands along the full table), 0.4 ms in this order."""
    current = [list(shape) for shape in shapes]
    steps = []
    while len(current) > 1:
        pairs = [(i, j) for i in range(len(current)) for j in range(i + 1, len(current))]
        i, j = min(
            pairs,
            key=lambda p: (math.prod(map(max, current[p[0]], current[p[1]])), p),
        )
        right = current.pop(j)
        current.append(list(map(max, current.pop(i), right)))
        steps.append((i, j, tuple(current[-1])))
    return tuple(steps)


_TAIL = 6
"""A trailing run of summed axes with at most this many cells is summed by slices (over
36,000 cells: 24 us against einsum's 34 at 6 cells, 29 against 26 at 8); a longer one is
left to ``einsum`` (``add.reduce`` along rows of 9-36 cells was 3-4 times slower)."""


class Reduction(NamedTuple):
    """How a table is summed to some of its axes, laid out once per shape. ``einsum`` is
    slow when the innermost axis it sums or keeps is short (on Adult's cliques 70-160 us
    for 30,000 cells, against 15-40 us this way), so adjacent axes of the same kind are
    merged (``merged`` view); on a table of at least ``_LARGE`` cells a trailing kept run
    of at most ``_SHORT_RUN`` cells (``head``) is taken one slice at a time (einsum was
    faster from 6 cells on) and, of the rest, a trailing summed run of at most ``_TAIL``
    cells (``tail``) is summed by slices; then ``einsum`` sums what is left (``labels`` to
    ``kept``, if anything), giving ``kept_shape``."""

    merged: tuple[int, ...]
    head: int
    tail: int
    labels: list[int] | None
    kept: list[int]
    kept_shape: tuple[int, ...]
    shape: tuple[int, ...]


def reduction(domain: Domain, clique: Clique, sub: Clique) -> Reduction | None:
    """The :class:`Reduction` from a table over canonical ``clique`` to canonical ``sub``;
    None when ``sub`` is the whole clique."""
    kept = _kept(clique, sub)
    return None if all(kept) else _reduction(domain.shape(clique), kept)


@lru_cache(maxsize=65536)
def _reduction(shape: tuple[int, ...], kept: tuple[bool, ...]) -> Reduction | None:
    if all(kept):
        return None
    merged: list[int] = []
    kinds: list[bool] = []
    for size, keep in zip(shape, kept, strict=True):
        if size == 1:
            continue  # either kind: it neither sums nor keeps anything
        if kinds and kinds[-1] == keep:
            merged[-1] *= size
        else:
            merged.append(size)
            kinds.append(keep)
    out = tuple(size for size, keep in zip(shape, kept, strict=True) if keep)
    large = math.prod(shape) >= _LARGE  # slicing a small table costs more than it saves
    short = bool(merged) and merged[-1] <= _SHORT_RUN
    head = merged[-1] if large and len(kinds) > 1 and kinds[-1] and short else 0
    sizes, rest = (merged[:-1], kinds[:-1]) if head else (merged, kinds)
    tail = sizes[-1] if large and rest and not rest[-1] and sizes[-1] <= _TAIL else 0
    if tail:
        sizes, rest = sizes[:-1], rest[:-1]
    labels = list(range(len(rest))) if not all(rest) else None
    kept_axes = [i for i, k in enumerate(rest) if k]
    kept_shape = tuple(sizes[i] for i in kept_axes)
    return Reduction(tuple(merged), head, tail, labels, kept_axes, kept_shape, out)


def sum_by(table: FloatArray, how: Reduction | None) -> FloatArray:
    """Sum ``table`` as ``how`` says (None: ``table`` itself)."""
    if how is None:
        return table
    view = table.reshape(how.merged)
    if not how.head:
        return np.asarray(_sum_rest(view, how)).reshape(how.shape)
    out = np.empty((*how.kept_shape, how.head))
    for j in range(how.head):
        out[..., j] = _sum_rest(view[..., j], how)
    return out.reshape(how.shape)


def _sum_rest(view: FloatArray, how: Reduction) -> FloatArray:
    """A :class:`Reduction` after its ``head``: the trailing summed run, then ``einsum``."""
    if how.tail:
        summed = view[..., 0] + view[..., 1]  # a merged run has at least 2 cells
        for j in range(2, how.tail):
            summed += view[..., j]
        view = summed
    if how.labels is not None:
        einsum: Any = np.einsum  # the sublist form (operand, axes, output) is not in its stubs
        view = einsum(view, how.labels, how.kept)
    return view


@dataclass(frozen=True)
class _Pass:
    """One tree clique's part of a calibration (see :class:`CalibrationPlan`)."""

    node: int
    shape: tuple[int, ...]
    children: tuple[tuple[int, tuple[int, ...]], ...]
    """Each child and the shape laying its separator message along this clique."""
    parent: int
    to_separator: Reduction | None
    """From this clique's table to its separator with the parent."""
    separator_shape: tuple[int, ...]
    """The separator laid along this clique."""
    spread: int
    """Cells of this clique per separator cell (all its cells at the root)."""
    shared: int
    """The first child of the same parent with the same separator (this one itself if
    none came before): the key of the parent belief's marginal on it; -1 at the root."""
    outgoing: tuple[tuple[int, int, Reduction | None], ...]
    """This belief's marginals on its children's distinct separators, largest first:
    ``(key, source, reduction)``, summed from an earlier one's table (key ``source``) that
    holds it, else (``source`` -1) from the belief itself."""


@dataclass(frozen=True)
class CalibrationPlan:
    """A tree's calibration layout (shapes, message reshapes, reductions), computed once per
    tree so that each calibration does array work only. ``passes`` follow ``tree.order``."""

    root: int
    passes: tuple[_Pass, ...]


@lru_cache(maxsize=256)
def calibration_plan(tree: JunctionTree) -> CalibrationPlan:
    """The :class:`CalibrationPlan` of ``tree`` (public structure only: cached)."""
    domain = tree.domain
    kids = _children(tree)
    passes = []
    first: dict[tuple[int, Clique], int] = {}
    for i in tree.order:
        for c in kids[i]:
            first.setdefault((i, tree.separator[c]), c)
    for i in tree.order:
        clique, parent, sep = tree.cliques[i], tree.parent[i], tree.separator[i]
        children = tuple((c, broadcast_shape(domain, tree.separator[c], clique)) for c in kids[i])
        passes.append(
            _Pass(
                i,
                domain.shape(clique),
                children,
                parent,
                reduction(domain, clique, sep),
                broadcast_shape(domain, sep, clique),
                domain.cells(clique) // domain.cells(sep),
                first[(parent, sep)] if parent >= 0 else -1,
                _outgoing(tree, i, {s: key for (j, s), key in first.items() if j == i}),
            )
        )
    return CalibrationPlan(tree.order[0], tuple(passes))


def calibrate_factors(
    tree: JunctionTree, factors: Sequence[Sequence[FloatArray]]
) -> list[FloatArray] | None:
    """Normalised beliefs of every tree clique, as :func:`calibrate` gives for potentials
    ``sum(factors[i])`` (each log-table shaped to broadcast along clique ``i``), computed in
    probability space (see the module docstring); None if a product table underflows."""
    return calibrate_planned(calibration_plan(tree), factors)


def calibrate_planned(
    plan: CalibrationPlan, factors: Sequence[Sequence[FloatArray]]
) -> list[FloatArray] | None:
    """:func:`calibrate_factors` by a precomputed :class:`CalibrationPlan`."""
    size = len(plan.passes)
    tables: list[FloatArray] = [np.empty(0)] * size
    up: list[FloatArray] = [np.empty(0)] * size
    scale = [1.0] * size
    total = 1.0
    for p in reversed(plan.passes):
        messages = [up[child].reshape(shape) for child, shape in p.children]
        table = _product(factors[p.node], p.shape, messages)
        tables[p.node] = table
        # The table's maximum (at most 1: every factor and message has maximum 1) lies
        # within a factor ``spread`` below its message's maximum (at the root: its sum).
        message = sum_by(table, p.to_separator) if p.parent >= 0 else None
        top = float(table.sum()) if message is None else float(message.max())
        if not (top > _FLOOR * p.spread and math.isfinite(top)):
            return None
        if message is not None:
            up[p.node] = message / top
            scale[p.node] = top
        else:
            total = top
    beliefs: list[FloatArray] = [np.empty(0)] * size
    root = plan.root
    beliefs[root] = tables[root]
    beliefs[root] *= 1.0 / total
    margs: dict[int, FloatArray] = {}
    _separator_marginals(plan.passes[0], beliefs[root], margs)
    for p in plan.passes[1:]:
        marg = margs[p.shared]
        message = up[p.node]
        positive = message > 0
        ratio = np.divide(marg, message, out=np.zeros_like(marg), where=positive)
        # The table sums over the separator to ``message * scale``, so the belief's total is
        # known from the separator alone: normalising costs no pass over the table.
        total = scale[p.node] * float(marg.sum(where=positive))
        belief = tables[p.node]
        if total > 0:
            ratio *= 1.0 / total
            _multiply(belief, ratio.reshape(p.separator_shape), belief)
        else:
            belief.fill(1.0 / belief.size)
        beliefs[p.node] = belief
        _separator_marginals(p, belief, margs)
    return beliefs


def _separator_marginals(p: _Pass, belief: FloatArray, margs: dict[int, FloatArray]) -> None:
    for key, source, how in p.outgoing:
        margs[key] = sum_by(belief if source < 0 else margs[source], how)


def _outgoing(
    tree: JunctionTree, i: int, separators: dict[Clique, int]
) -> tuple[tuple[int, int, Reduction | None], ...]:
    """:attr:`_Pass.outgoing` of tree clique ``i`` (``separators``: each distinct one's key)."""
    domain = tree.domain
    order = sorted(separators, key=lambda sep: (-domain.cells(sep), separators[sep]))
    out: list[tuple[int, int, Reduction | None]] = []
    done: list[Clique] = []
    for sep in order:
        holders = [d for d in done if set(sep) < set(d)]
        if holders:
            source = min(holders, key=lambda d: (domain.cells(d), separators[d]))
            out.append((separators[sep], separators[source], reduction(domain, source, sep)))
        else:
            out.append((separators[sep], -1, reduction(domain, tree.cliques[i], sep)))
        done.append(sep)
    return tuple(out)


@lru_cache(maxsize=256)
def _children(tree: JunctionTree) -> tuple[tuple[int, ...], ...]:
    return tree.children()


def _path_to_root(tree: JunctionTree, i: int) -> list[int]:
    path = [i]
    while tree.parent[path[-1]] >= 0:
        path.append(tree.parent[path[-1]])
    return path


def steiner_subtree(tree: JunctionTree, nodes: Sequence[int]) -> list[int]:
    """Smallest connected set of tree cliques containing ``nodes``, its top node first."""
    paths = [_path_to_root(tree, n) for n in nodes]
    common = set(paths[0])
    for p in paths[1:]:
        common &= set(p)
    # The lowest common ancestor is the first node of any path that all paths share.
    lca = next(n for n in paths[0] if n in common)
    chosen: list[int] = [lca]
    for p in paths:
        for n in p:
            if n == lca:
                break
            if n not in chosen:
                chosen.append(n)
    depth = {n: len(_path_to_root(tree, n)) for n in chosen}
    return sorted(chosen, key=lambda n: (depth[n], n))


@lru_cache(maxsize=4096)
def _join(
    tree: JunctionTree, clique: Clique
) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """The tree cliques joined for a marginal of ``clique`` outside any one tree clique (its
    Steiner subtree over each column's smallest holder, top first), each one's einsum labels,
    and the output's labels (public structure only: cached across calls)."""
    domain = tree.domain
    holders = []
    for name in clique:
        options = [i for i, c in enumerate(tree.cliques) if name in c]
        holders.append(min(options, key=lambda i: (domain.cells(tree.cliques[i]), i)))
    nodes = tuple(steiner_subtree(tree, holders))
    columns = sorted({n for i in nodes for n in tree.cliques[i]}, key=domain.index)
    label = {n: k for k, n in enumerate(columns)}
    labels = tuple(tuple(label[n] for n in tree.cliques[i]) for i in nodes)
    return nodes, labels, tuple(label[n] for n in clique)


@lru_cache(maxsize=4096)
def _contraction_path(
    labels: tuple[tuple[int, ...], ...], shapes: tuple[tuple[int, ...], ...], out: tuple[int, ...]
) -> list[Any]:
    """numpy's greedy contraction order for these operand shapes (cached: it depends on the
    shapes only, and finding it costs as much as a small contraction)."""
    operands: list[Any] = []
    for lab, shape in zip(labels, shapes, strict=True):
        operands.extend([np.broadcast_to(np.zeros(()), shape), list(lab)])
    operands.append(list(out))
    path, _ = np.einsum_path(*operands, optimize="greedy")
    return list(path)


def clique_marginal(
    tree: JunctionTree,
    beliefs: Sequence[FloatArray],
    clique: Clique,
    conditionals: dict[int, FloatArray] | None = None,
) -> FloatArray:
    """Probability table over canonical ``clique`` (shape ``domain.shape(clique)``).

    ``conditionals`` keeps each tree clique's belief divided by its separator marginal
    across calls on the same ``beliefs`` (the caller's; None: computed afresh)."""
    domain = tree.domain
    clique = domain.canonical(clique)
    if not clique:
        return np.ones((), dtype=np.float64)
    home = tree.home(clique)
    if home >= 0:
        return sum_to(domain, beliefs[home], tree.cliques[home], clique)
    # Pick, for each column, the smallest tree clique holding it, then join them.
    nodes, labels, out_labels = _join(tree, clique)
    cache = {} if conditionals is None else conditionals
    operands: list[Any] = [beliefs[nodes[0]], list(labels[0])]
    for i, lab in zip(nodes[1:], labels[1:], strict=True):
        if i not in cache:
            cache[i] = _conditional(tree, beliefs[i], i)
        operands.extend([cache[i], list(lab)])
    operands.append(list(out_labels))
    path = _contraction_path(labels, tuple(beliefs[i].shape for i in nodes), out_labels)
    einsum: Any = np.einsum
    out = einsum(*operands, optimize=path)
    result = np.asarray(out, dtype=np.float64)
    total = float(result.sum())
    if total > 0 and math.isfinite(total):
        result = result / total
    return result


def _conditional(tree: JunctionTree, belief: FloatArray, i: int) -> FloatArray:
    """Tree clique ``i``'s belief divided by its separator's marginal (0 where that is 0)."""
    domain, sep, clique = tree.domain, tree.separator[i], tree.cliques[i]
    denominator = sum_to(domain, belief, clique, sep).reshape(broadcast_shape(domain, sep, clique))
    return np.divide(belief, denominator, out=np.zeros_like(belief), where=denominator > 0)
