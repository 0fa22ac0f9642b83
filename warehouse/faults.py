"""Test-only fault injection: kill this process with SIGKILL at a named step boundary.

``crash_point(name)`` does nothing unless the environment variable ``DPRELEASE_CRASH_AT``
equals ``name``; then it sends SIGKILL to its own process, as ``kill -9`` or an out-of-memory
kill would, so no ``finally``, ``except`` or ``atexit`` code runs. The crash tests
(``tests/flows/test_crashes.py``) set the variable in a child process and check that the
warehouse, the ledger, the run log and the release file are consistent afterwards. Never set
it in a deployment. It lives in ``warehouse`` so both the tasks and the publish internals
can mark their boundaries; it imports nothing but the standard library.

A Dask worker is a process of its own, started before the test knows when to kill it:
:data:`WORKER_CRASH_POINTS` mark steps that run on workers, and ``DPRELEASE_CRASH_ARMED``
names a directory of "charges". A worker started with both variables set passes the point
unharmed until a test drops a file into that directory; the first worker to reach the point
then removes one file (an atomic claim: one file, one kill, whichever worker wins) and
SIGKILLs itself. So a test kills exactly as many workers, mid-count, as it armed files.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_VAR = "DPRELEASE_CRASH_AT"
ARMED_ENV = "DPRELEASE_CRASH_ARMED"

# Every point the release path marks, in the order a run reaches them.
CRASH_POINTS = (
    "after-validation",  # the source is validated; nothing charged yet
    "after-charge",  # the charge is committed; the run log still says validated
    "while-measuring",  # inside the measurement transaction, some rows inserted
    "after-measurements",  # measurements committed; the run log still says charged
    "while-synthesizing",  # the model is fitted, the table not yet decoded
    "while-publishing",  # inside the staging file's transaction, version half written
    "before-rename",  # the staging file is committed and synced, not yet renamed live
    "after-rename",  # the new release is live; the run log is not yet marked published
)

# Points inside a Dask worker (the dask engine only; a DuckDB run never reaches them).
WORKER_CRASH_POINTS = (
    "while-counting",  # a worker is counting a partition, after the run's charge
)


_recorders: list[list[str]] = []


@contextmanager
def recording() -> Iterator[list[str]]:
    """The crash points this process passes inside the block, in order (for the test that a
    real run reaches every point of :data:`CRASH_POINTS`, in that order)."""
    reached: list[str] = []
    _recorders.append(reached)
    try:
        yield reached
    finally:
        _recorders.remove(reached)


def crash_point(name: str) -> None:
    """SIGKILL this process if ``$DPRELEASE_CRASH_AT`` is ``name``; otherwise do nothing."""
    if name not in CRASH_POINTS + WORKER_CRASH_POINTS:
        raise ValueError(f"unknown crash point {name!r}; add it to CRASH_POINTS")
    for reached in _recorders:
        reached.append(name)
    if os.environ.get(ENV_VAR) == name and _claim_armed():
        os.kill(os.getpid(), signal.SIGKILL)


def _claim_armed() -> bool:
    """True without ``$DPRELEASE_CRASH_ARMED``; with it, whether this process removed one of
    the files in that directory (each file is claimed by exactly one process)."""
    armed = os.environ.get(ARMED_ENV)
    if not armed:
        return True
    try:
        charges = sorted(Path(armed).iterdir())
    except FileNotFoundError:
        return False
    for charge in charges:
        try:
            charge.unlink()
        except FileNotFoundError:
            continue  # another worker claimed this one
        return True
    return False
