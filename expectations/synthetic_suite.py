"""The synthetic table's Great Expectations suite: a steward's file, with the spec's on top.

The synthetic table is not private (it is what a release publishes), so Great Expectations
validates its rows as they are, as real batches of a pandas data source, and renders the
results as Data Docs that can be shared: only synthetic rows and values derived from the
noisy measurements (the noisy total, noisy missing shares) enter the suite or its results.

The suite has two parts:

* the steward's: a GX suite JSON file in :data:`SUITES_DIR` (``<release>.json``, else
  ``default.json``), edited by hand, holding any GX expectation (a mean, a set of values that
  must occur, ...);
* the generated one, from the spec's public domain and the noisy measurements: the columns
  in order; per column its type (as decoded: categorical, nullable integer or float), its
  domain (declared categories, or numeric bounds), no NULLs where no missing code is
  declared, else a NULL share within :func:`~expectations.noisy_marginals.share_allowance`
  (plus the utility's ``max_tvd``) of the noisy missing share; and the row count within
  ``row_tolerance`` of the rows asked for (or the noisy total).

Where both name the same expectation type and column, the generated one is used: it follows
the spec and this run's measurements. A steward tightens a generated check by adding another
expectation type (``expect_column_values_to_be_between`` with ``mostly``, say).

A table larger than one batch (:data:`BATCH_ROWS` rows) is validated batch by batch, each
against a suite with its batch size's NULL-share allowance (one suite per batch size, each
run named after its rows, so Data Docs say which rows each result covers); the row count
is then checked on the whole table by the utility report instead (a batch's row count says
nothing of the table's).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from dpcore.distributions import clipped_distribution
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.marginals import Measurement
from expectations.errors import InvalidConfigError
from expectations.noisy_marginals import OneWayEstimate, one_way_estimates, share_allowance
from expectations.validation import ExpectationSpec, Validation, snake_name

SUITES_DIR = Path(__file__).resolve().parent / "suites"
BATCH_ROWS = 500_000
"""The most rows in one GX batch: bounds the GX child's memory (GX's pandas metrics copy the
batch's columns). The child's own peak at 10**7 Adult rows, two runs each
(``bench/results/gx_synthetic_batch_rows.json``): 304-308 MB with 250,000-row batches,
387-390 MB with 500,000, 504-530 MB with 1,000,000; the step took 55-63 s, 35-46 s and
40-49 s (GX's fixed cost per batch against less overlap with producing the next)."""
DEFAULT_SUITE = "default"
# The dtypes the release decodes to (tasks.synthesize.decode_frame: categoricals, nullable
# Int64 and Float64), as GX's type check names their scalar types.
# Meta keys of a generated NULL-share expectation: the noisy missing share and the allowance.
NOISY_SHARE = "dprelease_noisy_null_share"
ALLOWANCE = "dprelease_allowance"
DECODED_TYPES = {"category": "CategoricalDtypeType", "integer": "int64", "float": "float64"}


@dataclass(frozen=True)
class StewardSuite:
    """A steward's suite file: its expectations and notes, and where it was read from."""

    path: Path
    expectations: tuple[ExpectationSpec, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)


def suite_path(release: str, folder: Path = SUITES_DIR) -> Path:
    """The steward's suite file of ``release``: ``<release>.json`` if present, else the default."""
    own = folder / f"{release}.json"
    return own if own.is_file() else folder / f"{DEFAULT_SUITE}.json"


def load_suite(release: str, folder: Path = SUITES_DIR) -> StewardSuite:
    """Read the steward's suite of ``release`` (a GX suite JSON file).

    Raises :class:`InvalidConfigError` naming the file when it is not a readable suite.
    """
    path = suite_path(release, folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        items = data.get("expectations", [])
        if not isinstance(items, list):
            raise TypeError("'expectations' is not a list")
        specs = tuple(
            ExpectationSpec(str(e["type"]), dict(e.get("kwargs") or {}), dict(e.get("meta") or {}))
            for e in items
        )
        meta = dict(data.get("meta") or {})
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise InvalidConfigError(
            f"the expectation suite {path} is not a readable Great Expectations suite "
            f"({type(error).__name__}: {error}); fix the file (a JSON object with an "
            "'expectations' list of {'type': ..., 'kwargs': {...}}) and run again."
        ) from None
    return StewardSuite(path, specs, meta)


def row_band(target: float, tolerance: float) -> tuple[int, int]:
    """The whole row counts within ``tolerance`` (relative) of ``target``; the nearest whole
    number when the band is narrower than one row."""
    lo = math.ceil(target * (1.0 - tolerance) - 1e-9)
    hi = math.floor(target * (1.0 + tolerance) + 1e-9)
    if lo > hi:
        lo = hi = round(target)
    return max(lo, 0), hi


@dataclass(frozen=True)
class SuiteInputs:
    """What the generated expectations are derived from: the public codec, the noisy
    measurements' one-way estimates and total, and the utility thresholds."""

    codec: TableCodec
    estimates: Mapping[str, OneWayEstimate]
    noisy_total: float
    target_rows: float
    row_tolerance: float
    max_tvd: float
    allowance_scale: float = 1.0

    @classmethod
    def of(
        cls,
        codec: TableCodec,
        measurements: Sequence[Measurement],
        noisy_total: float,
        *,
        expected_rows: int | None,
        row_tolerance: float,
        max_tvd: float,
        allowance_scale: float = 1.0,
    ) -> SuiteInputs:
        """Inputs from the noisy measurements (rows asked for, else the noisy total)."""
        total = max(float(noisy_total), 0.0)
        return cls(
            codec,
            one_way_estimates(codec, measurements),
            total,
            total if expected_rows is None else float(expected_rows),
            row_tolerance,
            max_tvd,
            allowance_scale,
        )


def generated_checks(
    inputs: SuiteInputs, batch_rows: int, whole_table: bool
) -> dict[str, ExpectationSpec]:
    """The expectations the spec and the noisy measurements imply, for one batch of
    ``batch_rows`` rows (``whole_table``: the batch is the whole table)."""
    codec = inputs.codec
    checks: dict[str, ExpectationSpec] = {
        "columns": ExpectationSpec.of(
            "ExpectTableColumnsToMatchOrderedList", column_list=[c.name for c in codec.columns]
        )
    }
    if whole_table:
        lo, hi = row_band(inputs.target_rows, inputs.row_tolerance)
        checks["row_count"] = ExpectationSpec.of(
            "ExpectTableRowCountToBeBetween", min_value=lo, max_value=hi
        )
    for col in codec.columns:
        checks.update(_column_checks(col, inputs, batch_rows))
    return checks


def _column_checks(
    col: ColumnCodec, inputs: SuiteInputs, batch_rows: int
) -> dict[str, ExpectationSpec]:
    name = col.name
    checks = {
        f"type:{name}": ExpectationSpec.of(
            "ExpectColumnValuesToBeOfType", column=name, type_=DECODED_TYPES[col.kind]
        )
    }
    if col.kind == "category":
        checks[f"domain:{name}"] = ExpectationSpec.of(
            "ExpectColumnValuesToBeInSet", column=name, value_set=list(col.categories)
        )
    else:
        low, high = col.bounds
        checks[f"domain:{name}"] = ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween",
            column=name,
            min_value=float(low),
            max_value=float(high),
        )
    if not col.has_missing:
        checks[f"not_null:{name}"] = ExpectationSpec.of(
            "ExpectColumnValuesToNotBeNull", column=name
        )
        return checks
    estimate = inputs.estimates.get(name)
    if estimate is None or col.missing_code is None:
        return checks  # no noisy 1-way counts of this column: no share to compare with
    share = float(clipped_distribution(estimate.counts)[col.missing_code])
    allowed = inputs.max_tvd + inputs.allowance_scale * share_allowance(
        estimate, inputs.noisy_total, share, batch_rows
    )
    present = 1.0 - share
    checks[f"null_share:{name}"] = ExpectationSpec(
        "ExpectColumnProportionOfNonNullValuesToBeBetween",
        {
            "column": name,
            "min_value": max(0.0, round(present - allowed, 6)),
            "max_value": min(1.0, round(present + allowed, 6)),
        },
        {
            "notes": (
                f"The noisy measurements put {share:.2%} of {name} missing; the synthetic "
                f"NULL share may differ by {allowed:.2%} (noise, sampling and model error)."
            ),
            NOISY_SHARE: share,
            ALLOWANCE: allowed,
        },
    )
    return checks


def merged(
    steward: Iterable[ExpectationSpec], generated: Mapping[str, ExpectationSpec]
) -> dict[str, ExpectationSpec]:
    """The generated checks, then the steward's that no generated check replaces (same type
    and column), keyed ``suite:<type>:<column>`` (a repeat gets ``#2``, ``#3``, ...)."""
    taken = {(spec.kind, spec.column) for spec in generated.values()}
    checks = dict(generated)
    for spec in steward:
        if (spec.kind, spec.column) in taken:
            continue
        key = f"suite:{snake_name(spec.kind)}:{spec.column or ''}"
        n = 1
        while (f"{key}#{n}" if n > 1 else key) in checks:
            n += 1
        checks[f"{key}#{n}" if n > 1 else key] = spec
    return checks


def _cut(frames: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """The frames' rows in order, in pieces of at most ``rows``."""
    for frame in frames:
        if len(frame) <= rows:
            yield frame
            continue
        for start in range(0, len(frame), rows):
            yield frame.iloc[start : start + rows]


def synthetic_validations(
    batches: Iterable[pd.DataFrame],
    inputs: SuiteInputs,
    steward: StewardSuite,
    *,
    release: str,
    table_rows: int,
    docs_dir: str | None,
) -> Iterator[Validation]:
    """One validation per batch of the synthetic table (lazily: one batch held at a time),
    each of at most :data:`BATCH_ROWS` rows (a longer chunk is cut).

    Batches of one size share one suite (its checks depend on the rows only through the
    batch's size), named after that size; each run is named after the rows it validated.
    """
    start = 0
    for frame in _cut(batches, BATCH_ROWS):
        rows = len(frame)
        whole = rows == table_rows
        name = f"{release}-synthetic" if whole else f"{release}-synthetic-batches-of-{rows}"
        meta = {**steward.meta, "dprelease_suite_file": steward.path.name}
        if not whole:
            meta["dprelease_batch_rows"] = rows
        yield Validation(
            name,
            frame,
            merged(steward.expectations, generated_checks(inputs, rows, whole)),
            keep_observed=True,
            docs_dir=docs_dir,
            suite_meta=meta,
            run_name=(
                f"all {rows:,} rows"
                if whole
                else f"rows {start + 1:,}-{start + rows:,} of {table_rows:,}"
            ),
        )
        start += rows
