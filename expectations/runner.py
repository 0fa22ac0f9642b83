"""Shared Great Expectations plumbing: one cached context, running a suite, plain-data results.

Every suite runs through :func:`run_validations`, in the child process
(:mod:`expectations.child`) or, for tests, in this one, so the rules below hold everywhere:

* A validation without a Data Docs folder runs in one cached ephemeral context per process
  (one pandas data source, one dataframe asset, one whole-dataframe batch definition): each
  run passes its own frame as a batch parameter and validates an unsaved suite, so nothing
  accumulates between runs. Validations naming a Data Docs folder run as checkpoints of a
  fresh ephemeral context per folder (its site then shows that request's results only), one
  checkpoint per suite, run again on each frame of that suite (building a suite, its
  validation definition and checkpoint is GX work per suite, not per row), and the site is
  built once, after the last of them. A lock serialises runs because a context
  is not documented as thread-safe.
* Progress bars are off and the ``great_expectations`` logger is raised to WARNING unless
  the operator configured it.
* Results are requested with ``partial_unexpected_count=0``, so GX never even collects example
  values, and only counts, success flags and (when asked) the observed value are copied out.
* GX sees nullable numeric columns as numpy columns where that changes no verdict
  (:func:`gx_columns`): its value comparisons (``expect_column_values_to_be_between``) are
  vectorised only for numpy ``int``/``float`` dtypes and call a Python function per value
  otherwise (at 10**7 rows, most of the utility step).
* Suites arrive as :class:`~expectations.validation.ExpectationSpec` values (plain data);
  they become GX expectations here, so that building a suite never imports GX.
* An expectation that errored (``exception_info`` with ``raised_exception``; GX 1.x nests it
  under metric ids) raises :class:`ExpectationRunError` instead of reading as a failure.
"""

from __future__ import annotations

import datetime
import functools
import logging
import threading
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from expectations.errors import ExpectationRunError
from expectations.validation import ExpectationSpec, Validation

_KEY = "dprelease_check"
_RESULT_FORMAT: dict[str, object] = {"result_format": "BASIC", "partial_unexpected_count": 0}
_LOCK = threading.Lock()

_gx_logger = logging.getLogger("great_expectations")
if _gx_logger.level == logging.NOTSET:
    _gx_logger.setLevel(logging.WARNING)
