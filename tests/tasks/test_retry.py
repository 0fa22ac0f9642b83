"""Automatic retries only for failures that may pass on their own."""

from __future__ import annotations

import errno

from prefect.states import Failed

from dpcore.errors import BudgetExhaustedError
from tasks.budget import retry_unless_refused
from tasks.retry import retry_unless_permanent
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
