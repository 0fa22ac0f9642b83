"""The public domain of a release: ordered columns, each with a fixed number of integer codes.

A domain never comes from private rows: it is built from the spec (category lists, bin edges),
so every marginal's shape is known before any data is read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dpcore.errors import DomainError

Clique = tuple[str, ...]


@dataclass(frozen=True)
class Domain:
    """Column names with their code counts; codes of column ``c`` are ``0 .. size(c) - 1``."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.sizes):
            raise DomainError("a domain needs exactly one size per column name")
        if len(set(self.names)) != len(self.names):
            raise DomainError(f"duplicate column names in domain: {self.names}")
        for name, size in zip(self.names, self.sizes, strict=True):
            if int(size) < 1:
                raise DomainError(f"column {name!r} has an empty domain (size {size})")

    @classmethod
    def from_dict(cls, sizes: dict[str, int]) -> Domain:
        """Build a domain from ``{name: size}`` in the dict's order."""
        return cls(tuple(sizes), tuple(int(s) for s in sizes.values()))

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def size(self, name: str) -> int:
        """Number of codes of one column."""
        return self.sizes[self.index(name)]

    def index(self, name: str) -> int:
        """Position of a column in the domain's order."""
        try:
            return self.names.index(name)
        except ValueError:
            raise DomainError(f"column {name!r} is not in the domain {self.names}") from None

    def shape(self, clique: Iterable[str]) -> tuple[int, ...]:
        """Shape of the contingency table over ``clique`` (in the clique's order)."""
        return tuple(self.size(c) for c in clique)

    def cells(self, clique: Iterable[str]) -> int:
        """Number of cells of the marginal over ``clique``."""
        return math.prod(self.shape(clique))

    def project(self, clique: Sequence[str]) -> Domain:
        """The sub-domain over ``clique``, in the clique's order."""
        return Domain(tuple(clique), self.shape(clique))

    def canonical(self, clique: Iterable[str]) -> Clique:
        """``clique`` sorted into the domain's column order, duplicates removed."""
        wanted = set(clique)
        for name in wanted:
            self.index(name)
        return tuple(n for n in self.names if n in wanted)
