"""One local Prefect API per dprelease home: started once in the background, then reused.

Without ``PREFECT_API_URL``, Prefect would start a temporary server inside every process
that runs a flow (15-25 s each, and under load it may not come up at all). Instead, the
first command that needs Prefect starts ``prefect server start`` as a detached background
process bound to 127.0.0.1 on a free port, with its database and settings under
``<home>/prefect/``, and records it in ``<home>/prefect/server.json``; every later or
concurrent command of that home finds the record and reuses the server (CLI runs then show
in its UI beside scheduled ones). Concurrent first starts elect one starter with an
exclusive ``flock`` on ``<home>/prefect/server.lock``: the others block on the lock, and
find the started server once it answers.

With ``PREFECT_API_URL`` set (environment or Prefect profile), that server is used and none
is started. A server that cannot be reached or does not start is a
:class:`PrefectUnavailableError` (one paragraph; the CLI exits 2 before anything is charged).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from dpcore.errors import DPReleaseError
from warehouse.file_lock import exclusive
from warehouse.paths import WarehousePaths

START_TIMEOUT_ENV = "DPRELEASE_SERVER_START_TIMEOUT"
DEFAULT_START_TIMEOUT_S = 150.0  # ~10 s at rest; much longer on a loaded 2-core machine
HOST = "127.0.0.1"
CONFIGURED_WAIT_S = 10.0  # how long a configured PREFECT_API_URL may take to answer


class PrefectUnavailableError(DPReleaseError):
    """The Prefect API cannot be reached, or the home's local server did not start."""


@dataclass(frozen=True)
class LocalServer:
    """A home's background Prefect server, as recorded in ``server.json``."""

    pid: int
    port: int
    started_at: str

    @property
    def url(self) -> str:
        """Its API URL (what ``PREFECT_API_URL`` is set to for flows)."""
        return f"http://{HOST}:{self.port}/api"

    @property
    def ui(self) -> str:
        """Its UI's address."""
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class ServerFiles:
    """Where a home keeps its Prefect server: ``<home>/prefect/`` (database, settings, log)."""

    root: Path

    @classmethod
    def for_home(cls, home: str | Path | None) -> ServerFiles:
        """The files of ``home`` (``$DPRELEASE_HOME`` or ``./.dprelease`` if None); created."""
        root = WarehousePaths.from_env(home).home / "prefect"
        root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    @property
    def record(self) -> Path:
        """The running server's pid, port and start time (JSON)."""
        return self.root / "server.json"

    @property
    def lock(self) -> Path:
        """Held (``flock``) by whoever starts or stops the server."""
        return self.root / "server.lock"

    @property
    def log(self) -> Path:
        """The server's own output."""
        return self.root / "server.log"

    @property
    def database(self) -> Path:
        """Prefect's SQLite database for this home."""
        return self.root / "prefect.db"


def ui_address(api_url: str) -> str:
    """The UI's address for an API URL (Prefect serves both; the API under ``/api``)."""
    return api_url.rstrip("/").removesuffix("/api")


