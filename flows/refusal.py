"""Refusals end a flow run cleanly: Failed, our one paragraph as the state's message.

A refused run (any :class:`~dpcore.errors.DPReleaseError`: budget exhausted, an epsilon above
the spec's, a drifted source ...) is an answer, not a crash: its flow run ends Failed with
the error's own message as the state message, and logs it as one ERROR line, without a
traceback. The exception stays the state's data, so a caller that ran the flow in process
(the CLI, tests) still gets the typed error raised. Unexpected errors are left to Prefect,
which logs their traceback.

Prefect's task engine also logs a failing task's exception with its traceback; the
:class:`RefusalLogFilter` drops those records for our typed errors, since the flow logs the
refusal once.
"""

from __future__ import annotations

import logging

from prefect import get_run_logger
from prefect.states import Failed, State

from dpcore.errors import DPReleaseError


def refused(error: DPReleaseError) -> State[object]:
    """Log ``error`` as one ERROR line and return the Failed state the flow should end in."""
    get_run_logger().error("%s", error)
    return Failed(message=str(error), data=error)


class RefusalLogFilter(logging.Filter):
    """Drop log records that carry one of our typed errors as their exception.

    They are refusals the flow reports itself (:func:`refused`); a traceback would only
    bury the message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record except one whose ``exc_info`` is a :class:`DPReleaseError`."""
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, DPReleaseError)


_FILTER = RefusalLogFilter()


def install_refusal_filter() -> None:
    """Attach the filter to Prefect's task-run logger (idempotent)."""
    logger = logging.getLogger("prefect.task_runs")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
