"""Shared fixtures: an isolated Prefect home and offline settings for every test session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="dprelease-prefect-"))
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


@pytest.fixture(autouse=True, scope="session")
def _validations_in_process() -> Iterator[None]:
    """Great Expectations suites run in the test process, not in a child per suite run (GX's
    import, ~3 s, would be paid by every utility check). ``dprelease`` processes the tests
    start, and ``tests/expectations/test_gx_child.py``, use the child process as a run does."""
    from expectations.child import set_inline

    set_inline(True)
    yield
    set_inline(None)
