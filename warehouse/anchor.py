"""Cross-checking the budget ledger against the release catalog, a witness outside it.

The hash chain catches edited and reordered charges, but not the newest charges deleted with
``budgets.spent_rho`` lowered to match: what remains is a valid, shorter chain. Every
published version, though, records in the release file (which consumers hold copies of)
the run that paid for its measurements (a refresh's own run pays nothing) and the dataset's
cumulative epsilon at that point. So the ledger must still hold a charge for every such run,
and what it says was spent must certify at least the largest cumulative epsilon the catalog
shows; and each version records the dataset's cap, which must be the registered one (a cap
raised by hand, even with its seal recomputed, disagrees with every version published under
it). Truncating charges of runs that never published stays undetectable without a further
witness (the run log and stored measurements are a second one, see ``warehouse.ledger``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from dpcore.accounting import PrivacyCap, eps_from_rho
from warehouse.errors import LedgerError
from warehouse.paths import WarehousePaths
from warehouse.publish import fresh_reader

# Float slack when comparing a recomputed epsilon with the catalog's (same function, inputs
# rounded through DOUBLE): far below any real charge.
_REL_TOLERANCE = 1e-9

_RESTORE = (
    "No release can be charged until a privacy officer restores privacy.charges from a backup."
)


def _published(
    release: Path, dataset: str
) -> list[tuple[str, int, str, float, float, float, float]]:
    """(name, version, paying run, cumulative epsilon, cumulative delta, cap epsilon, cap
    delta) of each version.

    The paying run is the run whose charged measurements the version was sampled from: the
    version's own run, or for a refresh (which is never charged) its measurement run.
    """
    if not release.exists():
        return []
    with fresh_reader(release) as con:
        has_catalog = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'catalog' "
            "AND database_name = current_database()"
        ).fetchall()[0][0]
        if not has_catalog:
            return []
        has_source_run = con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'catalog' "
            "AND column_name = 'measurement_run' AND database_name = current_database()"
        ).fetchall()[0][0]
        paid_by = "coalesce(measurement_run, run_id)" if has_source_run else "run_id"
        return [
            (r[0], int(r[1]), r[2], float(r[3]), float(r[4]), float(r[5]), float(r[6]))
            for r in con.execute(
                f"SELECT name, version, {paid_by}, cumulative_epsilon, cumulative_delta, "
                "cap_epsilon, cap_delta FROM catalog WHERE lower(source) = ? "
                "ORDER BY name, version",
                [dataset],
            ).fetchall()
        ]


def verify_against_releases(
    warehouse: Path,
    dataset: str,
    charged_runs: Iterable[str],
    spent_rho: Decimal,
    cap: PrivacyCap | None = None,
) -> None:
    """Raise ``LedgerError`` if the release catalog shows spending the ledger lacks, or
    versions published under another cap than the registered ``cap``.

    ``warehouse`` is the ledger's file; the release file beside it is the witness.
    """
    charged = set(charged_runs)
    for name, version, run_id, cumulative_eps, cumulative_delta, cap_eps, cap_delta in _published(
        WarehousePaths(warehouse.parent).release, dataset
    ):
        if cap is not None and (cap_eps, cap_delta) != (cap.epsilon, cap.delta):
            raise LedgerError(
                f"the release catalog shows {name} version {version} published under a cap of "
                f"epsilon={cap_eps:g}, delta={cap_delta:g}, but the ledger now says "
                f"{dataset}'s cap is epsilon={cap.epsilon:g}, delta={cap.delta:g}: the "
                f"registered cap was changed. {_RESTORE}"
            )
        if run_id not in charged:
            raise LedgerError(
                f"the release catalog shows {name} version {version} paid for by run {run_id}, "
                f"but the budget ledger for {dataset} has no charge for that run: charges were "
                f"deleted. {_RESTORE}"
            )
        ledger_eps = (  # a pure cap's ledger counts epsilon itself
            float(spent_rho)
            if cumulative_delta == 0
            else eps_from_rho(float(spent_rho), cumulative_delta)
        )
        if cumulative_eps > ledger_eps * (1 + _REL_TOLERANCE):
            raise LedgerError(
                f"the release catalog shows {dataset}'s cumulative epsilon reached "
                f"{cumulative_eps:.6g} with {name} version {version}, but the budget ledger "
                f"says only epsilon={ledger_eps:.6g} was spent: charges were removed or "
                f"lowered. {_RESTORE}"
            )
