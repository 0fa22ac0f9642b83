"""The privacy unit: whom the guarantee protects, and the sensitivity that follows.

With ``key=None`` each row is a different person (add/remove one row). With a person key,
each person's contribution is bounded to ``max_rows`` rows before counting, so one person
changes any histogram by at most ``max_rows`` in L1 and L2: every measurement's sensitivity
is ``max_rows``. Mechanisms calibrated for sensitivity 1 then spend ``k**2`` times their
nominal zCDP cost (Gaussian and exponential mechanisms alike scale with the square of the
sensitivity) and ``k`` times their pure epsilon cost, so a release hands its synthesizer
``rho / k**2`` or ``epsilon / k`` (:meth:`dpcore.calculus.Calculus.unit_budget`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dpcore.errors import DomainError


def describe_unit(label: str) -> str:
    """A unit label in words, for messages (``person:pid`` → each person, by ``pid``)."""
    if label == "row":
        return "each row (privacy.unit: row)"
    key = label.removeprefix("person:")
    return f"each person identified by {key} (privacy.unit.key: {key})"


@dataclass(frozen=True)
class PrivacyUnit:
    """Rows (``key=None``) or persons identified by ``key`` with at most ``max_rows`` each."""

    key: str | None = None
    max_rows: int = 1

    def __post_init__(self) -> None:
        if self.key is None and self.max_rows != 1:
            raise DomainError("max_rows applies only with a person key")
        if not 1 <= self.max_rows <= 100_000:
            raise DomainError(f"max_rows must be between 1 and 100000, got {self.max_rows}")

    @property
    def label(self) -> str:
        """Whom the guarantee protects, as the ledger records it: ``row`` or ``person:<key>``.

        ``max_rows`` is how contributions are bounded, not whom they protect, so it is not
        part of the label: releases with different k protect the same people.
        """
        return "row" if self.key is None else f"person:{self.key}"

    @property
    def sensitivity(self) -> int:
        """The most one protected unit can change any histogram (L1 and L2)."""
        return self.max_rows if self.key is not None else 1
