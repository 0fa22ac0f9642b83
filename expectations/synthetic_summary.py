"""A synthetic table summarised chunk by chunk, for checks that never hold the whole table.

A :class:`SyntheticSummary` is the code tally (:class:`~dpcore.synth.tally.CodeTally`: rows,
per-column code counts, clique counts) plus, per column, what the decoded values look like:
how many are NULL, the distinct categories with their counts, or the numeric range and how
many values fall outside the codec's bounds. Summaries of disjoint chunks add up exactly, so
the summary of a streamed table equals the summary of the whole table at once.

Everything here is computed from synthetic rows only, so it is safe to show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from dpcore.domain import Clique
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.synth.tally import CodeTally
from dpcore.synth.tally import combine_extremes as _pick
from expectations.errors import SchemaMismatchError


@dataclass(frozen=True)
class ColumnValues:
    """The decoded values of one column: NULLs, distinct categories or numeric range.

    Category columns fill ``categories`` (each distinct non-NULL value and its count; at
    most the declared values for a table decoded by its codec). Numeric columns fill
    ``lowest``/``highest`` (None while no value was seen) and ``below``/``above``, the values
    outside the codec's bounds.
    """

    name: str
    nulls: int = 0
    categories: Mapping[str, int] = field(default_factory=dict)
    lowest: float | None = None
    highest: float | None = None
    below: int = 0
    above: int = 0

    def plus(self, other: ColumnValues) -> ColumnValues:
        """The summary of both sets of values."""
        merged = dict(self.categories)
        for value, count in other.categories.items():
            merged[value] = merged.get(value, 0) + count
        return ColumnValues(
            self.name,
            self.nulls + other.nulls,
            merged,
            _pick(min, self.lowest, other.lowest),
            _pick(max, self.highest, other.highest),
            self.below + other.below,
            self.above + other.above,
        )

    def outside(self, codec: ColumnCodec) -> int:
        """How many non-NULL values lie outside the column's public domain."""
        if codec.kind == "category":
            declared = set(codec.categories)
            return sum(n for v, n in self.categories.items() if v not in declared)
        return self.below + self.above


@dataclass(frozen=True)
class SyntheticSummary:
    """Code tally and decoded-value summaries of some synthetic rows (see the module doc)."""

    codes: CodeTally
    values: tuple[ColumnValues, ...]

    @property
    def rows(self) -> int:
        """Number of rows summarised."""
        return self.codes.rows

    def plus(self, other: SyntheticSummary) -> SyntheticSummary:
        """The summary of both sets of rows (e.g. the table so far and one more chunk)."""
        return SyntheticSummary(
            self.codes.plus(other.codes),
            tuple(a.plus(b) for a, b in zip(self.values, other.values, strict=True)),
        )


def summarise(
    synthetic: pd.DataFrame,
    codes: pd.DataFrame | npt.NDArray[np.integer],
    codec: TableCodec,
    cliques: Iterable[Clique] = (),
) -> SyntheticSummary:
    """The summary of one decoded chunk and the codes it was decoded from.

    ``codes`` is a frame with the codec's column names or a ``(rows, columns)`` array in codec
    column order, with the same rows as ``synthetic``; ``cliques`` are tallied besides every
    column. Raises :class:`SchemaMismatchError` for structural mismatches.
    """
    names = [c.name for c in codec.columns]
    absent = [n for n in names if n not in synthetic.columns]
    if absent:
        raise SchemaMismatchError(
            f"synthetic table lacks release column(s) {absent}; decode every codec column."
        )
    code_array = _code_array(codes, names)
    if code_array.shape[0] != len(synthetic):
        raise SchemaMismatchError(
            f"codes have {code_array.shape[0]} rows but the synthetic table has "
            f"{len(synthetic)}; pass the codes the table was decoded from."
        )
    tally = CodeTally.of(code_array, codec.domain, cliques)
    return SyntheticSummary(tally, tuple(_values(synthetic[c.name], c) for c in codec.columns))


def _values(series: pd.Series, codec: ColumnCodec) -> ColumnValues:
    """The summary of one decoded column."""
    null = series.isna().to_numpy(dtype=bool)
    nulls = int(null.sum())
    present = series[~null]
    if codec.kind == "category":
        counts = present.value_counts(sort=False)
        return ColumnValues(
            codec.name, nulls, {str(v): int(n) for v, n in counts.items() if int(n) > 0}
        )
    values = present.to_numpy(dtype=np.float64)
    if values.size == 0:
        return ColumnValues(codec.name, nulls)
    lo, hi = codec.bounds
    return ColumnValues(
        codec.name,
        nulls,
        lowest=float(values.min()),
        highest=float(values.max()),
        below=int((values < lo).sum()),
        above=int((values > hi).sum()),
    )


def _code_array(
    codes: pd.DataFrame | npt.NDArray[np.integer], names: list[str]
) -> npt.NDArray[np.int64]:
    """Codes as an int64 ``(rows, columns)`` array in codec order."""
    if isinstance(codes, pd.DataFrame):
        absent = [n for n in names if n not in codes.columns]
        if absent:
            raise SchemaMismatchError(f"codes frame lacks release column(s) {absent}.")
        raw = codes[names].to_numpy()
    else:
        raw = np.asarray(codes)
    if raw.ndim != 2 or raw.shape[1] != len(names):
        raise SchemaMismatchError(
            f"codes must be a (rows, {len(names)}) array in codec column order, got shape "
            f"{raw.shape}."
        )
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        raise SchemaMismatchError(
            f"codes must be integers, got dtype {raw.dtype}; pass the synthesizer's codes."
        )
    return raw.astype(np.int64, copy=False)
