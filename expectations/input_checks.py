"""Input checks: the source against the codec's public domain, as counts taken in SQL.

The counts come from one SQL aggregate in the warehouse (:mod:`warehouse.profile`, which
the Dask engine runs per partition too), so the source never enters Python, and
:func:`report_from_counts` decides each check on them. These are plain checks, not Great
Expectations: GX has no DuckDB data source, its SQLAlchemy path fails with DuckDB 2.x through
duckdb-engine (its metric queries do not run), and a private table must not be copied into a
frame to run it. The checks, per release column (each an :class:`InputCheck`):

* ``exists``: the column is there (a missing one is refused before, with its own message);
* ``not_null``: no NULLs, when the column has no missing code;
* ``type``: a numeric column's present values are all numbers;
* ``domain``: present values (not NULL, not a missing token) inside the declared categories
  (compared as the encoder does, as text) or the numeric bounds.

The :class:`InputReport` holds counts only, never source values: it is for operators and is
computed from private rows, so it must not be published, and a release must not be gated
on it (acting on a statistic of private rows would itself be a release). Value-level
problems never raise; the codec's ``on_invalid`` rule handles them at encoding time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from dpcore.encoding import ColumnCodec, InvalidRule, TableCodec
from expectations.errors import SchemaMismatchError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputCheck:
    """One input check of one column, decided on counts: ``exists``, ``not_null``, ``type``
    or ``domain`` (see the module doc). Counts only, never values."""

    check: str
    column: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    missing_count: int | None = None


@dataclass(frozen=True)
class ColumnInputStats:
    """Counts for one release column of the source frame (no values).

    ``out_of_domain`` counts present values (not NULL, not a missing token) outside the
    declared categories or bounds; it is None when the type check failed and the range check
    could not run. ``handled_by_rule`` is how many values the codec's ``on_invalid`` rule
    will act on: out-of-domain values, plus NULLs and missing tokens if the column has no
    missing code.
    """

    column: str
    kind: str
    nulls: int
    missing_tokens: int
    out_of_domain: int | None
    non_numeric: int
    type_ok: bool
    on_invalid: InvalidRule
    handled_by_rule: int | None
    success: bool


@dataclass(frozen=True)
class InputReport:
    """Result of the input checks: counts per column and each check's outcome.

    Computed from private rows: for operators only. Holds no source values.
    """

    rows: int
    success: bool
    columns: tuple[ColumnInputStats, ...]
    checks: tuple[InputCheck, ...]
    null_key_rows: int = 0
    """Rows dropped before counting because their person key is NULL (person units only)."""

    def column(self, name: str) -> ColumnInputStats:
        """The stats of one column."""
        for stats in self.columns:
            if stats.column == name:
                return stats
        raise KeyError(name)


class ColumnCounts(Protocol):
    """One column's counts as the warehouse computes them (e.g. ``warehouse.profile``)."""

    @property
    def column(self) -> str: ...
    @property
    def nulls(self) -> int: ...
    @property
    def missing_tokens(self) -> int: ...
    @property
    def out_of_domain(self) -> int | None: ...
    @property
    def non_numeric(self) -> int: ...
    @property
    def type_ok(self) -> bool: ...


def report_from_counts(
    rows: int, counts: Sequence[ColumnCounts], codec: TableCodec, null_key_rows: int = 0
) -> InputReport:
    """The input report of a source counted in SQL: every check decided on its counts.

    ``null_key_rows`` is how many rows a person-level release drops for their NULL key.

    Raises :class:`SchemaMismatchError` when a declared column has no counts.
    """
    by_name = {c.column: c for c in counts}
    absent = [c.name for c in codec.columns if c.name not in by_name]
    if absent:
        raise SchemaMismatchError(
            f"no counts for declared release column(s) {absent}; the source profile must "
            "cover every codec column."
        )
    checks = [check for col in codec.columns for check in _checks(col, by_name[col.name], rows)]
    stats = tuple(
        _column_stats(col, [c for c in checks if c.column == col.name], by_name[col.name])
        for col in codec.columns
    )
    return InputReport(
        rows=rows,
        success=all(c.success for c in checks),
        columns=stats,
        checks=tuple(checks),
        null_key_rows=null_key_rows,
    )


def _checks(col: ColumnCodec, counts: ColumnCounts, rows: int) -> list[InputCheck]:
    """One column's checks (see the module doc), decided from its counts."""
    name = col.name
    checks = [InputCheck("exists", name, True)]
    if not col.has_missing:
        checks.append(
            InputCheck("not_null", name, not counts.nulls, rows, unexpected_count=counts.nulls)
        )
    if col.kind != "category":
        checks.append(
            InputCheck("type", name, counts.type_ok, rows, unexpected_count=counts.non_numeric)
        )
    if counts.out_of_domain is not None:
        set_aside = counts.nulls + (counts.missing_tokens if col.kind != "category" else 0)
        checks.append(
            InputCheck(
                "domain",
                name,
                not counts.out_of_domain,
                rows,
                unexpected_count=counts.out_of_domain,
                missing_count=set_aside,
            )
        )
    return checks


def _column_stats(
    col: ColumnCodec, checks: Sequence[InputCheck], counts: ColumnCounts
) -> ColumnInputStats:
    """Fold one column's checks and counts into its stats row."""
    out_of_domain = counts.out_of_domain
    handled: int | None = None
    if out_of_domain is not None:
        handled = (
            out_of_domain
            if col.has_missing
            else out_of_domain + counts.nulls + counts.missing_tokens
        )
    return ColumnInputStats(
        column=col.name,
        kind=col.kind,
        nulls=counts.nulls,
        missing_tokens=counts.missing_tokens,
        out_of_domain=out_of_domain,
        non_numeric=counts.non_numeric,
        type_ok=counts.type_ok,
        on_invalid=col.on_invalid,
        handled_by_rule=handled,
        success=all(c.success for c in checks),
    )