def answers(api_url: str, timeout: float = 3.0) -> bool:
    """Whether the API at ``api_url`` answers its health check (any non-5xx reply)."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as r:
            return int(r.status) < 500
    except urllib.error.HTTPError as error:
        return error.code < 500
    except (OSError, ValueError):
        return False


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` from the environment, the Prefect profile or the active settings
    context (a test harness), or None."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def read_record(files: ServerFiles) -> LocalServer | None:
    """The recorded server, or None if there is no (readable) record."""
    try:
        data = json.loads(files.record.read_text())
        return LocalServer(int(data["pid"]), int(data["port"]), str(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def alive(server: LocalServer) -> bool:
    """Whether the recorded pid is still a running Prefect server (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"prefect" in cmdline and b"server" in cmdline


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def server_environment(files: ServerFiles, port: int) -> dict[str, str]:
    """The server's environment: no inherited Prefect settings, its home under ``files``,
    loopback only, no telemetry, and the UI told to call this server's own port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    url = f"http://{HOST}:{port}/api"
    env.update(
        {
            "PREFECT_HOME": str(files.root),
            "PREFECT_API_URL": url,
            "PREFECT_UI_API_URL": url,
            "PREFECT_SERVER_API_HOST": HOST,
            "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{files.database}",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        }
    )
    return env


def _start_timeout() -> float:
    return float(os.environ.get(START_TIMEOUT_ENV) or DEFAULT_START_TIMEOUT_S)


def _wait_until_answering(
    server: LocalServer, deadline: float, running: Callable[[], bool] | None = None
) -> bool:
    """Poll the health check until ``deadline``; False early once the server has exited.

    ``running`` says whether it still runs (default :func:`alive`; the starter passes its
    ``Popen.poll``, as ``/proc`` shows the parent's command line until the child execs).
    """
    is_running = running or (lambda: alive(server))
    while time.monotonic() < deadline:
        if answers(server.url):
            return True
        if not is_running():
            return False
        time.sleep(0.25)
    return False


def _stop_process(server: LocalServer, grace_s: float = 15.0) -> None:
    """SIGTERM the server's process group (it leads its own session), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and alive(server):
            time.sleep(0.2)
        if not alive(server):
            return


def _start(files: ServerFiles) -> LocalServer:
    """Start the server in the background and wait until it answers (lock held)."""
    port = _free_port()
    with files.log.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                HOST,
                "--port",
                str(port),
            ],
            env=server_environment(files, port),
            cwd=files.root,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; stopped by `dprelease server stop`
        )
    started = datetime.now(UTC).isoformat(timespec="seconds")
    server = LocalServer(process.pid, port, started)
    files.record.write_text(json.dumps(asdict(server)))
    timeout = _start_timeout()
    deadline = time.monotonic() + timeout
    if _wait_until_answering(server, deadline, lambda: process.poll() is None):
        return server
    code = process.poll()
    _stop_process(server)
    files.record.unlink(missing_ok=True)
    why = f"exited with code {code}" if code is not None else f"did not answer in {timeout:.0f} s"
    raise PrefectUnavailableError(
        f"the local Prefect server for this home {why}, so nothing was run or charged. Its "
        f"log is {files.log}. Retry (a busy machine can slow its start: raise "
        f"${START_TIMEOUT_ENV}), or start a server yourself and set PREFECT_API_URL to it."
    )


def local_server(home: str | Path | None) -> LocalServer:
    """The home's running server, started (by this process or a concurrent one) if needed."""
    files = ServerFiles.for_home(home)
    record = read_record(files)
    if record is not None and answers(record.url):
        return record
    with exclusive(files.lock):
        record = read_record(files)
        if record is not None and alive(record):
            if _wait_until_answering(record, time.monotonic() + _start_timeout()):
                return record
            raise PrefectUnavailableError(
                f"the local Prefect server for this home (pid {record.pid}, {record.url}) is "
                "running but does not answer, so nothing was run or charged. Stop it with "
                f"`dprelease server stop` and retry; its log is {files.log}."
            )
        return _start(files)


def ensure_api(home: str | Path | None) -> str:
    """The API URL this command's flows use: ``PREFECT_API_URL`` if set (checked to answer),
    else the home's local server (started if needed)."""
    configured = configured_api_url()
    if configured is None:
        return local_server(home).url
    deadline = time.monotonic() + CONFIGURED_WAIT_S
    while not answers(configured, timeout=5.0):
        if time.monotonic() > deadline:
            raise PrefectUnavailableError(
                f"the Prefect API at PREFECT_API_URL={configured} does not answer, so nothing "
                "was run or charged. Start that server (`prefect server start`), or unset "
                "PREFECT_API_URL to let dprelease run a local server for this home."
            )
        time.sleep(1.0)
    return configured


@contextlib.contextmanager
def prefect_api(home: str | Path | None) -> Iterator[str]:
    """Run the body against the API :func:`ensure_api` finds, in this process and any it
    starts (the environment variable is set for the duration)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url = ensure_api(home)
    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous


def stop_server(home: str | Path | None) -> LocalServer | None:
    """Stop the home's server if one runs; return what was stopped (None if nothing)."""
    files = ServerFiles.for_home(home)
    with exclusive(files.lock):
        record = read_record(files)
        files.record.unlink(missing_ok=True)
        if record is None or not alive(record):
            return None
        _stop_process(record)
        return record
