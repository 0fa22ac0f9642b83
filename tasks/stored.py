"""Which run a refresh re-samples: the release's newest run with stored measurements.

Prefect-free, so that ``dprelease refresh`` can say "nothing to refresh" in its pre-flight,
before any Prefect server is started or contacted (:func:`flows.preflight.refresh_preflight`);
the refresh flow asks again through :mod:`tasks.refresh`.
"""

from __future__ import annotations

from dpcore.errors import DPReleaseError
from tasks.context import warehouse_paths
from warehouse.measurements import newest_measured_run


class NothingToRefreshError(DPReleaseError):
    """A refresh was asked for, but the release has no stored measurements to re-sample."""


def nothing_to_refresh(release: str) -> NothingToRefreshError:
    """The refusal for a release without stored measurements."""
    return NothingToRefreshError(
        f"release {release} has no stored measurements to refresh from: no run of it was "
        "ever charged and measured here. Run the release once (it is charged), or check "
        "the name with `dprelease runs`."
    )


def newest_stored_run(release: str, home: str | None) -> str:
    """The id of ``release``'s newest run with stored measurements; refuses if none."""
    run_id = newest_measured_run(warehouse_paths(home).warehouse, release)
    if run_id is None:
        raise nothing_to_refresh(release)
    return run_id
