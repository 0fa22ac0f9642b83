"""Input suite: check the source against the codec's public domain, counting problems.

Two paths give the same :class:`InputReport`:

* :func:`report_from_counts` (the release path): the counts come from one SQL aggregate in
  the warehouse (:mod:`warehouse.profile`), so the source never enters Python. GX has no
  DuckDB data source (only SQLAlchemy ones), and running GX on the handful of aggregate
  numbers would only compare them with zero again, so each check's outcome is built
  directly from the counts, with the same keys, expectation names and count fields the GX
  path writes: the run log and the report read the same either way.
* :func:`validate_input` runs the GX suite on an in-memory frame (small tables, and the
  reference the SQL path is tested against). Where the frame has lost information the SQL
  path follows the encoder: NaN is a value outside the domain (in a frame it reads as NULL),
  a number token such as ``-1`` matches ``-1.0`` on a DOUBLE column, and a category column
  compares ``CAST(x AS VARCHAR)`` (a DOUBLE 1.0 is ``1.0``, not ``1``).

On the frame path, the frame holds the release columns as read from the source (category
strings, numbers, NULLs, missing tokens, values outside the domain). The suite is built from
the codec alone:

* every column: it exists (a missing one raises :class:`SchemaMismatchError` before GX runs);
  not-null when the column has no missing code;
* category columns: values in ``categories ∪ missing_tokens``, compared as text the way the
  encoder does (``CAST(x AS VARCHAR)``: the number 1 matches the category "1");
* numeric columns: missing tokens are set aside, numbers are read as float64, and then the
  values must be numeric (type check) and between the codec's bounds. If some values are not
  numbers the type check fails and the range check is skipped (it cannot be evaluated).

The :class:`InputReport` holds counts only, never source values: it is for operators and is
computed from private rows, so it must not be published, and a release must not be gated
on it (acting on a statistic of private rows would itself be a release). Value-level
problems never raise; the codec's ``on_invalid`` rule handles them at encoding time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from numbers import Integral, Real
from typing import Protocol

import numpy as np
import pandas as pd

from dpcore.encoding import ColumnCodec, InvalidRule, TableCodec
from expectations.errors import SchemaMismatchError
from expectations.runner import ExpectationOutcome, run_suite
from expectations.validation import ExpectationSpec

logger = logging.getLogger(__name__)

_NUMERIC_TYPES = ["float64"]


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
    """Result of the input suite: counts per column and GX results as plain data.

    Computed from private rows: for operators only. Holds no source values.
    """

    rows: int
    success: bool
    columns: tuple[ColumnInputStats, ...]
    expectations: tuple[ExpectationOutcome, ...]
    null_key_rows: int = 0
    """Rows dropped before counting because their person key is NULL (person units only)."""

    def column(self, name: str) -> ColumnInputStats:
        """The stats of one column."""
        for stats in self.columns:
            if stats.column == name:
                return stats
        raise KeyError(name)


def validate_input(frame: pd.DataFrame, codec: TableCodec) -> InputReport:
    """Run the input suite built from ``codec`` on ``frame`` and count what it finds.

    Raises :class:`SchemaMismatchError` when declared columns are missing and
    :class:`~expectations.errors.ExpectationRunError` when an expectation errors. Columns
    of ``frame`` that the codec does not declare are ignored.
    """
    names = [c.name for c in codec.columns]
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise SchemaMismatchError(
            f"source frame lacks declared release column(s) {absent}; present columns: "
            f"{sorted(map(str, frame.columns))}. Fix the source query or the release spec "
            "so that every codec column is selected."
        )

    prepared: dict[str, pd.Series] = {}
    checks: dict[str, ExpectationSpec] = {}
    token_counts: dict[str, int] = {}
    null_counts: dict[str, int] = {}
    non_numeric: dict[str, int] = {}
    for col in codec.columns:
        raw = frame[col.name]
        tokens = raw.notna() & raw.isin(list(col.missing_tokens)) if col.missing_tokens else None
        null_counts[col.name] = int(raw.isna().sum())
        token_counts[col.name] = 0 if tokens is None else int(tokens.sum())
        if col.kind == "category":
            prepared[col.name] = _category_view(raw)
            non_numeric[col.name] = 0
        else:
            values, bad = _numeric_view(raw if tokens is None else raw.mask(tokens))
            prepared[col.name] = values
            non_numeric[col.name] = bad
        checks.update(_column_checks(col, numeric_ok=non_numeric[col.name] == 0))

    batch = pd.DataFrame({n: v.reset_index(drop=True) for n, v in prepared.items()})
    outcomes = run_suite(batch, checks, suite_name="dprelease-input")

    stats = tuple(
        _column_stats(
            col, outcomes, null_counts[col.name], token_counts[col.name], non_numeric[col.name]
        )
        for col in codec.columns
    )
    report = InputReport(
        rows=len(frame),
        success=all(o.success for o in outcomes.values()),
        columns=stats,
        expectations=tuple(outcomes[k] for k in checks),
    )
    # No log line here: the counts come from private rows and belong to the operator-only
    # report (stored in the run log), not to general logs.
    return report


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
    """The input report of a source counted elsewhere: the suite's checks, decided on counts.

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
    outcomes: dict[str, ExpectationOutcome] = {}
    for col in codec.columns:
        outcomes.update(_count_outcomes(col, by_name[col.name], rows))
    stats = tuple(
        _column_stats(
            col,
            outcomes,
            by_name[col.name].nulls,
            by_name[col.name].missing_tokens,
            by_name[col.name].non_numeric,
        )
        for col in codec.columns
    )
    return InputReport(
        rows=rows,
        success=all(o.success for o in outcomes.values()),
        columns=stats,
        expectations=tuple(outcomes.values()),
        null_key_rows=null_key_rows,
    )


