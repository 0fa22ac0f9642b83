"""The real release flow in a forked child that SIGKILLs itself at one crash point.

The crash tests fork one child per crash from a fork server that imported this module (and
so the release flow and Prefect) once, which keeps each crash to a few seconds. The child
runs ``flows.release.release`` itself, the steps in the flow's own order: nothing here
repeats that order. It reports to the parent's Prefect API (the test harness), and sets
``DPRELEASE_CRASH_AT`` so that :func:`warehouse.faults.crash_point` kills it there.
"""

from __future__ import annotations

import os

from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.release import release
from warehouse.faults import ENV_VAR


def run_release(spec_path: str, home: str, crash_at: str, api_url: str) -> None:
    """Run the release flow on ``spec_path`` in ``home``; killed at ``crash_at``."""
    os.environ[ENV_VAR] = crash_at
    with temporary_settings({PREFECT_API_URL: api_url}):
        release(spec_path, home=home)
