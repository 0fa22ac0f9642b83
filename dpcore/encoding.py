"""Public per-column codecs: how source values map to integer codes and codes back to values.

Every codec is built from the spec alone. Categories keep their declared order; numeric
columns are cut into bins by declared edges: float bins are ``edges[i] <= x < edges[i+1]``
with the last bin closed at the upper bound (as numpy.histogram); integer bins hold the
integers ``edges[i] <= x < edges[i+1]``, so an integer column's largest value is
``edges[-1] - 1``. A column that declares a missing representation gets one extra
code, the last, which decodes to a missing value (NULL).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import numpy.typing as npt

from dpcore.domain import Domain
from dpcore.errors import DomainError

ColumnKind = Literal["category", "integer", "float"]
InvalidRule = Literal["missing", "clamp", "drop"]


@dataclass(frozen=True)
class ColumnCodec:
    """The public domain of one column and the rule for values outside it.

    ``missing_tokens`` are source values meaning "missing" (SQL NULL always does too when the
    column has a missing code). ``on_invalid`` says what happens to values outside the domain
    (and to NULLs in a column without a missing code): map to the missing code, clamp into
    the bounds (numeric only), or drop the row.

    ``name`` is the released column's name; ``source_column`` the column the source stores it
    in, when that differs (any identifier, e.g. ``income>50K``): only the warehouse reads it.
    """

    name: str
    kind: ColumnKind
    categories: tuple[str, ...] = ()
    edges: tuple[float, ...] = ()
    has_missing: bool = False
    missing_tokens: tuple[str, ...] = ()
    on_invalid: InvalidRule = "drop"
    source_column: str | None = None

    def __post_init__(self) -> None:
        if self.kind == "category":
            if not self.categories:
                raise DomainError(f"column {self.name!r}: a category column needs its values")
            if len(set(self.categories)) != len(self.categories):
                raise DomainError(f"column {self.name!r}: category values repeat")
            if self.on_invalid == "clamp":
                raise DomainError(f"column {self.name!r}: 'clamp' applies to numeric columns")
        else:
            edges = self.edges
            if len(edges) < 2:
                raise DomainError(f"column {self.name!r}: numeric columns need >= 2 bin edges")
            if any(not math.isfinite(e) for e in edges):
                raise DomainError(f"column {self.name!r}: bin edges must be finite")
            if any(b <= a for a, b in pairwise(edges)):
                raise DomainError(f"column {self.name!r}: bin edges must strictly increase")
            if self.kind == "integer" and any(float(e) != int(e) for e in edges):
                raise DomainError(f"column {self.name!r}: integer bin edges must be integers")
        if self.on_invalid == "missing" and not self.has_missing:
            raise DomainError(
                f"column {self.name!r}: on_invalid 'missing' needs a declared missing value"
            )

    @property
    def source(self) -> str:
        """The source column this column is read from (its own name unless declared)."""
        return self.name if self.source_column is None else self.source_column

    @property
    def bounds(self) -> tuple[float, float]:
        """Lowest and highest value a numeric column can take (both inclusive)."""
        top = self.edges[-1] - 1 if self.kind == "integer" else self.edges[-1]
        return (self.edges[0], top)

    @property
    def value_codes(self) -> int:
        """Number of codes for present (non-missing) values."""
        return len(self.categories) if self.kind == "category" else len(self.edges) - 1

    @property
    def size(self) -> int:
        """Number of codes including the missing code."""
        return self.value_codes + int(self.has_missing)

    @property
    def missing_code(self) -> int | None:
        """The code for a missing value, or None if the column has none."""
        return self.value_codes if self.has_missing else None

    def labels(self) -> list[str]:
        """Human-readable label of each code (for reports and plots)."""
        if self.kind == "category":
            labels = list(self.categories)
        else:
            labels = []
            for i, (lo, hi) in enumerate(zip(self.edges, self.edges[1:], strict=False)):
                if self.kind == "integer":
                    top = int(hi) - 1
                    labels.append(_fmt(lo) if top == lo else f"{_fmt(lo)}-{top}")
                else:
                    close = "]" if i == len(self.edges) - 2 else ")"
                    labels.append(f"[{_fmt(lo)}, {_fmt(hi)}{close}")
        if self.has_missing:
            labels.append("(missing)")
        return labels

    def decode(self, codes: npt.NDArray[np.int64], rng: np.random.Generator) -> DecodedColumn:
        """Values for ``codes``: categories by name, numbers drawn uniformly inside their bin.

        Integer columns draw integers inside the bin, so decoded values keep the declared type
        and bounds. The missing code decodes to a masked entry.
        """
        codes = np.asarray(codes, dtype=np.int64)
        missing = codes >= self.value_codes
        idx = np.where(missing, 0, codes)
        if self.kind == "category":
            values: npt.NDArray[np.generic] = np.array(self.categories, dtype=object)[idx]
            return DecodedColumn(self.name, values, missing)
        edges = np.asarray(self.edges, dtype=np.float64)
        lo, hi = edges[idx], edges[idx + 1]
        if self.kind == "integer":
            draws = lo + np.floor(rng.random(idx.shape) * (hi - lo))
            values = np.minimum(draws, hi - 1).astype(np.int64)
        else:
            values = np.minimum(lo + rng.random(idx.shape) * (hi - lo), hi)
        return DecodedColumn(self.name, values, missing)


@dataclass(frozen=True)
class DecodedColumn:
    """Decoded values of one column, with a mask of entries that are missing (NULL)."""

    name: str
    values: npt.NDArray[np.generic]
    missing: npt.NDArray[np.bool_]


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class TableCodec:
    """Codecs of all release columns, in release order."""

    columns: tuple[ColumnCodec, ...]

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise DomainError(f"duplicate column names: {names}")
        if not names:
            raise DomainError("a release needs at least one column")

    @property
    def domain(self) -> Domain:
        """The code domain (names and sizes) the synthesizers work on."""
        return Domain(tuple(c.name for c in self.columns), tuple(c.size for c in self.columns))

    def column(self, name: str) -> ColumnCodec:
        """The codec of one column."""
        for c in self.columns:
            if c.name == name:
                return c
        raise DomainError(f"column {name!r} is not a release column")
