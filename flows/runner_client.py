"""Hand a ``dprelease run`` or ``refresh`` to the home's warm runner (client side).

Importing Prefect, pandas and the release flow costs 2.5-3 s of every run on this class of
machine. The warm runner (:mod:`flows.warm_runner`) is a fork server that did those imports
once: the command's process checks what it can refuse without rows (pre-flight), then sends
the runner its arguments, environment, working directory and its own stdin, stdout and
stderr (``SCM_RIGHTS``); the runner forks a child that runs the command exactly as this
process would have, writing straight to this terminal. Signals sent to this process (Ctrl-C,
``kill``) are forwarded to the child's process group, and if this process dies the child is
killed, so a command behaves as if it ran here.

A runner serves one *fingerprint*: the Python, the code (its path and the newest source
file's time), the working directory (Prefect reads settings files there) and every
``PREFECT_*`` and ``DPRELEASE_*`` variable, since Prefect fixes its settings when it is
imported. A command with another fingerprint gets (starts) another runner. Runners live in
``<home>/prefect/runners/`` (a 0700 folder: only this user can connect, and the runner
checks the peer's uid too), exit after ``$DPRELEASE_RUNNER_IDLE_S`` seconds without work
(default 600) or when their socket is removed, and ``dprelease server stop`` stops them.

Whenever the runner cannot be used before it accepted the command (disabled with
``DPRELEASE_WARM_RUNNER=0``, a runner that does not start), the command runs in this
process as before: nothing is handed over twice. A socket path too deep for an ``AF_UNIX``
address is reached through its folder's descriptor (:func:`socket_address`). This module
imports nothing heavy: it runs in the command's own, light process.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from dpcore.errors import DPReleaseError
from warehouse.file_lock import exclusive
from warehouse.paths import WarehousePaths

ENABLED_ENV = "DPRELEASE_WARM_RUNNER"
IDLE_ENV = "DPRELEASE_RUNNER_IDLE_S"
USAGE_ENV = "DPRELEASE_RUN_USAGE_FILE"
"""A file to write the run child's exit code and peak resident memory to (benchmarks)."""
DEFAULT_IDLE_S = 600.0
START_TIMEOUT_S = 120.0  # the runner's imports take ~3 s at rest; a loaded machine is slower
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with its terminating NUL
PACKAGES = ("flows", "tasks", "dpcore", "warehouse", "expectations")
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_LENGTH = struct.Struct("!I")


class RunnerLostError(DPReleaseError):
    """The warm runner accepted a command but ended before reporting how it ended."""


@dataclass(frozen=True)
class RunnerRecord:
    """A running warm runner, as recorded beside its socket."""

    pid: int
    fingerprint: str
    started_at: str


@dataclass(frozen=True)
class RunnerFiles:
    """Where a home's warm runners keep their sockets, records, locks and log."""

    root: Path

    @classmethod
    def for_home(cls, home: str | Path | None, create: bool = False) -> RunnerFiles:
        """The runners' folder of ``home`` (``create``: made, readable by this user only)."""
        root = WarehousePaths.from_env(home).home / "prefect" / "runners"
        if create:
            root.mkdir(parents=True, exist_ok=True)
            root.chmod(0o700)
        return cls(root)

    def socket(self, fingerprint: str) -> Path:
        """The runner's listening socket."""
        return self.root / f"{fingerprint}.sock"

    def record(self, fingerprint: str) -> Path:
        """Its pid and start time (JSON)."""
        return self.root / f"{fingerprint}.json"

    def lock(self, fingerprint: str) -> Path:
        """Held (``flock``) by the command that starts it."""
        return self.root / f"{fingerprint}.lock"

    @property
    def log(self) -> Path:
        """The runners' own lines (starts, exits, commands' pids and exit codes)."""
        return self.root / "runner.log"

    def records(self) -> list[RunnerRecord]:
        """Every recorded runner (running or not)."""
        found = []
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            record = read_record(path)
            if record is not None:
                found.append(record)
        return found


