"""A Great Expectations validation as plain data, so it can run in another process.

A suite is built as :class:`ExpectationSpec` values (an expectation's type and its keyword
arguments, JSON values only) rather than GX objects, so the modules that build suites never
import GX: only :mod:`expectations.runner` turns specs into expectations, in whichever
process runs them (this one, or the child of :mod:`expectations.child`).
A :class:`Validation` is one suite over one frame (one GX batch); several can run in one
child process, paying GX's import (~3 s, ~130 MB) once. A validation with ``docs_dir``
also renders its result into the GX Data Docs site in that folder.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

JSONScalar = str | int | float | bool | None
JSONValue = JSONScalar | Sequence[JSONScalar]
_SNAKE = re.compile(r"^expect(_[a-z0-9]+)+$")


def class_name(kind: str) -> str:
    """The expectation class a GX type names: ``expect_column_to_exist`` (the type in a
    suite JSON file) or ``ExpectColumnToExist`` (the class itself) → ``ExpectColumnToExist``."""
    if _SNAKE.match(kind):
        return "".join(part.capitalize() for part in kind.split("_"))
    if kind.startswith("Expect") and kind.isidentifier():
        return kind
    raise ValueError(f"not a Great Expectations expectation type: {kind!r}")


def snake_name(kind: str) -> str:
    """The GX type of a class name (``ExpectColumnToExist`` → ``expect_column_to_exist``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", class_name(kind)).lower()


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation: ``kind`` names its class in ``great_expectations.expectations``
    (``ExpectColumnValuesToBeBetween``, or its type ``expect_column_values_to_be_between``),
    ``kwargs`` its arguments and ``meta`` its notes (JSON values; GX's Data Docs show
    ``meta["notes"]``)."""

    kind: str
    kwargs: Mapping[str, JSONValue] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", class_name(self.kind))
        json.dumps(dict(self.kwargs))  # only JSON values cross a process boundary
        json.dumps(dict(self.meta))

    @classmethod
    def of(cls, kind: str, **kwargs: JSONValue) -> ExpectationSpec:
        """``ExpectationSpec.of("ExpectColumnToExist", column="age")``."""
        return cls(kind, kwargs)

    @property
    def column(self) -> str | None:
        """The column the expectation is about, if any."""
        column = self.kwargs.get("column")
        return None if column is None else str(column)

    def build(self) -> Expectation:
        """The GX expectation (imports GX: call only where a suite runs)."""
        import great_expectations.expectations as gxe

        cls = getattr(gxe, self.kind, None)
        if cls is None:
            raise ValueError(f"Great Expectations has no expectation {self.kind!r}")
        expectation: Expectation = cls(**dict(self.kwargs))
        if self.meta:
            expectation.meta = dict(self.meta)
        return expectation

    def as_json(self) -> dict[str, Any]:
        """The spec as a JSON object."""
        return {"kind": self.kind, "kwargs": dict(self.kwargs), "meta": dict(self.meta)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExpectationSpec:
        """The inverse of :meth:`as_json`."""
        return cls(str(data["kind"]), dict(data["kwargs"]), dict(data.get("meta") or {}))


@dataclass(frozen=True)
class Validation:
    """One suite (``checks``: key → expectation) to validate ``frame`` with, as one batch.

    ``keep_observed`` copies each expectation's observed value into its outcome (only for
    values that are safe to show, such as a synthetic table's row count or NULL share).
    ``docs_dir``, when set, is the folder of a GX Data Docs site the result is rendered into
    (every validation naming the same folder lands in the same site); ``suite_meta`` is the
    suite's own ``meta`` (shown there) and ``run_name`` names this run of the suite there
    (which rows were validated, say). Validations of one site that name the same suite must
    have the same checks: the suite is built once and run on each of their frames.
    """

    suite_name: str
    frame: pd.DataFrame = field(compare=False)
    checks: Mapping[str, ExpectationSpec]
    keep_observed: bool = False
    docs_dir: str | None = None
    suite_meta: Mapping[str, Any] = field(default_factory=dict)
    run_name: str | None = None
