"""A Dask cluster of separate processes on loopback, for tests: ``dask scheduler`` and two
``dask worker`` processes (each under its nanny), as a deployment runs them.

The scheduler listens on 127.0.0.1 and a free port it picks itself, and writes its address to
a scheduler file in the cluster's directory; the workers find it there. Every process runs in
its own session, so stopping one stops its nanny's child too. The workers start with
``DPRELEASE_CRASH_AT=while-counting`` and an empty "armed" directory
(:mod:`warehouse.faults`): they count normally until a test drops files there, and then
each file kills one worker (SIGKILL) in the middle of counting a partition; its nanny starts
a new one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from warehouse.faults import ARMED_ENV, ENV_VAR

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90


def missing_reason() -> str | None:
    """Why a cluster cannot be started here (None if it can)."""
    if not (Path(sys.executable).parent / "dask").exists():
        return "the dask command is not installed; pip install -e '.[dask]'"
    return None


@dataclass(frozen=True)
class DaskProcesses:
    """A running cluster: the scheduler's address, and where to arm worker kills."""

    address: str
    scheduler_file: Path
    armed: Path
    workers: int

    def arm(self, kills: int) -> None:
        """Kill ``kills`` workers, one each time a worker next starts counting a partition."""
        for i in range(kills):
            (self.armed / f"kill-{time.monotonic_ns()}-{i}").touch()

    def disarm(self) -> None:
        """Remove every kill not yet claimed."""
        for armed in self.armed.iterdir():
            armed.unlink(missing_ok=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process we started and everything in its session: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # a nanny's worker left behind
    process.wait()


@contextmanager
def process_cluster(root: Path, workers: int = 2) -> Iterator[DaskProcesses]:
    """Start a scheduler and ``workers`` single-threaded workers under ``root``; stop them all
    on exit. Their logs are ``root/*.log`` (test data only)."""
    from distributed import Client

    dask = str(Path(sys.executable).parent / "dask")
    scheduler_file = root / "scheduler.json"
    armed = root / "armed"
    armed.mkdir()
    env = {**os.environ, ENV_VAR: "while-counting", ARMED_ENV: str(armed)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        log = (root / f"{name}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [dask, *args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
              "--no-dashboard", "--scheduler-file", str(scheduler_file))  # fmt: skip
        for i in range(workers):
            start(f"worker-{i}", "worker", "--scheduler-file", str(scheduler_file),
                  "--host", "127.0.0.1", "--nthreads", "1", "--nanny", "--no-dashboard",
                  "--local-directory", str(root / f"worker-{i}"))  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT_S
        while not scheduler_file.exists():
            if time.monotonic() > deadline or processes[0].poll() is not None:
                raise RuntimeError(f"dask scheduler did not start; see {root}/scheduler.log")
            time.sleep(0.1)
        with Client(scheduler_file=str(scheduler_file), timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(workers, timeout=START_TIMEOUT_S)
            address = str(client.scheduler.address)
        yield DaskProcesses(address, scheduler_file, armed, workers)
    finally:
        for process in reversed(processes):
            _stop(process)
