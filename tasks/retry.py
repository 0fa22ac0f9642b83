"""Which task failures are worth an automatic retry: only those that may pass on their own.

A refusal (any of our typed errors: an exhausted budget, a drifted source, an epsilon
above the spec's ...) gives the same answer every time, so it is never retried: the run
ends Failed with its message at once. Neither are the machine's failures that stay until
someone acts (a full disk, a refused permission), a release file held by a foreign session
(already waited for, ``$DPRELEASE_RELEASE_WAIT_S``) or a name collision. What may pass on
its own is retried: an unexpected exception (an I/O hiccup), a write conflict with a
concurrent run, and a source read that failed with an error whose text was withheld.
"""

from __future__ import annotations

from prefect.states import State

from dpcore.errors import DPReleaseError
from tasks.context import SourceReadError
from warehouse.errors import WarehouseBusyError
from warehouse.release_file import ReleaseFileHeldError

TRANSIENT: tuple[type[DPReleaseError], ...] = (WarehouseBusyError, SourceReadError)
"""Our typed errors that may pass on their own (everything else of ours is a refusal)."""

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
