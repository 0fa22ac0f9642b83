"""Retried I/O tasks, written once: which failures are worth an automatic retry (only those
that may pass on their own), how often and how long apart.

A full disk or a refused permission stays so until someone acts; a release file held by a
foreign session was already waited for (``$DPRELEASE_RELEASE_WAIT_S``); a name collision is
a property of the release file. Retrying them only delays the message the operator needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.states import State

from dpcore.errors import BudgetError
from warehouse.failures import StorageError
from warehouse.publish import ReleaseNameError
from warehouse.release_file import ReleaseFileHeldError

P = ParamSpec("P")
R = TypeVar("R")

RETRIES = 2
"""Automatic retries of a task that reads or writes the warehouse, after its first try."""
RETRY_DELAY_S = 1
"""Seconds between them; the warehouse's own waits (``warehouse.backoff``) come first."""

PERMANENT: tuple[type[BaseException], ...] = (
    StorageError,
    ReleaseFileHeldError,
    ReleaseNameError,
)


def retry_unless_permanent(task: object, task_run: object, state: State[object]) -> bool:
    """A Prefect ``retry_condition_fn``: retry unless the failure is one of ``PERMANENT``."""
    return not isinstance(state.data, PERMANENT)


def retry_unless_refused(task: object, task_run: object, state: State[object]) -> bool:
    """Retry unless the failure is permanent or one of our typed refusals (a ``BudgetError``:
    an exhausted budget stays so)."""
    return not isinstance(state.data, BudgetError) and retry_unless_permanent(task, task_run, state)


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
