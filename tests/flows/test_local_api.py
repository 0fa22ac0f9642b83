"""One local Prefect API per home: started once, in the background, reused; one starter
elected among concurrent first commands; a configured PREFECT_API_URL used as is."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

import flows.local_api
from flows.cli import main
from flows.local_api import (
    PrefectUnavailableError,
    ServerFiles,
    alive,
    answers,
    ensure_api,
    read_record,
    server_environment,
    stop_server,
)
from tests.flows.conftest import write_spec
from tests.flows.test_bad_input import privacy_rows
from warehouse.paths import WarehousePaths

ROOT = Path(__file__).resolve().parents[2]


def test_the_server_environment_is_loopback_home_local_quiet_and_self_consistent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql://elsewhere/db")
    files = ServerFiles.for_home(tmp_path / "home")
    env = server_environment(files, 43210)
    assert env["PREFECT_API_URL"] == env["PREFECT_UI_API_URL"] == "http://127.0.0.1:43210/api"
    assert env["PREFECT_SERVER_API_HOST"] == "127.0.0.1"
    assert env["PREFECT_SERVER_API_PORT"] == "43210"
    assert env["PREFECT_HOME"] == str(files.root) == str((tmp_path / "home" / "prefect").resolve())
    assert env["PREFECT_API_DATABASE_CONNECTION_URL"].endswith(str(files.database))
    assert env["DO_NOT_TRACK"] == "1" and env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_an_unreachable_configured_api_is_one_paragraph_exit_2_and_charges_nothing(
    home: WarehousePaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(flows.local_api, "CONFIGURED_WAIT_S", 0.5)
    closed = "http://127.0.0.1:9/api"  # discard port: nothing answers
    before = privacy_rows(home)
    with temporary_settings({PREFECT_API_URL: closed}):
        with pytest.raises(PrefectUnavailableError, match="does not answer"):
            ensure_api(home.home)
        code = main(["--home", str(home.home), "run", write_spec(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2 and "PREFECT_API_URL=http://127.0.0.1:9/api" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert privacy_rows(home) == before
    assert not ServerFiles.for_home(home.home).record.exists()  # none started instead


@pytest.fixture
def fresh_home(tmp_path: Path) -> Iterator[Path]:
    """A home with no server; whatever a test starts there is stopped afterwards."""
    home = tmp_path / "fresh"
    yield home
    stop_server(home)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_concurrent_first_commands_start_one_server_which_later_ones_reuse(
    fresh_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(fresh_home.parent / "client-prefect")  # no profile URL either
    code = (
        "from flows.local_api import local_server; "
        f"s = local_server({str(fresh_home)!r}); print(s.pid, s.port)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = {p.communicate(timeout=300)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(outputs) == 1, outputs  # all three got the same server: one was started
    files = ServerFiles.for_home(fresh_home)
    record = read_record(files)
    assert record is not None and alive(record) and answers(record.url)
    assert f"{record.pid} {record.port}" in outputs
    assert files.database.exists()  # its database lives in the home

    again = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert again.stdout.strip() in outputs  # reused, not restarted

    with temporary_settings({PREFECT_API_URL: None}):
        assert main(["--home", str(fresh_home), "server", "status"]) == 0
        assert f"pid {record.pid}" in capsys.readouterr().out
        assert main(["--home", str(fresh_home), "server", "stop"]) == 0
        assert f"stopped the local Prefect server (pid {record.pid}" in capsys.readouterr().out
        assert not alive(record) and not files.record.exists()
        assert main(["--home", str(fresh_home), "server", "status"]) == 0
        assert "no local Prefect server" in capsys.readouterr().out