def _count_outcomes(
    col: ColumnCodec, counts: ColumnCounts, rows: int
) -> dict[str, ExpectationOutcome]:
    """The outcomes :func:`_column_checks` would give, decided from one column's counts."""
    name = col.name

    def outcome(check: str, kind: str, **fields: int | None) -> tuple[str, ExpectationOutcome]:
        bad = fields.get("unexpected_count")
        success = counts.type_ok if check == "type" else not bad
        key = f"{name}:{check}"
        return key, ExpectationOutcome(key, kind, name, success, **fields)

    items = [outcome("exists", "expect_column_to_exist")]
    if not col.has_missing:
        items.append(
            outcome(
                "not_null",
                "expect_column_values_to_not_be_null",
                element_count=rows,
                unexpected_count=counts.nulls,
            )
        )
    if col.kind != "category":
        items.append(outcome("type", "expect_column_values_to_be_in_type_list"))
    if counts.out_of_domain is not None:
        kind, missing = (
            ("expect_column_values_to_be_in_set", counts.nulls)
            if col.kind == "category"
            else ("expect_column_values_to_be_between", counts.nulls + counts.missing_tokens)
        )
        items.append(
            outcome(
                "domain",
                kind,
                element_count=rows,
                unexpected_count=counts.out_of_domain,
                missing_count=missing,
            )
        )
    return dict(items)


def _category_view(values: pd.Series) -> pd.Series:
    """Category values as text, the way the encoder compares them (``CAST(x AS VARCHAR)``).

    Text columns pass unchanged; other values become text, whole numbers without a decimal
    part (an integer source column read with NULLs arrives as floats) and booleans as
    ``true``/``false``.
    """
    if isinstance(values.dtype, pd.StringDtype):
        return values
    return values.map(_as_text, na_action="ignore")


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _numeric_view(values: pd.Series) -> tuple[pd.Series, int]:
    """``values`` as float64 when every present value is a number, else unchanged.

    Returns the view and the count of present values that are not numbers (bools and
    strings count as not numbers: a numeric column must arrive typed, not as text).
    """
    if pd.api.types.is_bool_dtype(values.dtype):
        return values, int(values.notna().sum())
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.astype("float64"), 0
    present = values[values.notna()]
    is_number = present.map(lambda v: isinstance(v, Real | Decimal) and not isinstance(v, bool))
    bad = int((~is_number.astype(bool)).sum())
    if bad:
        return values, bad
    return values.astype("float64"), 0


def _column_checks(col: ColumnCodec, *, numeric_ok: bool) -> dict[str, ExpectationSpec]:
    """The expectations for one column, keyed ``column:check``."""
    name = col.name
    checks: dict[str, ExpectationSpec] = {
        f"{name}:exists": ExpectationSpec.of("ExpectColumnToExist", column=name)
    }
    if not col.has_missing:
        checks[f"{name}:not_null"] = ExpectationSpec.of(
            "ExpectColumnValuesToNotBeNull", column=name
        )
    if col.kind == "category":
        allowed = list(dict.fromkeys([*col.categories, *col.missing_tokens]))
        checks[f"{name}:domain"] = ExpectationSpec.of(
            "ExpectColumnValuesToBeInSet", column=name, value_set=allowed
        )
    else:
        checks[f"{name}:type"] = ExpectationSpec.of(
            "ExpectColumnValuesToBeInTypeList", column=name, type_list=_NUMERIC_TYPES
        )
        if numeric_ok:
            lo, hi = col.bounds
            checks[f"{name}:domain"] = ExpectationSpec.of(
                "ExpectColumnValuesToBeBetween",
                column=name,
                min_value=float(lo),
                max_value=float(hi),
            )
    return checks


def _column_stats(
    col: ColumnCodec,
    outcomes: dict[str, ExpectationOutcome],
    nulls: int,
    tokens: int,
    non_numeric: int,
) -> ColumnInputStats:
    """Fold one column's outcomes and pre-counts into its stats row."""
    mine = [o for k, o in outcomes.items() if k.startswith(f"{col.name}:")]
    domain = outcomes.get(f"{col.name}:domain")
    type_check = outcomes.get(f"{col.name}:type")
    out_of_domain = None if domain is None else domain.unexpected_count
    handled: int | None = None
    if out_of_domain is not None:
        handled = out_of_domain if col.has_missing else out_of_domain + nulls + tokens
    return ColumnInputStats(
        column=col.name,
        kind=col.kind,
        nulls=nulls,
        missing_tokens=tokens,
        out_of_domain=out_of_domain,
        non_numeric=non_numeric,
        type_ok=type_check is None or type_check.success,
        on_invalid=col.on_invalid,
        handled_by_rule=handled,
        success=all(o.success for o in mine),
    )
