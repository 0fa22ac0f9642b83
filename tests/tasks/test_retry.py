"""Automatic retries only for failures that may pass on their own."""

from __future__ import annotations

import errno

from prefect.states import Failed

from dpcore.errors import BudgetExhaustedError
from expectations.errors import ExpectationRunError
from tasks.budget import retry_unless_refused
from tasks.context import SourceReadError
from tasks.retry import retry_unless_permanent
from tasks.utility import UtilityCheckFailedError
from warehouse.errors import (
    CapMismatchError,
    EmptySourceError,
    SchemaDriftError,
    WriteConflictError,
)
from warehouse.failures import DiskFullError, StoragePermissionError
from warehouse.publish import ReleaseNameError
from warehouse.release_file import ReleaseFileHeldError


def test_permanent_failures_are_not_retried() -> None:
    for error in (
        DiskFullError("the disk is full"),
        StoragePermissionError("permission denied"),
        ReleaseFileHeldError("held"),
        ReleaseNameError("collides"),
    ):
        assert not retry_unless_permanent(None, None, Failed(data=error))
        assert not retry_unless_refused(None, None, Failed(data=error))
    assert not retry_unless_refused(None, None, Failed(data=BudgetExhaustedError("spent")))


def test_transient_failures_are() -> None:
    hiccup = OSError(errno.EIO, "I/O error")
    assert retry_unless_permanent(None, None, Failed(data=hiccup))
    assert retry_unless_refused(None, None, Failed(data=hiccup))


def test_refusals_are_never_retried() -> None:
    """Any typed error of ours that is not transient is an answer: retrying repeats it."""
    for error in (
        SchemaDriftError("raw.adult.age is VARCHAR, the spec says integer"),
        EmptySourceError("raw.adult has no rows"),
        CapMismatchError("the spec's cap differs"),
        UtilityCheckFailedError("failed"),
        ExpectationRunError("errored"),
    ):
        assert not retry_unless_permanent(None, None, Failed(data=error)), error


def test_transient_typed_errors_are_retried() -> None:
    for error in (
        WriteConflictError("conflicts with a concurrent run"),
        SourceReadError("reading the source failed with IOException"),
    ):
        assert retry_unless_permanent(None, None, Failed(data=error)), error


def test_each_retried_task_checks_its_failure_first() -> None:
    """Every task with retries has a retry condition (a refusal must not be retried)."""
    from tasks.budget import charge_budget
    from tasks.measure import measure
    from tasks.publish import publish_release

    for task in (charge_budget, measure, publish_release):
        assert task.retries > 0 and task.retry_condition_fn is not None, task.name
