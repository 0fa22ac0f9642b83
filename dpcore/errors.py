"""Typed errors raised by the pure core; each message says what went wrong and what to do."""

from __future__ import annotations


class DPReleaseError(Exception):
    """Base class for every error this product raises on purpose."""


class DomainError(DPReleaseError):
    """A public domain is malformed or too large for the declared limits."""


class BudgetError(DPReleaseError):
    """A privacy cost or cap is invalid, or a charge would exceed the cap."""


class BudgetExhaustedError(BudgetError):
    """The dataset's remaining budget does not cover this release's cost."""


class NotPrivateError(DPReleaseError):
    """Output produced with a seeded test generator was about to be treated as private."""
