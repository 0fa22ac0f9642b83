"""Counts of synthetic codes, accumulated chunk by chunk (the table itself is never kept).

A :class:`CodeTally` holds the row count, every column's code counts (with the codes found
outside ``[0, size)`` and the extreme codes seen) and the counts of chosen cliques. Tallies of
disjoint chunks add up to the tally of their concatenation, so a streamed table is summarised
exactly with memory bounded by the domain, not the row count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ColumnCodes:
    """One column's code counts over ``[0, size)``, codes outside it, and the extremes seen.

    ``lowest`` and ``highest`` are None while no row has been counted.
    """

    counts: IntArray = field(repr=False)
    outside: int = 0
    lowest: int | None = None
    highest: int | None = None

    def plus(self, other: ColumnCodes) -> ColumnCodes:
        """The counts of both tallies together."""
        return ColumnCodes(
            self.counts + other.counts,
            self.outside + other.outside,
            combine_extremes(min, self.lowest, other.lowest),
            combine_extremes(max, self.highest, other.highest),
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ColumnCodes)
            and np.array_equal(self.counts, other.counts)
            and (self.outside, self.lowest, self.highest)
            == (other.outside, other.lowest, other.highest)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-looking array inside: not hashable


Number = TypeVar("Number", int, float)


def combine_extremes(
    pick: Callable[[Number, Number], Number], a: Number | None, b: Number | None
) -> Number | None:
    """The lowest or highest (``pick``: ``min`` or ``max``) of two partial tallies' extremes,
    either of which may be None (no rows yet)."""
    if a is None:
        return b
    return a if b is None else pick(a, b)


@dataclass(frozen=True)
class CodeTally:
    """Row count, per-column code counts and clique counts of some synthetic rows.

    ``cliques`` maps each tallied clique (in the domain's column order) to its counts, shaped
    like the clique; every 1-way marginal is available through :meth:`counts` as well.
    """

    domain: Domain
    rows: int
    columns: tuple[ColumnCodes, ...] = field(repr=False)
    cliques: Mapping[Clique, IntArray] = field(repr=False)

    @classmethod
    def empty(cls, domain: Domain, cliques: Iterable[Clique] = ()) -> CodeTally:
        """The tally of no rows, that will count ``cliques`` (of two or more columns)."""
        keep = {domain.canonical(c) for c in cliques if len(set(c)) > 1}
        return cls(
            domain,
            0,
            tuple(ColumnCodes(np.zeros(s, dtype=np.int64)) for s in domain.sizes),
            {c: np.zeros(domain.shape(c), dtype=np.int64) for c in sorted(keep)},
        )

    @classmethod
    def of(cls, codes: npt.ArrayLike, domain: Domain, cliques: Iterable[Clique] = ()) -> CodeTally:
        """The tally of ``(rows, columns)`` codes in domain order."""
        return cls.empty(domain, cliques).add(codes)

    def add(self, codes: npt.ArrayLike) -> CodeTally:
        """This tally plus ``(rows, columns)`` codes (one more chunk)."""
        array = np.asarray(codes)
        if array.ndim != 2 or array.shape[1] != len(self.domain):
            raise ValueError(
                f"codes must be (rows, {len(self.domain)}) in domain order, got {array.shape}"
            )
        rows = len(array)
        added = [_column_codes(array[:, j], s) for j, s in enumerate(self.domain.sizes)]
        if any(c.outside for c in added):  # clique counts cover valid rows only
            valid = np.all(
                [(array[:, j] >= 0) & (array[:, j] < s) for j, s in enumerate(self.domain.sizes)],
                axis=0,
            )
            array = array[valid]
        cliques = {}
        for clique, counts in self.cliques.items():
            cols = tuple(array[:, self.domain.index(c)] for c in clique)
            flat = np.ravel_multi_index(cols, counts.shape)
            cliques[clique] = counts + np.bincount(flat, minlength=counts.size).reshape(
                counts.shape
            )
        columns = tuple(a.plus(b) for a, b in zip(self.columns, added, strict=True))
        return CodeTally(self.domain, self.rows + rows, columns, cliques)

    def plus(self, other: CodeTally) -> CodeTally:
        """The tally of both sets of rows (same domain and cliques)."""
        if other.domain != self.domain or set(other.cliques) != set(self.cliques):
            raise ValueError("only tallies of the same domain and cliques can be added")
        return CodeTally(
            self.domain,
            self.rows + other.rows,
            tuple(a.plus(b) for a, b in zip(self.columns, other.columns, strict=True)),
            {c: t + other.cliques[c] for c, t in self.cliques.items()},
        )

    def counts(self, clique: Clique) -> IntArray:
        """Counts of ``clique`` (in the given column order, shaped like it) among valid codes.

        Available for every single column and every tallied clique; raises KeyError otherwise.
        """
        clique = tuple(clique)
        if len(clique) == 1:
            return self.columns[self.domain.index(clique[0])].counts.copy()
        canon = self.domain.canonical(clique)
        if canon not in self.cliques:
            raise KeyError(f"clique {clique} was not tallied")
        return np.transpose(self.cliques[canon], [canon.index(c) for c in clique]).copy()

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CodeTally)
            and (self.domain, self.rows, self.columns) == (other.domain, other.rows, other.columns)
            and set(self.cliques) == set(other.cliques)
            and all(np.array_equal(t, other.cliques[c]) for c, t in self.cliques.items())
        )

    __hash__ = None  # type: ignore[assignment]


def _column_codes(column: IntArray, size: int) -> ColumnCodes:
    """Counts of one column of codes (codes outside ``[0, size)`` only counted as outside)."""
    if column.size == 0:
        return ColumnCodes(np.zeros(size, dtype=np.int64))
    lowest, highest = int(column.min()), int(column.max())
    if lowest >= 0 and highest < size:
        return ColumnCodes(np.bincount(column, minlength=size).astype(np.int64), 0, lowest, highest)
    valid = column[(column >= 0) & (column < size)]
    counts = np.bincount(valid, minlength=size).astype(np.int64)
    return ColumnCodes(counts, int(column.size - valid.size), lowest, highest)
