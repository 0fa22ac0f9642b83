"""Codebook files: the public domains of a table's columns, as ``dprelease init`` reads them.

A codebook is what a data provider publishes beside a table: per column its type and
values or bounds. Two formats, one meaning.

JSON (``.json``)::

    {
      "description": "UCI Adult census extract (1994)",
      "columns": {
        "age":       {"type": "integer", "bounds": [17, 90], "bin_width": 1},
        "workclass": {"type": "category", "values": ["Private", "State-gov"], "missing": "?"},
        "gain":      {"type": "integer", "bounds": [0, 99999], "edges": [0, 1, 5000, 99999],
                      "special": [0, 99999]},
        "fnlwgt":    {"omit": true, "note": "a sampling weight, not released"}
      },
      "constraints": [ ...the spec's constraints: form, copied into the draft... ]
    }

CSV (``.csv``), one row per column, lists separated by ``|``::

    column,type,values,low,high,edges,bin_width,missing,special,omit,note
    age,integer,,17,90,,1,,,,
    workclass,category,Private|State-gov,,,,,?,,,
    fnlwgt,,,,,,,,,true,a sampling weight

Per column: ``type`` (``category``, ``integer`` or ``float``); a category's ``values``; a
number's ``bounds`` (``low``, ``high``) and optionally ``edges`` or ``bin_width`` (default:
width 1 for an integer span up to 128, else about 32 equal bins); optional ``missing`` (the
source's token(s) for missing) and ``special`` (exact integer values with their own bin);
``omit`` to leave a column out of the release (never read); ``note``, written beside the
column in the draft. A column the codebook does not list gets a placeholder in the draft.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dpcore.errors import DPReleaseError

Number = int | float
Code = str | int


class CodebookError(DPReleaseError):
    """A codebook file is missing, unreadable or invalid; the message says where and why."""


class CodebookColumn(BaseModel):
    """One column's public domain (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["category", "integer", "float"] | None = None
    values: Annotated[list[Code], Field(min_length=1)] | None = None
    bounds: tuple[Number, Number] | None = None
    edges: list[Number] | None = None
    bin_width: Number | None = None
    missing: str | list[str] | None = None
    special: list[int] | None = None
    omit: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> CodebookColumn:
        if self.omit:
            return self
        if self.type is None:
            raise ValueError("give the column's type (category, integer or float), or omit: true")
        if self.type == "category":
            if self.values is None:
                raise ValueError("a category column needs its values")
            if self.bounds or self.edges or self.bin_width or self.special:
                raise ValueError("bounds, edges, bin_width and special are for numeric columns")
        else:
            if self.bounds is None:
                raise ValueError(f"an {self.type} column needs its bounds [low, high]")
            if self.values is not None:
                raise ValueError("values are for category columns; give bounds for a number")
        return self

    def spec_entry(self) -> dict[str, Any]:
        """The column as the spec's ``columns:`` entry declares it."""
        entry: dict[str, Any] = {"type": self.type}
        if self.type == "category":
            entry["values"] = list(self.values or [])
        else:
            assert self.bounds is not None
            low, high = self.bounds
            entry["bounds"] = [low, high]
            if self.edges is not None:
                entry["edges"] = list(self.edges)
            else:
                entry["bin_width"] = self.bin_width or _default_width(self.type, low, high)
            if self.special is not None:
                entry["special"] = list(self.special)
        if self.missing is not None:
            entry["missing"] = self.missing
        return entry


def _default_width(kind: str | None, low: Number, high: Number) -> Number:
    """Width 1 for a short integer span, else about 32 equal bins (integers for integers)."""
    span = float(high) - float(low)
    if kind == "integer":
        return 1 if span <= 128 else math.ceil((span + 1) / 32)
    return span / 32


class Codebook(BaseModel):
    """A table's codebook: its columns' domains and, optionally, declared constraints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    source: str | None = Field(default=None, description="where the codebook comes from")
    columns: dict[str, CodebookColumn]
    constraints: list[dict[str, Any]] = Field(default_factory=list)


def _split(text: str) -> list[str] | None:
    text = text.strip()
    return None if not text else [part.strip() for part in text.split("|")]


def _number(text: str) -> Number:
    value = float(text)
    return (
        int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    )


def _csv_column(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row as the JSON form of a column."""
    out: dict[str, Any] = {}
    get = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
    if get.get("type"):
        out["type"] = get["type"]
    if (values := _split(get.get("values", ""))) is not None:
        out["values"] = values
    if get.get("low") or get.get("high"):
        out["bounds"] = [_number(get.get("low", "")), _number(get.get("high", ""))]
    if (edges := _split(get.get("edges", ""))) is not None:
        out["edges"] = [_number(e) for e in edges]
    if get.get("bin_width"):
        out["bin_width"] = _number(get["bin_width"])
    if (missing := _split(get.get("missing", ""))) is not None:
        out["missing"] = missing[0] if len(missing) == 1 else missing
    if (special := _split(get.get("special", ""))) is not None:
        out["special"] = [int(_number(s)) for s in special]
    if get.get("omit", "").lower() in ("true", "yes", "1"):
        out["omit"] = True
    if get.get("note"):
        out["note"] = get["note"]
    return out


def _read(path: Path) -> object:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if rows and "column" not in {k.strip().lower() for k in rows[0] if k}:
            raise ValueError("the CSV header needs a 'column' field (see `dprelease init --help`)")
        return {"columns": {r["column"].strip(): _csv_column(r) for r in rows}}
    raise ValueError("a codebook is a .json or .csv file")


def load_codebook(path: str | Path) -> Codebook:
    """Read and validate a codebook file; raises ``CodebookError`` naming file and field."""
    p = Path(path)
    try:
        data = _read(p)
    except OSError as error:
        raise CodebookError(f"cannot read codebook {p}: {error.strerror}") from None
    except ValueError as error:  # JSON syntax, a non-number in low/high, an unknown suffix
        raise CodebookError(f"codebook {p} is not valid: {error}") from None
    try:
        return Codebook.model_validate(data)
    except ValidationError as error:
        lines = [f"invalid codebook {p}:"]
        for e in error.errors():
            loc = ".".join(str(x) for x in e["loc"])
            lines.append(f"  - {loc or '(top level)'}: {e['msg'].removeprefix('Value error, ')}")
        raise CodebookError("\n".join(lines)) from None
