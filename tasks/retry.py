"""Retried I/O tasks, written once: which failures are worth an automatic retry (only those
that may pass on their own), how often and how long apart.

A refusal (any of our typed errors: an exhausted budget, a drifted source, an epsilon
above the spec's ...) gives the same answer every time, so it is never retried: the run
ends Failed with its message at once. Neither are the machine's failures that stay until
someone acts (a full disk, a refused permission), a release file held by a foreign session
(already waited for, ``$DPRELEASE_RELEASE_WAIT_S``) or a name collision. What may pass on
its own is retried: an unexpected exception (an I/O hiccup), a write conflict with a
concurrent run, a source read that failed with an error whose text was withheld, and a
Dask worker lost mid-count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from dpcore.errors import DPReleaseError
from tasks.context import SourceReadError
from warehouse.errors import WarehouseBusyError, WorkerLostError
from warehouse.release_file import ReleaseFileHeldError

P = ParamSpec("P")
R = TypeVar("R")

RETRIES = 2
"""Automatic retries of a task that reads or writes the warehouse, after its first try."""
RETRY_DELAY_S = 1
"""Seconds between them; the warehouse's own waits (``warehouse.backoff``) come first."""

TRANSIENT: tuple[type[DPReleaseError], ...] = (WarehouseBusyError, SourceReadError, WorkerLostError)
"""Our typed errors that may pass on their own (everything else of ours is a refusal or a
failure that stays until someone acts: a full disk, a refused permission, a name clash); a
Dask worker lost mid-count is retried: the charge stands, the counts start again."""

NEVER: tuple[type[DPReleaseError], ...] = (ReleaseFileHeldError,)
"""Transient in kind, but already waited for before it was raised."""


def retry_unless_permanent(task: object, task_run: object, state: State[object]) -> bool:
    """A Prefect ``retry_condition_fn``: retry unexpected errors and our transient ones, never
    a refusal or a permanent failure."""
    error = state.data
    if isinstance(error, NEVER):
        return False
    if isinstance(error, DPReleaseError):
        return isinstance(error, TRANSIENT)
    return True


retry_unless_refused = retry_unless_permanent
"""The same rule, named for tasks whose typical failure is a refusal (an exhausted budget)."""


def io_task(
    name: str,
    fn: Callable[P, R],
    *,
    retry_condition: Callable[[object, object, State[object]], bool] = retry_unless_permanent,
) -> Task[P, R]:
    """``fn`` as an uncached Prefect task retried :data:`RETRIES` times, ``RETRY_DELAY_S``
    apart, when ``retry_condition`` says the failure may pass on its own.

    Uncached: each call touches the warehouse and must run (idempotence is the warehouse's
    job, per run id), never be answered from Prefect's result cache.
    """
    return task(
        name=name,
        cache_policy=NO_CACHE,
        retries=RETRIES,
        retry_delay_seconds=RETRY_DELAY_S,
        retry_condition_fn=retry_condition,
    )(fn)
