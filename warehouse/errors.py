"""Typed errors about the warehouse: sources, ledger integrity, and publishing."""

from __future__ import annotations

from dpcore.errors import DPReleaseError


class SourceError(DPReleaseError):
    """The source table cannot be used as the spec declares it."""


class SourceNotFoundError(SourceError):
    """The spec's source table does not exist in the warehouse."""


class SchemaDriftError(SourceError):
    """The source's columns or types no longer match the spec."""


class EmptySourceError(SourceError):
    """The source table has no rows."""


class LedgerError(DPReleaseError):
    """The budget ledger is inconsistent or was edited by hand."""


class CapMismatchError(LedgerError):
    """A spec declares a different lifetime cap than the one the dataset is registered with."""


class UnregisteredDatasetError(LedgerError):
    """No privacy officer has registered a lifetime cap for the dataset a release reads."""


class UnitMismatchError(LedgerError):
    """A spec's privacy unit differs from the one its dataset's cap was fixed with."""


class ChargeMissingError(LedgerError):
    """A step that needs a committed charge found none (noise is never drawn unpaid)."""


class WarehouseBusyError(DPReleaseError):
    """Another process kept a warehouse file locked longer than we were willing to wait."""


class WriteConflictError(WarehouseBusyError):
    """A transaction kept conflicting with concurrent writers for as long as we retry."""


class PublishError(DPReleaseError):
    """A release could not be published."""


class WorkerLostError(DPReleaseError):
    """A Dask worker died (killed, out of memory, its host gone) while counting a partition,
    and the cluster gave up on the task; the counts restart from the source on a retry."""
