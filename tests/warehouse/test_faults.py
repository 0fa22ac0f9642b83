"""The test-only fault injection's arming: each armed file kills exactly one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from warehouse.faults import ARMED_ENV, ENV_VAR, crash_point

PASS_POINT = (
    "from warehouse.faults import crash_point; crash_point('while-counting'); print('passed')"
)


def pass_point(armed: Path) -> int:
    """The exit code of a fresh process reaching ``while-counting``, armed by ``armed``."""
    env = {**os.environ, ENV_VAR: "while-counting", ARMED_ENV: str(armed)}
    done = subprocess.run([sys.executable, "-c", PASS_POINT], env=env, capture_output=True)
    return done.returncode


def test_an_armed_point_kills_one_process_per_file(tmp_path: Path) -> None:
    armed = tmp_path / "armed"
    armed.mkdir()
    assert pass_point(armed) == 0  # started armed-able, nothing armed yet: passes
    (armed / "a").touch()
    (armed / "b").touch()
    assert [pass_point(armed) for _ in range(3)] == [-signal.SIGKILL, -signal.SIGKILL, 0]
    assert not list(armed.iterdir())


def test_a_worker_point_is_known_and_harmless_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    crash_point("while-counting")  # a worker's point: no error, no kill
    with pytest.raises(ValueError, match="unknown crash point"):
        crash_point("while-dreaming")
