"""Progress lines: one per finished step with its duration, only where a printer listens."""

from __future__ import annotations

import io
import logging

import pytest

from flows.progress import LOGGER_NAME, print_progress, step


def test_each_finished_step_prints_one_line_with_its_time() -> None:
    stream = io.StringIO()
    with print_progress(stream):
        with step("measuring marginals"):
            pass
        with step("publishing"):
            pass
    lines = stream.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["measuring", "publishing"]
    assert all(line.endswith(" s") for line in lines)
    with step("after"):  # the printer is detached again
        pass
    assert len(stream.getvalue().splitlines()) == 2


def test_a_failed_step_prints_nothing_and_the_error_passes_through() -> None:
    stream = io.StringIO()
    with print_progress(stream), pytest.raises(ValueError), step("fitting"):
        raise ValueError("boom")
    assert stream.getvalue() == ""


def test_steps_log_at_info_for_other_listeners(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    with step("publishing"):
        pass
    assert [r.getMessage().split(" ")[0] for r in caplog.records] == ["publishing", "publishing"]
