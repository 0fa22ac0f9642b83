"""The release's steps as plain functions, for crash tests that fork a child per run.

``run_steps`` calls the task functions in the order ``flows.release.release`` calls them,
without Prefect (no server, no imports to pay per child): the forked child sets
``DPRELEASE_CRASH_AT`` and is killed with SIGKILL at that step. The real flow is crashed
too (``tests/flows/test_crashes.py``), so this mirror only has to reach the same steps.
"""

from __future__ import annotations

import os

from flows.spec import load_spec
from tasks.budget import charge_budget_fn, plan_release_fn, require_affordable
from tasks.measure import measure_fn
from tasks.publish import publish_fn
from tasks.runlog import start_run_fn
from tasks.synthesize import synthesize_fn
from tasks.utility import check_utility_fn, require_utility
from tasks.validate import validate_source_fn
from tests.registration import register_cap
from warehouse.faults import ENV_VAR


def run_steps(spec_path: str, home: str, run_id: str, crash_at: str | None) -> None:
    """Run one release through every step; SIGKILL at ``crash_at`` if given."""
    if crash_at is not None:
        os.environ[ENV_VAR] = crash_at
    request = load_spec(spec_path).to_request(spec_path)
    start_run_fn(request, run_id, home)
    register_cap(home, request)
    require_affordable(plan_release_fn(request, home))
    validate_source_fn(request, run_id, home)
    receipt = charge_budget_fn(request, run_id, home)
    measurements = measure_fn(request, run_id, home)
    table = synthesize_fn(request, measurements)
    utility = check_utility_fn(request, table, measurements)
    require_utility(utility, run_id)
    publish_fn(request, run_id, table, utility, receipt, home)
