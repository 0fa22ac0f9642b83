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


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[object]:
    """A temporary PostgreSQL cluster on a loopback port for the session (skips, saying why,
    where the server binaries or psycopg are missing)."""
    from tests.postgres_cluster import missing_reason, temporary_cluster

    reason = missing_reason()
    if reason is not None:
        pytest.skip(reason)
    with temporary_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: object, monkeypatch: pytest.MonkeyPatch) -> str:
    """``$DPRELEASE_DATABASE_URL`` set to the session cluster's database, its ``privacy``
    schema dropped first: each test starts from an empty PostgreSQL store."""
    import psycopg

    from tests.postgres_cluster import Cluster
    from warehouse import postgres
    from warehouse.store import DATABASE_URL_ENV

    assert isinstance(postgres_cluster, Cluster)
    url = postgres_cluster.url()
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS privacy CASCADE")
    postgres._ensured.discard(url)
    monkeypatch.setenv(DATABASE_URL_ENV, url)
    return url


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server for the flow tests (about 20 s to start, so shared). The
    generous start-up timeout is for a loaded machine: a timeout here fails every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=240):
        yield
