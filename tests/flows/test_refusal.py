"""A refused run ends Failed with our one paragraph as its state message and one ERROR log
line, without a traceback; unexpected errors keep theirs."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogHandler

from dpcore.errors import BudgetExhaustedError, DPReleaseError
from expectations import child
from flows.overrides import ReleaseOverrides
from flows.refusal import RefusalLogFilter
from flows.release import release
from tests.flows.conftest import write_spec
from tests.registration import register_spec
from warehouse.paths import WarehousePaths

pytestmark = pytest.mark.usefixtures("prefect_harness")


async def _logs(flow_run_id: Any) -> list[Any]:
    async with get_client() as client:
        return await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )


def run_logs(flow_run_id: Any) -> list[Any]:
    """The flow run's logs as the UI shows them (task runs' included)."""
    APILogHandler().flush()  # the log worker is shared: this drains it
    return asyncio.run(_logs(flow_run_id))


def assert_clean_refusal(state: Any, *phrases: str) -> None:
    assert state.is_failed()
    message = state.message or ""
    for phrase in phrases:
        assert phrase in message, message
    assert "Traceback" not in message and "Flow run encountered an exception" not in message
    logs = run_logs(state.state_details.flow_run_id)
    errors = [log for log in logs if log.level >= logging.ERROR]
    assert [log.message for log in errors] == [message], [log.message for log in errors]
    assert not any("Traceback" in log.message for log in logs)


def test_an_override_refusal_is_the_state_message_without_a_traceback(
    home: WarehousePaths, tmp_path: Path
) -> None:
    state = release(
        write_spec(tmp_path),
        home=str(home.home),
        overrides=ReleaseOverrides(epsilon=3.0),
        return_state=True,
    )
    assert_clean_refusal(state, "higher than the spec's epsilon 1", "Leave epsilon empty")


def test_a_refusal_raised_inside_a_task_is_logged_once_without_a_traceback(
    home: WarehousePaths, tmp_path: Path
) -> None:
    """Schema drift is found by the validate task here (no CLI pre-flight, as when
    scheduled): the task's own traceback record is dropped; the flow logs the message."""
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("ALTER TABLE raw.adult ALTER age TYPE BOOLEAN")
    state = release(write_spec(tmp_path), home=str(home.home), return_state=True)
    assert_clean_refusal(state, "has not released from yet", "age is BOOLEAN")


def test_an_exhausted_budget_in_the_flow_raises_the_typed_error_to_callers(
    bare_home: WarehousePaths, tmp_path: Path
) -> None:
    home = bare_home
    spec = write_spec(tmp_path, privacy__cap={"epsilon": 1.0, "delta": 1.0e-6})
    register_spec(home, spec)
    release(spec, home=str(home.home))
    with pytest.raises(BudgetExhaustedError):
        release(spec, home=str(home.home))
    state = release(spec, home=str(home.home), return_state=True)
    assert_clean_refusal(state, "raw.adult")


def test_the_filter_drops_only_records_of_our_typed_errors() -> None:
    def record(error: BaseException) -> logging.LogRecord:
        return logging.LogRecord(
            "prefect.task_runs", logging.ERROR, "", 0, "failed", None, (type(error), error, None)
        )

    def final_state(name: str) -> logging.LogRecord:
        text = f"Finished in state Failed('Task run encountered an exception {name}: why')"
        return logging.LogRecord("prefect.task_runs", logging.ERROR, "", 0, text, None, None)

    refusal = RefusalLogFilter()
    assert refusal.filter(record(BudgetExhaustedError("no budget"))) is False
    assert refusal.filter(final_state("SchemaDriftError")) is False
    assert refusal.filter(record(ValueError("a bug"))) is True  # unexpected: traceback kept
    assert refusal.filter(final_state("ValueError")) is True


@pytest.fixture
def gx_starts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Validations in a child process, as in a real run; each GX child started is recorded
    (True for a warm one) and then really started."""
    started: list[bool] = []
    start = child._start_child

    def recording(folder: Path, *, wait: bool = False) -> subprocess.Popen[bytes]:
        started.append(wait)
        return start(folder, wait=wait)

    monkeypatch.setattr(child, "_start_child", recording)
    child.set_inline(False)
    yield started
    child.set_inline(True)


def test_a_refused_run_starts_no_gx_child(
    home: WarehousePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gx_starts: list[bool]
) -> None:
    """Refused by the pre-flight or at the charge itself (another run took the budget
    meanwhile; the plan's refusal comes before it): GX's warm child starts only once the
    charge stands."""
    spec = write_spec(tmp_path)
    with pytest.raises(DPReleaseError, match="higher than the spec's epsilon"):
        release(spec, home=str(home.home), overrides=ReleaseOverrides(epsilon=3.0))

    def taken(*args: object, **kwargs: object) -> object:
        raise BudgetExhaustedError("another run took the budget meanwhile")

    monkeypatch.setattr("flows.release.charge_budget", taken)
    with pytest.raises(BudgetExhaustedError, match="meanwhile"):
        release(spec, home=str(home.home))
    assert gx_starts == []


def test_a_release_validates_in_the_child_it_warmed_after_the_charge(
    home: WarehousePaths, tmp_path: Path, gx_starts: list[bool]
) -> None:
    outcome = release(write_spec(tmp_path), home=str(home.home))
    assert outcome.utility_passed
    assert gx_starts == [True]  # one warm child, used: no cold one
    assert child._warm is None
