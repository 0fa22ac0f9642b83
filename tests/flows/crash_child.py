"""The real release flow in a forked child that SIGKILLs itself at one crash point.

The crash tests fork one child per crash from a fork server that imported this module (and
so the release flow and Prefect) once, which keeps each crash to a few seconds. The child
runs ``flows.release.release`` itself, the steps in the flow's own order: nothing here
repeats that order. It reports to the parent's Prefect API (the test harness), and sets
``DPRELEASE_CRASH_AT`` so that :func:`warehouse.faults.crash_point` kills it there, and
``DPRELEASE_DATABASE_URL`` as the parent has it now (a forked child has the fork server's
environment, from when it started).
"""

from __future__ import annotations

import os

from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.release import release
from warehouse.faults import ENV_VAR
from warehouse.store import DATABASE_URL_ENV


def run_release(
    spec_path: str, home: str, crash_at: str, api_url: str, database_url: str | None = None
) -> None:
    """Run the release flow on ``spec_path`` in ``home`` (its privacy store in PostgreSQL at
    ``database_url`` if given, else the home's DuckDB file); killed at ``crash_at``."""
    os.environ[ENV_VAR] = crash_at
    os.environ.pop(DATABASE_URL_ENV, None)
    if database_url:
        os.environ[DATABASE_URL_ENV] = database_url
    with temporary_settings({PREFECT_API_URL: api_url}):
        release(spec_path, home=home)