# GX sets this one to INFO itself; it announces a temporary docs folder on every context.
logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result as plain data: counts and flags, never example values.

    ``observed`` is kept only when the caller asks for it (aggregate expectations over data
    that is safe to show, such as a synthetic table's row count or a distance).
    """

    check: str
    expectation: str
    column: str | None
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    missing_count: int | None = None
    observed: float | str | None = None

    def as_json(self) -> dict[str, Any]:
        """The outcome as a JSON object (floats round-trip exactly)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExpectationOutcome:
        """The inverse of :meth:`as_json`."""
        return cls(**data)


@functools.lru_cache(maxsize=1)
def _batch_definition() -> Any:
    """The process-wide whole-dataframe batch definition (created once; ~ms after import)."""
    import great_expectations as gx  # ~2.5 s and ~150 MB: imported when a suite first runs
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas("dprelease")
    asset = source.add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole-frame")


def gx_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each ``Float64`` column as numpy ``float64`` (NULL as NaN, which GX
    counts as NULL too) and each ``Int64`` column holding no NULL as numpy ``int64``; other
    columns as they are (an ``Int64`` column with a NULL stays: as ``float64`` it would fail
    its ``int64`` type check).

    The values and NULLs are the same, and GX's type check reads ``dtype.type``, which is
    ``numpy.float64``/``numpy.int64`` for both forms, so every verdict is the frame's own.
    """
    if not frame.columns.is_unique:  # rebuilt by name, a repeated column would be lost
        return frame
    columns: dict[Hashable, Any] = {}
    changed = False
    for name, column in frame.items():
        if isinstance(column.dtype, pd.Float64Dtype):
            columns[name] = column.to_numpy(dtype=np.float64, na_value=np.nan)
            changed = True
        elif isinstance(column.dtype, pd.Int64Dtype) and not column.hasnans:
            columns[name] = column.to_numpy(dtype=np.int64)
            changed = True
        else:
            columns[name] = column
    if not changed:
        return frame
    return pd.DataFrame(columns, index=frame.index, columns=frame.columns)


def prepare() -> None:
    """Import GX and create this process's cached context now, so the first validation pays
    neither: a warm child (:mod:`expectations.child`) does this while it waits."""
    _batch_definition()


def run_validation(validation: Validation) -> dict[str, ExpectationOutcome]:
    """:func:`run_suite` for one :class:`~expectations.validation.Validation` (no Data Docs)."""
    return run_suite(
        validation.frame,
        validation.checks,
        suite_name=validation.suite_name,
        keep_observed=validation.keep_observed,
    )


def run_validations(validations: Iterable[Validation]) -> list[dict[str, ExpectationOutcome]]:
    """Run each validation in turn; those naming a ``docs_dir`` run as checkpoints of one
    context per folder, whose Data Docs site is built once, after the last of them."""
    sites: dict[str, _DocsSite] = {}
    outcomes: list[dict[str, ExpectationOutcome]] = []
    for validation in validations:
        if validation.docs_dir is None:
            outcomes.append(run_validation(validation))
            continue
        site = sites.get(validation.docs_dir)
        if site is None:
            site = sites[validation.docs_dir] = _DocsSite(Path(validation.docs_dir))
        with _LOCK:
            results = site.run(validation)
        outcomes.append(
            _outcomes(validation.suite_name, validation.checks, results, validation.keep_observed)
        )
    with _LOCK:
        for site in sites.values():
            site.build()
    return outcomes


class _DocsSite:
    """A fresh ephemeral context with one local Data Docs site in ``folder``: the site shows
    this request's validations only (a cached context would list earlier ones too)."""

    SITE = "release"

    def __init__(self, folder: Path) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        # SiteBuilder's own arguments: GX's TypedDict for this config does not list the last
        # two, so the config is passed untyped.
        site_config: Any = {
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(folder),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            # The index and one page per validation result, which lists every expectation
            # with its arguments: separate suite pages would only repeat them (and each page
            # costs GX ~0.3 s of template compiling).
            "site_section_builders": {"expectations": "0", "profiling": "0"},
            "show_how_to_buttons": False,
        }
        self.context.add_data_docs_site(site_name=self.SITE, site_config=site_config)
        source = self.context.data_sources.add_pandas("dprelease")
        self.batch_definition = source.add_dataframe_asset(
            "synthetic"
        ).add_batch_definition_whole_dataframe("whole-table")
        self.checkpoints: dict[str, Any] = {}
        self.checks: dict[str, Mapping[str, ExpectationSpec]] = {}

    def run(self, validation: Validation) -> Sequence[Any]:
        """Validate the frame as one batch by the suite's checkpoint (built on the suite's
        first validation, reused by the next ones of the same suite); the GX results."""
        checkpoint = self.checkpoints.get(validation.suite_name)
        if checkpoint is None:
            checkpoint = self.checkpoints[validation.suite_name] = self._checkpoint(validation)
            self.checks[validation.suite_name] = validation.checks
        elif self.checks[validation.suite_name] != validation.checks:
            raise ExpectationRunError(
                f"suite {validation.suite_name!r} was sent with other checks than before; "
                "this is a bug in the suite builder."
            )
        run_id = None
        if validation.run_name is not None:
            from great_expectations.core.run_identifier import RunIdentifier

            # run_time given: without it GX tries to read a date out of the run name
            now = datetime.datetime.now(datetime.UTC)
            run_id = RunIdentifier(run_name=validation.run_name, run_time=now)
        run = checkpoint.run(
            batch_parameters={"dataframe": gx_columns(validation.frame)}, run_id=run_id
        )
        (result,) = run.run_results.values()
        return list(result.results)

    def _checkpoint(self, validation: Validation) -> Any:
        """A checkpoint of the validation's suite on this site's batch definition."""
        import great_expectations as gx

        suite = self.context.suites.add(
            _suite(validation.suite_name, validation.checks, validation.suite_meta)
        )
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(
                name=validation.suite_name, data=self.batch_definition, suite=suite
            )
        )
        return self.context.checkpoints.add(
            gx.Checkpoint(
                name=validation.suite_name,
                validation_definitions=[definition],
                actions=[],
                result_format=_RESULT_FORMAT,
            )
        )

    def build(self) -> None:
        """Render the site: an index, the suites and every validation result."""
        self.context.build_data_docs(site_names=[self.SITE])


