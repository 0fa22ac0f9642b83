"""Refusals end a flow run cleanly: Failed, our one paragraph as the state's message.

A refused run (any :class:`~dpcore.errors.DPReleaseError`: budget exhausted, an epsilon above
the spec's, a drifted source ...) is an answer, not a crash: its flow run ends Failed with
the error's own message as the state message, and logs it as one ERROR line, without a
traceback. The exception stays the state's data, so a caller that ran the flow in process
(the CLI, tests) still gets the typed error raised. Unexpected errors are left to Prefect,
which logs their traceback.

Prefect's task engine also logs a failing task's exception with its traceback, then its
final state ("Finished in state Failed('Task run encountered an exception
SchemaDriftError: ...')"), both at ERROR; and when a deployment's run ends Failed, the flow
engine re-raises the state's exception and logs "Engine execution exited with unexpected
exception" with its traceback. The :class:`RefusalLogFilter` drops those records for our
typed errors, since the flow logs the refusal once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TypeVar

from prefect import get_run_logger
from prefect.states import Failed, State

from dpcore.errors import DPReleaseError
from flows.served import refuse_home_override

T = TypeVar("T")


def refused(error: DPReleaseError) -> State[object]:
    """Log ``error`` as one ERROR line and return the Failed state the flow should end in."""
    get_run_logger().error("%s", error)
    return Failed(message=str(error), data=error)


def run_refusing(home: str | None, body: Callable[[], T]) -> T:
    """A flow's body, its refusals ending the run Failed (:func:`refused`): what every flow
    of dprelease does first. A deployment's run may not choose another home than the one it
    was served for (:func:`flows.served.refuse_home_override`)."""
    try:
        refuse_home_override(home)
        return body()
    except DPReleaseError as error:
        return refused(error)  # type: ignore[return-value]  # a Failed state, raised to callers


_TASK_FAILED = re.compile(r"encountered an exception (\w+):")


def _typed_error_names(cls: type[DPReleaseError] = DPReleaseError) -> set[str]:
    """The class names of :class:`DPReleaseError` and all its subclasses (loaded so far)."""
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= _typed_error_names(sub)
    return names


class RefusalLogFilter(logging.Filter):
    """Drop a task run's ERROR records about one of our typed errors.

    They are refusals the flow reports itself (:func:`refused`); a traceback would only
    bury the message. Records of any other exception pass, with their traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record except the task engine's about a :class:`DPReleaseError`: its
        traceback (``exc_info``) and its final state's line, which names the error's class."""
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, DPReleaseError):
            return False
        if record.levelno < logging.ERROR:
            return True
        found = _TASK_FAILED.search(record.getMessage())
        return found is None or found.group(1) not in _typed_error_names()


_FILTER = RefusalLogFilter()


def install_refusal_filter() -> None:
    """Attach the filter to Prefect's task-run and flow-run loggers (idempotent)."""
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
