"""The warm runner: runs handed over by the console script, reused, stopped; the caller's
streams, exit code and signals; refusals that start none; what makes a runner unusable."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import prefect.settings
import pytest

import flows.runner_client as client
from flows.cli import main
from flows.runner_client import (
    ENABLED_ENV,
    RunnerFiles,
    alive,
    fingerprint,
    receive_message,
    run_warm,
    running_runners,
    send_message,
    socket_address,
    stop_runners,
)
from flows.warm_runner import _exit_code
from tests.flows.conftest import write_spec
from warehouse.paths import WarehousePaths

ROOT = Path(__file__).resolve().parents[2]
STARTED = re.compile(r"command (\d+) started")


@pytest.fixture
def runner_env(tmp_path: Path, prefect_harness: None) -> Iterator[dict[str, str]]:
    """A command's environment: the test harness's API, a short idle time, usage reported."""
    env = {k: v for k, v in os.environ.items() if k != ENABLED_ENV}
    env["PREFECT_API_URL"] = str(prefect.settings.PREFECT_API_URL.value())
    env["DPRELEASE_RUNNER_IDLE_S"] = "120"
    env[client.USAGE_ENV] = str(tmp_path / "usage.json")
    yield env


@pytest.fixture
def stopped_after(home: WarehousePaths) -> Iterator[WarehousePaths]:
    """The home, whose runners are stopped after the test."""
    yield home
    stop_runners(home.home)


def dprelease(
    env: dict[str, str], home: WarehousePaths, *argv: str, **popen: object
) -> subprocess.Popen[str]:
    """``dprelease`` as a user starts it (the console script's path: ``main()``, no argv)."""
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "--home", str(home.home), *argv],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[arg-type]
    )


def finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def runner_log(home: WarehousePaths) -> str:
    return RunnerFiles.for_home(home.home).log.read_text()


@pytest.mark.slow
@pytest.mark.timeout(500)
def test_runs_go_through_one_warm_runner_reused_until_stopped(
    stopped_after: WarehousePaths,
    runner_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = stopped_after
    spec = write_spec(tmp_path)
    code, out, err = finished(dprelease(runner_env, home, "run", spec))
    assert code == 0, err
    assert "published release.adult -> adult_v1" in out  # the caller's stdout
    assert "measuring marginals" in err and "Traceback" not in err  # and its stderr
    usage = json.loads((tmp_path / "usage.json").read_text())
    assert usage["exit"] == 0 and 50 < usage["peak_mb"] < 2000
    [runner] = running_runners(home.home)
    assert "command" in runner_log(home) and "exited with code 0" in runner_log(home)

    code, out, err = finished(dprelease(runner_env, home, "run", spec))
    assert code == 0 and "adult_v2" in out, err
    assert running_runners(home.home) == [runner]  # reused, not restarted
    refused = finished(dprelease(runner_env, home, "run", spec, "--epsilon", "50"))
    assert refused[0] == 2 and refused[2].startswith("dprelease: the epsilon override 50")
    assert "Traceback" not in refused[2] and refused[2].count("\n") == 1
    code, out, err = finished(dprelease(runner_env, home, "refresh", "adult"))
    assert code == 0 and "adult_v3" in out, err  # a refresh goes through it too
    log = runner_log(home)
    assert len(STARTED.findall(log)) == 4 and "exited with code 2" in log

    assert main(["--home", str(home.home), "server", "status"]) == 0
    assert f"warm runner: pid {runner.pid}" in capsys.readouterr().out
    assert main(["--home", str(home.home), "server", "stop"]) == 0
    assert f"stopped 1 warm runner(s) (pid {runner.pid})" in capsys.readouterr().out
    deadline = time.monotonic() + 10
    while alive(runner) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(runner) and running_runners(home.home) == []


def test_a_refused_run_starts_no_runner(
    home: WarehousePaths, runner_env: dict[str, str], tmp_path: Path
) -> None:
    spec = write_spec(tmp_path)
    code, _, err = finished(dprelease(runner_env, home, "run", spec, "--epsilon", "50"))
    assert code == 2 and err.startswith("dprelease: the epsilon override 50"), err
    assert not (home.home / "prefect" / "runners").exists()


def _wait_for_command(home: WarehousePaths, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = RunnerFiles.for_home(home.home).log
        found = STARTED.findall(log.read_text()) if log.exists() else []
        if found:
            return int(found[-1])
        time.sleep(0.05)
    raise AssertionError("the runner never started the command")


def _gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["SIGINT forwarded", "caller killed"])
def test_the_command_ends_with_its_caller(
    stopped_after: WarehousePaths, runner_env: dict[str, str], tmp_path: Path, how: str
) -> None:
    """Ctrl-C (SIGINT to the caller) reaches the command, which stops with a non-zero exit;
    a caller killed outright (SIGKILL, nothing forwarded) takes its command with it."""
    home = stopped_after
    proc = dprelease(runner_env, home, "run", write_spec(tmp_path))
    command = _wait_for_command(home)
    assert Path(f"/proc/{command}").exists()
    proc.send_signal(signal.SIGINT if how == "SIGINT forwarded" else signal.SIGKILL)
    code, _, _ = finished(proc)
    assert code != 0
    assert _gone(command), f"command {command} outlived its caller ({how})"


def test_the_fingerprint_follows_what_prefect_reads_at_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"PATH": "/bin", "PREFECT_API_URL": "http://127.0.0.1:1/api"}
    base = fingerprint(env, str(tmp_path))
    assert fingerprint({**env, "PATH": "/usr/bin"}, str(tmp_path)) == base
    assert fingerprint({**env, ENABLED_ENV: "1", client.USAGE_ENV: "x"}, str(tmp_path)) == base
    assert fingerprint({**env, "PREFECT_API_URL": "http://x/api"}, str(tmp_path)) != base
    assert fingerprint({**env, "DPRELEASE_DATABASE_URL": "postgresql://"}, str(tmp_path)) != base
    assert fingerprint(env, str(tmp_path / "elsewhere")) != base
    (tmp_path / "prefect.toml").write_text("[logging]\nlevel = 'DEBUG'\n")
    assert fingerprint(env, str(tmp_path)) != base  # a settings file in the directory
    monkeypatch.setattr(client, "_newest_source", lambda root: 1)
    assert fingerprint(env, str(tmp_path)) != fingerprint(env, str(tmp_path / "x"))
    changed = fingerprint(env, str(tmp_path))
    monkeypatch.setattr(client, "_newest_source", lambda root: 2)
    assert fingerprint(env, str(tmp_path)) != changed  # the code changed: a new runner