def _suite(
    name: str, checks: Mapping[str, ExpectationSpec], meta: Mapping[str, Any] | None = None
) -> Any:
    """A GX suite of ``checks``, each expectation tagged with its check key."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=name, meta=dict(meta or {}))
    for key, spec in checks.items():
        expectation = spec.build()
        expectation.meta = {**(expectation.meta or {}), _KEY: key}
        suite.add_expectation(expectation)
    return suite


def run_suite(
    frame: pd.DataFrame,
    checks: Mapping[str, ExpectationSpec],
    *,
    suite_name: str,
    keep_observed: bool = False,
) -> dict[str, ExpectationOutcome]:
    """Validate ``frame`` against ``checks`` (key → expectation) in one GX suite run.

    Returns one outcome per key. Raises :class:`ExpectationRunError` naming every expectation
    that errored; its message holds the exception's class only, since GX messages can quote
    data values.
    """
    with _LOCK:
        batch_definition = _batch_definition()  # GX needs an active context to build suites
        suite = _suite(suite_name, checks)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": gx_columns(frame)})
        result = batch.validate(suite, result_format=_RESULT_FORMAT)
    return _outcomes(suite_name, checks, result.results, keep_observed)


def _outcomes(
    suite_name: str,
    checks: Mapping[str, ExpectationSpec],
    results: Iterable[Any],
    keep_observed: bool,
) -> dict[str, ExpectationOutcome]:
    """One outcome per check key from GX's results; raise if any errored or is absent."""
    outcomes: dict[str, ExpectationOutcome] = {}
    errored: list[str] = []
    for item in results:
        config = item.expectation_config
        key = str((config.meta or {}).get(_KEY))
        column = config.kwargs.get("column")
        if _raised(item.exception_info):
            errored.append(f"{config.type} on {column!r} ({_exception_class(item.exception_info)})")
            continue
        outcomes[key] = _outcome(key, config.type, column, item, keep_observed)
    if errored:
        raise ExpectationRunError(
            f"suite {suite_name!r}: {len(errored)} expectation(s) errored instead of evaluating: "
            + "; ".join(sorted(errored))
            + ". Check the frame's column types against the codec; the GX message is withheld "
            "because it can quote data values."
        )
    missing = set(checks) - set(outcomes)
    if missing:
        raise ExpectationRunError(
            f"suite {suite_name!r}: no result for check(s) {sorted(missing)}; "
            "this is a bug in the suite builder or a GX incompatibility."
        )
    return outcomes


def _outcome(
    key: str, kind: str, column: object, item: Any, keep_observed: bool
) -> ExpectationOutcome:
    """Copy the count fields (and optionally the observed value) out of one GX result."""
    res: Mapping[str, Any] = item.result or {}
    observed: float | str | None = None
    if keep_observed:
        value = res.get("observed_value")
        if isinstance(value, str):
            observed = value
        elif isinstance(value, int | float | np.integer | np.floating):
            observed = float(value)  # lists (a table's columns, values seen) are not kept
    return ExpectationOutcome(
        check=key,
        expectation=str(kind),
        column=None if column is None else str(column),
        success=bool(item.success),
        element_count=_int_or_none(res.get("element_count")),
        unexpected_count=_int_or_none(res.get("unexpected_count")),
        missing_count=_int_or_none(res.get("missing_count")),
        observed=observed,
    )


def _int_or_none(value: object) -> int | None:
    """GX's counts arrive untyped (int, numpy int or None)."""
    if value is None:
        return None
    if not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"expected a count from Great Expectations, got {type(value).__name__}")
    return int(value)


def _raised(info: object) -> bool:
    """True when GX recorded an exception, at top level or nested under a metric id."""
    if not isinstance(info, Mapping):
        return False
    if info.get("raised_exception"):
        return True
    return any(isinstance(v, Mapping) and bool(v.get("raised_exception")) for v in info.values())


def _exception_class(info: Mapping[str, Any]) -> str:
    """The exception class name from the recorded traceback's last line (no message)."""
    parts = [info, *(v for v in info.values() if isinstance(v, Mapping))]
    for part in parts:
        trace = part.get("exception_traceback")
        if isinstance(trace, str) and trace.strip():
            last = trace.strip().splitlines()[-1]
            return last.split(":", 1)[0].rsplit(".", 1)[-1]
    return "unknown exception"
