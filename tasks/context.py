"""Shared plumbing for tasks: where the warehouse is, and errors that are safe to show."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from dpcore.errors import DPReleaseError
from warehouse.paths import WarehousePaths

T = TypeVar("T")


class SourceReadError(DPReleaseError):
    """Reading or encoding the source failed; details are withheld as they may hold values."""


def warehouse_paths(home: str | None) -> WarehousePaths:
    """The warehouse directory for this run (``home``, ``$DPRELEASE_HOME`` or ``.dprelease``)."""
    return WarehousePaths.from_env(home)


@contextmanager
def private_data_boundary(step: str) -> Iterator[None]:
    """Re-raise unexpected errors raised while private rows are in play without their text.

    A database error can quote the value it choked on; such text must never reach a log, the
    run log or the Prefect UI. Our own typed errors are written not to contain values, so
    they pass through unchanged.
    """
    try:
        yield
    except DPReleaseError:
        raise
    except Exception as error:
        if os.environ.get("DPRELEASE_DEBUG") == "1":
            raise
        raise SourceReadError(
            f"{step} failed with {type(error).__name__}; its details are withheld because "
            "they may quote source values. An operator can reproduce the step by hand with "
            "`dprelease run SPEC --debug` on a trusted terminal, which shows them."
        ) from None


def call_private(step: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` inside :func:`private_data_boundary`."""
    with private_data_boundary(step):
        return fn()
