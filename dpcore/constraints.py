"""Declared constraints: value combinations that never occur, as public structural zeros.

A steward knows from the codebook that some combinations cannot happen (education and
education_num are one code written twice; a child under 15 has never married). Such a rule
is public knowledge, like a domain: it reads no rows and costs no budget. It becomes a
:class:`StructuralZeros` table over the rule's columns, ``allowed[i, j] = False`` for the
codes no row can hold, which the graphical model multiplies into its distribution
(:func:`dpcore.synth.model.fit_model`): estimation and sampling then put exactly zero
probability there, so no synthetic row breaks the rule (no filtering after sampling).

Codes are mapped from values with the column's public codec: a category by its position, a
number by the bin holding it. A bin that holds both values the rule forbids and values it
allows cannot be zeroed without removing allowed rows, so a threshold must fall on a bin edge.
Cells involving a column's missing code are left allowed: the rules speak about values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dpcore.domain import Clique, Domain
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.errors import DomainError


@dataclass(frozen=True, eq=False)
class StructuralZeros:
    """The cells of the marginal over ``clique`` (two or more columns) that no row can occupy;
    ``allowed`` has the clique's shape and is False exactly there."""

    name: str
    clique: Clique
    allowed: npt.NDArray[np.bool_] = field(repr=False)

    def __post_init__(self) -> None:
        allowed = np.asarray(self.allowed, dtype=bool)
        allowed.setflags(write=False)
        object.__setattr__(self, "allowed", allowed)
        object.__setattr__(self, "clique", tuple(self.clique))
        if allowed.ndim != len(self.clique) or len(self.clique) < 2:
            raise DomainError(f"constraint {self.name!r}: needs a table over 2+ columns")
        if not allowed.any():
            raise DomainError(f"constraint {self.name!r} forbids every combination")

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, StructuralZeros)
            and (self.name, self.clique) == (other.name, other.clique)
            and np.array_equal(self.allowed, other.allowed)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.clique, self.allowed.tobytes()))

    def canonical(self, domain: Domain) -> StructuralZeros:
        """The same zeros with axes in the domain's column order (as the model keeps them)."""
        canon = domain.canonical(self.clique)
        if canon == self.clique:
            return self
        order = [self.clique.index(n) for n in canon]
        return StructuralZeros(self.name, canon, np.transpose(self.allowed, order))

    def violations(self, codes: npt.NDArray[np.int64], domain: Domain) -> int:
        """How many rows of a ``(rows, columns)`` code table fall in a forbidden cell."""
        index = tuple(codes[:, domain.index(c)] for c in self.clique)
        return int((~self.allowed[index]).sum())


def value_code(codec: ColumnCodec, value: object) -> int:
    """The code of one declared value under ``codec`` (a category's position, a number's
    bin); a value outside the public domain is refused."""
    if codec.kind == "category":
        text = str(value)
        if text not in codec.categories:
            raise DomainError(
                f"constraint value {text!r} is not one of column {codec.name!r}'s values"
            )
        return codec.categories.index(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DomainError(f"constraint value {value!r} for numeric column {codec.name!r}")
    low, high = codec.bounds
    if not low <= float(value) <= high:
        raise DomainError(
            f"constraint value {value!r} is outside column {codec.name!r}'s bounds "
            f"[{low:g}, {high:g}]"
        )
    edges = np.asarray(codec.edges, dtype=np.float64)
    position = int(np.searchsorted(edges, float(value), side="right")) - 1
    return min(position, len(edges) - 2)


def _threshold_codes(codec: ColumnCodec, below: float | None, at_least: float | None) -> list[int]:
    """Codes of the bins entirely below ``below`` (or entirely at or above ``at_least``)."""
    if codec.kind == "category":
        raise DomainError(f"column {codec.name!r}: 'below'/'at_least' apply to numeric columns")
    edges = [float(e) for e in codec.edges]
    threshold = below if below is not None else at_least
    assert threshold is not None
    if not edges[0] <= threshold <= edges[-1] or threshold not in edges:
        raise DomainError(
            f"column {codec.name!r}: a threshold of {threshold:g} does not fall on one of its "
            "bin edges, so a bin would hold values on both sides of the rule; move the "
            "threshold to a bin edge (or add that edge to the column's edges)"
        )
    cut = edges.index(threshold)
    return list(range(cut)) if below is not None else list(range(cut, len(edges) - 1))


def _value_codes(codec: ColumnCodec) -> list[int]:
    """Every code of a present value (the missing code excluded)."""
    return list(range(codec.value_codes))


def mapping(
    name: str, codecs: tuple[ColumnCodec, ColumnCodec], pairs: Sequence[Sequence[object]]
) -> StructuralZeros:
    """Only the listed ``(a, b)`` value pairs occur together (e.g. a code and its label);
    pairs with a missing value stay allowed."""
    a, b = codecs
    allowed = np.zeros((a.size, b.size), dtype=bool)
    for pair in pairs:
        if len(pair) != 2:
            raise DomainError(f"constraint {name!r}: each pair needs two values, got {pair!r}")
        allowed[value_code(a, pair[0]), value_code(b, pair[1])] = True
    if a.missing_code is not None:
        allowed[a.missing_code, :] = True
    if b.missing_code is not None:
        allowed[:, b.missing_code] = True
    return StructuralZeros(name, (a.name, b.name), allowed)


def implication(
    name: str,
    condition: tuple[ColumnCodec, list[int]],
    consequence: tuple[ColumnCodec, list[int]],
) -> StructuralZeros:
    """Rows whose first column holds one of ``condition``'s codes hold one of
    ``consequence``'s codes in the second (e.g. age below 15 ⇒ never married)."""
    (a, if_codes), (b, then_codes) = condition, consequence
    allowed = np.ones((a.size, b.size), dtype=bool)
    forbidden_b = [c for c in _value_codes(b) if c not in set(then_codes)]
    for code in if_codes:
        allowed[code, forbidden_b] = False
    return StructuralZeros(name, (a.name, b.name), allowed)


def condition_codes(
    codec: ColumnCodec,
    values: Sequence[object] | None = None,
    below: float | None = None,
    at_least: float | None = None,
) -> list[int]:
    """The codes a rule's side names: listed values, or bins below / at least a threshold."""
    given = [values is not None, below is not None, at_least is not None]
    if sum(given) != 1:
        raise DomainError(f"column {codec.name!r}: give exactly one of 'in', 'below' or 'at_least'")
    if values is not None:
        return sorted({value_code(codec, v) for v in values})
    return _threshold_codes(codec, below, at_least)


def check_zeros(codec: TableCodec, zeros: Sequence[StructuralZeros]) -> None:
    """Refuse zeros over unknown columns or of the wrong shape."""
    domain = codec.domain
    for z in zeros:
        for column in z.clique:
            if column not in domain.names:
                raise DomainError(f"constraint {z.name!r} names unknown column {column!r}")
        if z.allowed.shape != domain.shape(z.clique):
            raise DomainError(f"constraint {z.name!r}: table shape does not match the domain")
