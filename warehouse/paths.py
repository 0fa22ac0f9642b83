"""Where the warehouse lives: one directory, ``$DPRELEASE_HOME`` (default ``./.dprelease``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dpcore.errors import DPReleaseError
from warehouse.failures import storage_error

DATA_DOCS = "data-docs"
"""The folder of ``reports`` holding each run's Great Expectations Data Docs."""


class HomeError(DPReleaseError):
    """The warehouse home cannot be used as a directory."""


@dataclass(frozen=True)
class WarehousePaths:
    """The private warehouse file, the release file consumers get, and lock files."""

    home: Path

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> WarehousePaths:
        """Paths under ``home``, else ``$DPRELEASE_HOME``, else ``./.dprelease``; created."""
        root = Path(home or os.environ.get("DPRELEASE_HOME") or ".dprelease").resolve()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise HomeError(
                f"the warehouse home {root} is not a directory (a file, or a path through "
                "one, is in its place). Give --home (or $DPRELEASE_HOME) a directory, or a "
                "path where one can be created."
            ) from None
        except OSError as error:
            failure = storage_error(error, root)
            if failure is None:
                raise
            raise failure from None
        return cls(root)

    @property
    def warehouse(self) -> Path:
        """Source tables and the ``privacy`` schema (ledger, measurements, runs)."""
        return self.home / "warehouse.duckdb"

    @property
    def release(self) -> Path:
        """Published synthetic tables and the catalog; safe to hand to consumers."""
        return self.home / "release.duckdb"

    @property
    def publish_lock(self) -> Path:
        """Serialises publishers (readers never take it)."""
        return self.home / "release.lock"

    @property
    def reports(self) -> Path:
        """Operator-only input reports and release reports."""
        path = self.home / "reports"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def data_docs(self, run_id: str) -> Path:
        """Great Expectations' Data Docs of a run's synthetic table (``index.html`` inside),
        beside the release reports: built from synthetic rows and noisy measurements only."""
        return self.reports / DATA_DOCS / run_id