def enabled() -> bool:
    """Whether commands go through the warm runner (``DPRELEASE_WARM_RUNNER=0`` turns off;
    Linux only: it needs ``pidfd_open``, ``SO_PEERCRED`` and ``/proc``)."""
    if not sys.platform.startswith("linux"):
        return False
    return os.environ.get(ENABLED_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def idle_seconds() -> float:
    """How long a runner waits for work before it exits."""
    return float(os.environ.get(IDLE_ENV) or DEFAULT_IDLE_S)


def code_root() -> Path:
    """The folder holding the ``flows`` package this process runs (the runner imports it)."""
    return Path(__file__).resolve().parents[1]


def _newest_source(root: Path) -> int:
    """The newest modification time (ns) of the code's Python files."""
    newest = 0
    stack = [root / name for name in PACKAGES]
    while stack:
        folder = stack.pop()
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    stack.append(Path(entry.path))
                elif entry.name.endswith(".py"):
                    newest = max(newest, entry.stat().st_mtime_ns)
    return newest


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def fingerprint(env: dict[str, str], cwd: str) -> str:
    """What a runner must share with a command to run it (see the module's docstring)."""
    root = code_root()
    prefect_home = Path(env.get("PREFECT_HOME") or "~/.prefect").expanduser()
    settings_files = [prefect_home / "profiles.toml"] + [
        Path(cwd) / name for name in (".env", "prefect.toml", "pyproject.toml")
    ]
    relevant = sorted(
        (k, v)
        for k, v in env.items()
        if k.startswith(("PREFECT_", "DPRELEASE_")) and k not in {ENABLED_ENV, USAGE_ENV}
    )
    facts = {
        "python": sys.executable,
        "code": str(root),
        "newest_source": _newest_source(root),
        "cwd": cwd,
        "settings_files": [_mtime(path) for path in settings_files],
        "env": relevant,
        "do_not_track": env.get("DO_NOT_TRACK"),
    }
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return digest[:16]


def read_record(path: Path) -> RunnerRecord | None:
    """The runner recorded at ``path``, or None if unreadable."""
    try:
        data = json.loads(path.read_text())
        return RunnerRecord(int(data["pid"]), str(data["fingerprint"]), str(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(files: RunnerFiles, fingerprint: str, pid: int) -> None:
    """Record a runner that now listens."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    record = RunnerRecord(pid, fingerprint, started)
    files.record(fingerprint).write_text(json.dumps(asdict(record)))


def alive(record: RunnerRecord) -> bool:
    """Whether the recorded pid is still a warm runner (not a reused pid)."""
    try:
        return b"warm_runner" in Path(f"/proc/{record.pid}/cmdline").read_bytes()
    except OSError:
        return False


# --- the wire: length-prefixed JSON messages, the first one carrying file descriptors ---


def send_message(sock: socket.socket, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
    """Send one message (and ``fds`` with its first byte)."""
    payload = json.dumps(message).encode()
    data = _LENGTH.pack(len(payload)) + payload
    sent = socket.send_fds(sock, [data], list(fds)) if fds else sock.send(data)
    if sent < len(data):
        sock.sendall(data[sent:])


def receive_message(
    sock: socket.socket, max_fds: int = 0
) -> tuple[dict[str, Any] | None, list[int]]:
    """One message and the descriptors that came with it; ``(None, [])`` at end of stream.

    Reads exactly the message's bytes, never into the next one: messages sent back to back
    (the handler's "accepted" and "started") may arrive in one segment.
    """
    fds: list[int] = []
    header = b""
    while len(header) < _LENGTH.size:
        if max_fds and not header:
            chunk, fds, _, _ = socket.recv_fds(sock, _LENGTH.size, max_fds)
        else:
            chunk = sock.recv(_LENGTH.size - len(header))
        if not chunk:
            for fd in fds:
                os.close(fd)
            return None, []
        header += chunk
    (length,) = _LENGTH.unpack(header)
    payload = b""
    while len(payload) < length:
        chunk = sock.recv(min(length - len(payload), 1 << 20))
        if not chunk:
            for fd in fds:
                os.close(fd)
            return None, []
        payload += chunk
    return json.loads(payload), fds


# --- the command's side ---


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """``path`` as an ``AF_UNIX`` address: itself, or if longer than an address holds (a deep
    home), the same file reached through an open descriptor of its folder (Linux)."""
    if len(os.fsencode(str(path))) <= MAX_SOCKET_PATH:
        yield str(path)
        return
    folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with socket_address(path) as address:
            sock.connect(address)
    except OSError:
        sock.close()
        return None
    return sock


def _start(files: RunnerFiles, print_: str, env: dict[str, str], cwd: str) -> socket.socket | None:
    """Start the runner for fingerprint ``print_`` and connect once it listens (lock held)."""
    path = files.socket(print_)
    path.unlink(missing_ok=True)  # a dead runner's socket
    boot = "import sys; sys.path.insert(0, sys.argv[1]); from flows.warm_runner import main; main()"
    argv = [sys.executable, "-P", "-c", boot, str(code_root()), str(path), str(idle_seconds())]
    with files.log.open("ab") as log:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; `dprelease server stop` ends it
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        sock = _connect(path)
        if sock is not None:
            return sock
        time.sleep(0.05)
    if process.poll() is None:
        process.kill()
    return None


def _runner_socket(
    home: str | Path | None, env: dict[str, str], cwd: str, start: bool
) -> socket.socket | None:
    """A connection to the runner for this command (started if needed and ``start``)."""
    files = RunnerFiles.for_home(home, create=start)
    print_ = fingerprint(env, cwd)
    path = files.socket(print_)
    sock = _connect(path)
    if sock is not None or not start:
        return sock
    with exclusive(files.lock(print_)):
        return _connect(path) or _start(files, print_, env, cwd)


def _standard_streams() -> tuple[list[int], list[int]]:
    """This process's stdin, stdout and stderr to hand over (``/dev/null`` for a closed one),
    and the descriptors opened here that must be closed afterwards."""
    fds, opened = [], []
    for fd, mode in ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
            fds.append(fd)
        except OSError:
            null = os.open(os.devnull, mode)
            fds.append(null)
            opened.append(null)
    return fds, opened


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def run_warm(home: str | Path | None, argv: Sequence[str], start: bool = True) -> int | None:
    """Run the command ``argv`` in the home's warm runner; its exit code, or None if the
    runner could not take it (the caller then runs it in this process).

    With ``start`` False, only a runner that already listens is used: the CLI hands a
    command straight to one (whose process checks it faster than a fresh one would), and
    otherwise checks it first, so that a refused command never starts a runner.
    """
    if not enabled():
        return None
    env = dict(os.environ)
    cwd = str(Path.cwd())
    sock = _runner_socket(home, env, cwd, start)
    if sock is None:
        return None
    with sock:
        fds, opened = _standard_streams()
        request = {"argv": list(argv), "env": env, "cwd": cwd, "umask": _current_umask()}
        try:
            send_message(sock, request, fds)
            accepted, _ = receive_message(sock)
        except OSError:
            accepted = None
        finally:
            for fd in opened:
                os.close(fd)
        if not accepted or not accepted.get("accepted"):
            return None  # nothing was started: run it here
        return _follow(sock)


def _follow(sock: socket.socket) -> int:
    """Forward signals to the runner's child until it reports its exit code."""
    started, _ = receive_message(sock)
    if started is None or not isinstance(started.get("pid"), int):
        raise RunnerLostError(
            "the warm runner accepted the command but ended before starting it; nothing "
            "was run. Retry (`dprelease server stop` restarts the runners), or set "
            f"{ENABLED_ENV}=0 to run commands in their own process."
        )
    child = int(started["pid"])

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child, signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        done, _ = receive_message(sock)  # (a forwarded signal's EINTR is retried: PEP 475)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if done is None or not isinstance(done.get("exit"), int):
        raise RunnerLostError(
            "the warm runner ended while the command ran, so its outcome is unknown: "
            "`dprelease runs` shows whether the release published, and `dprelease run "
            "SPEC --resume RUN_ID` resumes a charged run without paying again."
        )
    usage_file = os.environ.get(USAGE_ENV)
    if usage_file:
        Path(usage_file).write_text(json.dumps(done))
    return int(done["exit"])


# --- status and stop (``dprelease server``) ---


def running_runners(home: str | Path | None) -> list[RunnerRecord]:
    """The home's runners that are still running."""
    return [r for r in RunnerFiles.for_home(home).records() if alive(r)]


def stop_runners(home: str | Path | None) -> list[RunnerRecord]:
    """Stop every runner of the home (commands they are running finish); what was stopped."""
    files = RunnerFiles.for_home(home)
    stopped = []
    for record in files.records():
        files.socket(record.fingerprint).unlink(missing_ok=True)
        files.record(record.fingerprint).unlink(missing_ok=True)
        if alive(record):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record.pid, signal.SIGTERM)
            stopped.append(record)
    return stopped
