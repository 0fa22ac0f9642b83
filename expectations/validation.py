"""A Great Expectations validation as plain data, so it can run in another process.

A suite is built as :class:`ExpectationSpec` values (an expectation's class name and its
keyword arguments, JSON values only) rather than GX objects, so the modules that build
suites never import GX: only :mod:`expectations.runner` turns specs into expectations, in
whichever process runs them (this one, or the child of :mod:`expectations.child`).
A :class:`Validation` is one suite over one frame; several can run in one child process,
paying GX's import (~3 s, ~130 MB) once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

JSONScalar = str | int | float | bool | None
JSONValue = JSONScalar | Sequence[JSONScalar]


@dataclass(frozen=True)
class ExpectationSpec:
    """One expectation: ``kind`` names its class in ``great_expectations.expectations``
    (e.g. ``ExpectColumnValuesToBeBetween``), ``kwargs`` its arguments (JSON values)."""

    kind: str
    kwargs: Mapping[str, JSONValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.kind.startswith("Expect") or not self.kind.isidentifier():
            raise ValueError(f"not a Great Expectations expectation class name: {self.kind!r}")
        json.dumps(dict(self.kwargs))  # only JSON values cross a process boundary

    @classmethod
    def of(cls, kind: str, **kwargs: JSONValue) -> ExpectationSpec:
        """``ExpectationSpec.of("ExpectColumnToExist", column="age")``."""
        return cls(kind, kwargs)

    def build(self) -> Expectation:
        """The GX expectation (imports GX: call only where a suite runs)."""
        import great_expectations.expectations as gxe

        cls = getattr(gxe, self.kind, None)
        if cls is None:
            raise ValueError(f"Great Expectations has no expectation {self.kind!r}")
        expectation: Expectation = cls(**dict(self.kwargs))
        return expectation

    def as_json(self) -> dict[str, Any]:
        """The spec as a JSON object."""
        return {"kind": self.kind, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExpectationSpec:
        """The inverse of :meth:`as_json`."""
        return cls(str(data["kind"]), dict(data["kwargs"]))


@dataclass(frozen=True)
class Validation:
    """One suite (``checks``: key → expectation) to validate ``frame`` with.

    ``keep_observed`` copies each expectation's observed value into its outcome (only for
    aggregates that are safe to show, such as a distance or a synthetic row count).
    """

    suite_name: str
    frame: pd.DataFrame = field(compare=False)
    checks: Mapping[str, ExpectationSpec]
    keep_observed: bool = False
