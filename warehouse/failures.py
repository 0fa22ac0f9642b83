"""Storage failures told apart: a full disk and a refused permission each get their own
one-paragraph error saying what to do, instead of a traceback or a retry loop.

DuckDB reports both as ``IOException`` (and a failed commit as ``TransactionException``) whose
text carries the operating system's reason; Python reports them as ``OSError`` with an
errno. Neither is a write conflict: retrying does not help, so callers raise these at once.
Messages name the file and the reason, never the database's own error text (which may quote
a value).
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Literal

import duckdb

from dpcore.errors import DPReleaseError

StorageKind = Literal["disk_full", "permission"]

_ERRNOS: dict[int, StorageKind] = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EACCES: "permission",
    errno.EPERM: "permission",
    errno.EROFS: "permission",
}

_TEXTS: tuple[tuple[str, StorageKind], ...] = (
    ("no space left on device", "disk_full"),
    ("disk quota exceeded", "disk_full"),
    ("disk full", "disk_full"),
    ("permission denied", "permission"),
    ("operation not permitted", "permission"),
    ("read-only file system", "permission"),
)


class StorageError(DPReleaseError):
    """The warehouse's files could not be written for a reason retrying will not fix."""


class DiskFullError(StorageError):
    """The disk holding the warehouse (or DuckDB's spill files) is full."""


class StoragePermissionError(StorageError):
    """This user may not write a file or directory the warehouse needs."""


def storage_kind(error: BaseException) -> StorageKind | None:
    """Whether ``error`` (an ``OSError`` or a DuckDB error) is a full disk or a refused
    permission; else None."""
    if isinstance(error, OSError) and error.errno is not None:
        return _ERRNOS.get(error.errno)
    if not isinstance(error, OSError | duckdb.Error):
        return None  # our own errors (already told apart) and anything else: their text
    text = str(error).lower()  # is no evidence of the machine's state
    for needle, kind in _TEXTS:
        if needle in text:
            return kind
    return None


def storage_error(error: BaseException, path: Path | None) -> StorageError | None:
    """The typed error for ``error`` if it is a storage failure; ``path`` is the file (or
    directory) being written, when the caller knows it better than the error does."""
    kind = storage_kind(error)
    if kind is None:
        return None
    where = path
    if where is None and isinstance(error, OSError) and error.filename:
        where = Path(str(error.filename))
    place = f" {where}" if where is not None else " the warehouse home"
    if kind == "disk_full":
        return DiskFullError(
            f"the disk is full: there was no space left to write{place}. Nothing half-written "
            "was kept (a release is published whole or not at all). Free space on that disk "
            "(or set $DPRELEASE_DUCKDB_TEMP to a directory on a larger one for DuckDB's spill "
            "files) and retry; a run that stopped after its charge resumes at no new cost "
            "with `dprelease run SPEC --resume RUN_ID` (`dprelease runs` lists it)."
        )
    return StoragePermissionError(
        f"permission denied: this user may not write{place} (or the file system is "
        "read-only). The warehouse home and every file in it must be writable by the user "
        "running dprelease: fix the permissions, or choose another home with --home or "
        "$DPRELEASE_HOME."
    )
