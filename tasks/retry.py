"""Which task failures are worth an automatic retry: only those that may pass on their own.

A full disk or a refused permission stays so until someone acts; a release file held by a
foreign session was already waited for (``$DPRELEASE_RELEASE_WAIT_S``); a name collision is
a property of the release file. Retrying them only delays the message the operator needs.
"""

from __future__ import annotations

from prefect.states import State

from warehouse.failures import StorageError
from warehouse.publish import ReleaseNameError
from warehouse.release_file import ReleaseFileHeldError

PERMANENT: tuple[type[BaseException], ...] = (
    StorageError,
    ReleaseFileHeldError,
    ReleaseNameError,
)


def retry_unless_permanent(task: object, task_run: object, state: State[object]) -> bool:
    """A Prefect ``retry_condition_fn``: retry unless the failure is one of ``PERMANENT``."""
    return not isinstance(state.data, PERMANENT)