def test_no_runner_when_disabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_start(*args: object) -> None:
        raise AssertionError("no runner may be started")

    monkeypatch.setattr(client, "_start", no_start)
    monkeypatch.setenv(ENABLED_ENV, "0")
    assert run_warm(tmp_path / "home", ["run", "spec.yaml"]) is None
    monkeypatch.setenv(ENABLED_ENV, "1")
    monkeypatch.setattr(client.sys, "platform", "darwin")  # no pidfd, SO_PEERCRED, /proc
    assert run_warm(tmp_path / "home", ["run", "spec.yaml"]) is None


def test_a_socket_deeper_than_an_address_holds_is_reached_through_its_folder(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 120) / "runners"
    deep.mkdir(parents=True)
    path = deep / "0123456789abcdef.sock"
    assert len(str(path)) > client.MAX_SOCKET_PATH
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with listener, socket_address(path) as address:
        listener.bind(address)
        listener.listen(1)
        assert path.exists()  # bound at the deep path itself
        connected = client._connect(path)
        assert connected is not None
        accepted, _ = listener.accept()
        with connected, accepted:
            send_message(connected, {"hello": 1})
            assert receive_message(accepted) == ({"hello": 1}, [])


def test_a_runner_that_is_not_listening_leaves_the_command_to_its_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead runner's socket is no runner: with ``start`` False nothing is started and the
    caller runs the command (None); the stale socket file is left for the next starter."""
    files = RunnerFiles.for_home(tmp_path / "home", create=True)
    path = files.socket(fingerprint(dict(os.environ), str(Path.cwd())))
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with socket_address(path) as address:
        dead.bind(address)
    dead.close()  # bound, never listening: connections are refused
    assert run_warm(tmp_path / "home", ["run", "spec.yaml"], start=False) is None


def test_messages_carry_json_and_the_callers_streams() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    read_end, write_end = os.pipe()
    right.settimeout(10)  # a message swallowed by an earlier read fails here, not hangs
    with left, right:
        big = {"argv": ["run", "x"], "env": {"K": "v" * 200_000}}  # several reads long
        send_message(left, big, [write_end])
        message, fds = receive_message(right, max_fds=3)
        assert message == big and len(fds) == 1
        os.write(fds[0], b"through the passed descriptor")
        assert os.read(read_end, 100) == b"through the passed descriptor"
        for fd in (*fds, read_end, write_end):
            os.close(fd)
        send_message(left, {"accepted": True})  # two messages back to back: one segment
        send_message(left, {"pid": 42})
        time.sleep(0.05)
        assert receive_message(right) == ({"accepted": True}, [])
        assert receive_message(right) == ({"pid": 42}, [])  # not swallowed by the first read
        left.close()
        assert receive_message(right) == (None, [])  # the end of the stream


def test_exit_codes_read_as_a_shell_reads_them() -> None:
    assert _exit_code(0) == 0
    assert _exit_code(2 << 8) == 2
    assert _exit_code(signal.SIGKILL) == 128 + signal.SIGKILL
