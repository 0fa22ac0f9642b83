"""Kill -9 at every step of a release: the warehouse stays consistent and the run resumes.

Each crash runs in a child process that SIGKILLs itself at a named point
(``warehouse.faults``): no ``except``, ``finally`` or ``atexit`` code runs, as with
``kill -9`` or the OOM killer. Every child runs the real Prefect flow: most are forked from a
fork server that imported it once (``tests/flows/crash_child.py``), which keeps each crash to
a few seconds; a few start a fresh interpreter, as a worker would. A real run passes every
crash point, in the order of ``CRASH_POINTS`` (checked first), so no list of steps is kept
here. After each crash the test checks, from the outside (``tests/flows/invariants.py``):

* the ledger verifies; no measurement without its charge; no release without its charge and
  its measurements; every version complete, the view on the newest, no stray table;
* the killed run's charge, measurements and release are there exactly when the crash came
  after they were committed;
* the run log shows the killed run as failed, at the status it reached, saying how to go on
  (or as published when it was killed after its release went live);
* ``release(..., resume_run_id=RUN_ID)`` (what ``dprelease run SPEC --resume RUN_ID`` calls)
  publishes exactly one new version without a second charge, reusing stored measurements;
  a run killed before its charge cannot be resumed, and says to start a new run.

Inside the publish, two rounds run in the same warehouse, so the second crash happens with a
live release that must survive it intact.

The same crashes, at a representative subset of points (:data:`POSTGRES_POINTS`: just after
the charge, just after the measurements, inside the publish), also run with the privacy
store in PostgreSQL (``$DPRELEASE_DATABASE_URL``, a temporary cluster on a loopback port;
skipped, saying why, without PostgreSQL's server binaries); ``DPRELEASE_CRASH_ALL_POSTGRES=1``
runs every point there: the charge, the measurements and
the run log then live in another database than the release file, and must still agree.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from pathlib import Path

import duckdb
import pytest

from dpcore.synth.registry import get_synthesizer
from flows.release import ResumeError, release
from flows.spec import load_spec
from tests.flows.conftest import write_spec
from tests.flows.crash_child import run_release
from tests.flows.invariants import Snapshot, check_invariants
from tests.registration import register_cap
from warehouse.faults import CRASH_POINTS, ENV_VAR, recording
from warehouse.paths import WarehousePaths
from warehouse.runs import RunRecord, get_run, list_runs
from warehouse.seed import seed_adult
from warehouse.store import database_url

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

# The Adult spec with the fast synthesizer: these tests are about the release path, not the
# method (written once, outside any test's tmp_path, as the fork server imports nothing else).
SPEC = write_spec(
    Path(tempfile.mkdtemp(prefix="dprelease-crash-spec-")), synthesizer__method="independent"
)
REQUEST = load_spec(SPEC).to_request(SPEC)
# Two crash-and-resume rounds inside the publish, where the second crash meets the first
# run's charge and its live published version, which must survive it intact; one round at
# every other point (the suite's time: each round is a release and its resume).
ROUNDS = {"while-publishing": 2}


@dataclass(frozen=True)
class Expected:
    """What a run killed at a point has committed, and the status the run log last saw."""

    charged: bool
    measured: bool
    published: bool
    status: str


EXPECTED = {
    "after-validation": Expected(False, False, False, "validated"),
    "after-charge": Expected(True, False, False, "validated"),
    "while-measuring": Expected(True, False, False, "charged"),
    "after-measurements": Expected(True, True, False, "charged"),
    "while-synthesizing": Expected(True, True, False, "measured"),
    "while-publishing": Expected(True, True, False, "measured"),
    "before-rename": Expected(True, True, False, "measured"),
    "after-rename": Expected(True, True, True, "measured"),
}


def test_every_crash_point_is_covered() -> None:
    assert set(EXPECTED) == set(CRASH_POINTS)


def test_a_real_run_passes_every_crash_point_in_order(crash_home: WarehousePaths) -> None:
    """The flow reaches each point of ``CRASH_POINTS``, in order, so killing it at each one
    (below) kills it at every step; a step added without its point, or a point no run
    reaches, fails here."""
    with recording() as reached:
        outcome = release(SPEC, home=str(crash_home.home))
    assert outcome.version == 1
    assert tuple(dict.fromkeys(reached)) == CRASH_POINTS


@pytest.fixture(scope="module")
def forkserver() -> ForkServerContext:
    """A fork server with the release code imported once; each crash is a fork of it."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.flows.crash_child"])
    return context


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A warehouse file with Adult loaded, built once and copied into each home."""
    paths = WarehousePaths.from_env(tmp_path_factory.mktemp("seed"))
    seed_adult(paths.warehouse)
    register_cap(paths, REQUEST)
    return paths.warehouse.read_bytes()


@pytest.fixture
def crash_home(tmp_path: Path, seeded: bytes) -> WarehousePaths:
    paths = WarehousePaths.from_env(tmp_path / "home")
    paths.warehouse.write_bytes(seeded)
    return paths


MEASUREMENTS = len(
    get_synthesizer(REQUEST.method, **REQUEST.synthesizer_options).plan(
        REQUEST.codec.domain, REQUEST.cost.rho
    )
)


def consistent(paths: WarehousePaths) -> Snapshot:
    return check_invariants(paths, REQUEST.dataset, REQUEST.name, MEASUREMENTS)


def check_killed_run(
    paths: WarehousePaths, run_id: str, point: str, before: Snapshot
) -> tuple[Snapshot, RunRecord]:
    """Invariants after the crash, what the run committed, and how the run log shows it."""
    expected = EXPECTED[point]
    after = consistent(paths)
    assert (run_id in after.charged) == expected.charged
    assert after.charged - {run_id} == before.charged  # nobody else was charged
    assert (run_id in after.measured) == expected.measured
    assert (run_id in after.published) == expected.published
    assert {r: v for r, v in after.published.items() if r != run_id} == before.published

    (record,) = [r for r in list_runs(paths.warehouse, REQUEST.name) if r.run_id == run_id]
    if expected.published:
        assert record.status == "published" and record.error is None
        assert record.version == after.published[run_id]
        return after, record
    assert record.status == "failed", record
    assert record.error is not None
    assert f"stopped (killed or crashed) at status {expected.status}" in record.error
    if expected.charged:
        assert f"dprelease run {SPEC} --resume {run_id}" in record.error
    else:
        assert "start a new run" in record.error and "--resume" not in record.error
    return after, record


def resume_and_check(paths: WarehousePaths, run_id: str, point: str, killed: Snapshot) -> None:
    """Resume the killed run through the flow: one version, no second charge, same noise."""
    expected = EXPECTED[point]
    if not expected.charged:
        with pytest.raises(ResumeError, match="start a new run"):
            release(SPEC, resume_run_id=run_id, home=str(paths.home))
        assert consistent(paths).charged == killed.charged
        return
    outcome = release(SPEC, resume_run_id=run_id, home=str(paths.home))
    done = consistent(paths)
    assert outcome.resumed and outcome.run_id == run_id
    assert done.charged == killed.charged  # no second charge
    assert done.spent == killed.spent
    assert done.published[run_id] == outcome.version
    assert len(done.published) == len(killed.published) + (0 if expected.published else 1)
    if expected.measured:  # the stored noise was reused, not redrawn
        assert done.measured[run_id] == killed.measured[run_id]
    record = get_run(paths.warehouse, run_id)
    assert record is not None and record.status == "published"
    assert not list(paths.home.glob(".release-*")), "a staging file was left behind"


def fork_run(context: ForkServerContext, paths: WarehousePaths, point: str) -> str:
    """Run the flow in a forked child killed at ``point``; the id of the run it started."""
    import prefect.settings

    before = {r.run_id for r in list_runs(paths.warehouse)}
    api = str(prefect.settings.PREFECT_API_URL.value())
    args = (SPEC, str(paths.home), point, api, database_url())
    child = context.Process(target=run_release, args=args)
    child.start()
    child.join(timeout=180)
    assert child.exitcode == -signal.SIGKILL, f"the child was not killed at {point}"
    (run_id,) = {r.run_id for r in list_runs(paths.warehouse)} - before
    return run_id


def crash_and_resume(
    context: ForkServerContext, paths: WarehousePaths, point: str, rounds: int
) -> None:
    """``rounds`` times: a run killed at ``point``, checked, resumed and checked again."""
    for _ in range(rounds):
        before = consistent(paths)
        run_id = fork_run(context, paths, point)
        killed, _ = check_killed_run(paths, run_id, point, before)
        resume_and_check(paths, run_id, point, killed)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_run_killed_at_each_step_leaves_the_warehouse_consistent(
    point: str, forkserver: ForkServerContext, crash_home: WarehousePaths
) -> None:
    crash_and_resume(forkserver, crash_home, point, ROUNDS.get(point, 1))


# The suite runs a representative subset with PostgreSQL (suite time); set
# DPRELEASE_CRASH_ALL_POSTGRES=1 to run every crash point on it, as before a release of
# dprelease: `DPRELEASE_CRASH_ALL_POSTGRES=1 pytest tests/flows/test_crashes.py -k postgresql`.
POSTGRES_POINTS = (
    CRASH_POINTS
    if os.environ.get("DPRELEASE_CRASH_ALL_POSTGRES") == "1"
    else ("after-charge", "after-measurements", "while-publishing")
)


@pytest.mark.parametrize("point", POSTGRES_POINTS)
def test_a_run_killed_with_the_ledger_in_postgresql_resumes_without_a_second_charge(
    point: str, forkserver: ForkServerContext, crash_home: WarehousePaths, postgres_url: str
) -> None:
    """The crash points where the PostgreSQL store and the release file must agree: the
    charge committed but nothing measured, the measurements committed (PostgreSQL) and the
    run log behind, and the release file half written; one round each (suite time)."""
    register_cap(crash_home, REQUEST)  # in the PostgreSQL ledger, empty for each test
    crash_and_resume(forkserver, crash_home, point, 1)
    with duckdb.connect(str(crash_home.warehouse), read_only=True) as con:  # not in the file
        assert con.execute("SELECT count(*) FROM privacy.charges").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM privacy.runs").fetchall() == [(0,)]


FLOW_POINTS = ("after-charge", "before-rename")
FLOW_SCRIPT = (
    "import sys; from flows.release import release; release(sys.argv[1], home=sys.argv[2])"
)


@pytest.fixture
def flow_homes(tmp_path: Path, seeded: bytes) -> Iterator[dict[str, WarehousePaths]]:
    homes = {}
    for point in FLOW_POINTS:
        homes[point] = WarehousePaths.from_env(tmp_path / point)
        homes[point].warehouse.write_bytes(seeded)
    yield homes


def test_the_real_flow_killed_mid_release_is_failed_and_resumes(
    flow_homes: dict[str, WarehousePaths],
) -> None:
    """The Prefect flow in its own interpreter (API: the test harness), killed at a task
    boundary and inside the publish; the runs are started together, as workers would."""
    import prefect.settings

    env = {**os.environ, "PREFECT_API_URL": str(prefect.settings.PREFECT_API_URL.value())}
    children = {
        point: subprocess.Popen(
            [sys.executable, "-c", FLOW_SCRIPT, SPEC, str(paths.home)],
            env={**env, ENV_VAR: point},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for point, paths in flow_homes.items()
    }
    for point, child in children.items():
        _, err = child.communicate(timeout=180)
        assert child.returncode == -signal.SIGKILL, f"{point}: {err[-2000:]}"
    empty = Snapshot(frozenset(), {}, {}, None)
    for point, paths in flow_homes.items():
        (record,) = list_runs(paths.warehouse)
        killed, _ = check_killed_run(paths, record.run_id, point, empty)
        resume_and_check(paths, record.run_id, point, killed)
