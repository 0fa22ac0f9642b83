"""The warm runner: a fork server that imported Prefect and the flows once per home.

Started in the background by the first ``dprelease run`` or ``refresh`` that needs it (see
:mod:`flows.runner_client`, which also says what a runner serves and how it is found). It
imports what a run needs, then listens on its socket. For each command it forks a *handler*
that receives the command (arguments, environment, working directory, the caller's stdin,
stdout and stderr), says it accepted it, and forks the *command* process, which takes the
caller's streams, environment and directory and runs :func:`flows.cli.main` exactly as the
caller would have; the handler reports the command's pid, then its exit code and peak
memory, and kills the command's process group if the caller goes away (a killed caller is a
killed run, as without the runner).

The server never runs a flow itself, holds no connection and starts no thread: each fork
copies a process with one thread, which is what makes forking after Prefect's import safe
(checked before every fork). It exits after its idle time with no command running, or as
soon as its socket is removed or replaced (``dprelease server stop``, a deleted home).
Its log holds process ids and exit codes only, never a command's output.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from flows.runner_client import (
    RunnerFiles,
    receive_message,
    send_message,
    socket_address,
    write_record,
)

CHECK_EVERY_S = 1.0
PRELOADED = (  # what a run imports (found by diffing sys.modules around one)
    "prefect.main",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "anyio._backends._asyncio",
    "fastapi.encoders",  # Prefect serialises a flow run's parameters with it
    "graphviz",
    "opentelemetry._logs",
    "opentelemetry.metrics",
    "pyarrow.pandas_compat",
    "dpcore.synth.aim",
    "dpcore.synth.mst",
    "dpcore.synth.independent",
    "tasks.report.task",
    "flows.cli",
    "flows.console",
    "flows.local_api",
    "flows.overrides",
    "flows.preflight",
    "flows.progress",
    "flows.refresh",
    "flows.release",
    "flows.run_labels",
)


def _log(line: str) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    print(f"{stamp} warm runner {os.getpid()}: {line}", flush=True)


def _preload() -> None:
    """Import what a run imports, with the defaults the CLI sets before Prefect's import."""
    import importlib

    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    for name in PRELOADED:
        importlib.import_module(name)


def _single_threaded() -> bool:
    return threading.active_count() == 1


def _listen(path: Path) -> tuple[socket.socket, int]:
    """Listen on ``path``: bound under a temporary name, then renamed into place, so a
    command never connects to a socket that is not yet listening."""
    staging = path.with_name(f".{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with socket_address(staging) as address:
        listener.bind(address)
    staging.chmod(0o600)
    listener.listen(64)
    staging.replace(path)
    return listener, path.stat().st_ino


def _still_ours(path: Path, inode: int) -> bool:
    try:
        return path.stat().st_ino == inode
    except OSError:
        return False


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def _exit_code(status: int) -> int:
    """A shell's reading of a wait status: the exit code, or 128 + the killing signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def _run_command(request: dict[str, Any], fds: list[int]) -> NoReturn:
    """Become the caller's command: its streams, directory, umask, environment, then run."""
    os.setpgid(0, 0)  # its own process group: the caller's signals reach it and its children
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.umask(int(request["umask"]))
    os.environ.clear()
    os.environ.update(request["env"])
    argv = [str(a) for a in request["argv"]]
    sys.argv = ["dprelease", *argv]
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(line_buffering=stream.isatty())  # type: ignore[union-attr]
    from flows.cli import _exit_now, main

    try:
        code = main(argv)
    except SystemExit as done:  # argparse's own errors and --help
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    _exit_now(code)
    raise AssertionError("unreachable")  # pragma: no cover


def _wait(conn: socket.socket, child: int) -> tuple[int, Any]:
    """Wait for the command; kill its process group if the caller goes away meanwhile."""
    pidfd = os.pidfd_open(child)
    try:
        caller_gone = False
        while True:
            watched = [pidfd] if caller_gone else [pidfd, conn.fileno()]
            readable, _, _ = select.select(watched, [], [])
            if conn.fileno() in readable and not caller_gone:
                try:
                    if conn.recv(4096):
                        continue  # (the caller sends nothing more: stray bytes are dropped)
                except OSError:
                    pass
                caller_gone = True
                _log(f"the caller of command {child} went away: killing it")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child, signal.SIGKILL)
            if pidfd in readable:
                _, status, usage = os.wait4(child, 0)
                return status, usage
    finally:
        os.close(pidfd)


def _handle(conn: socket.socket) -> None:
    """One command, in the forked handler: accept, fork the command, report how it ended."""
    if _peer_uid(conn) != os.getuid():
        _log("refused a connection from another user")
        return
    request, fds = receive_message(conn, max_fds=3)
    if request is None or len(fds) != 3 or not _single_threaded():
        for fd in fds:
            os.close(fd)
        return  # not accepted: the caller runs the command itself
    send_message(conn, {"accepted": True})
    _flush_streams()
    child = os.fork()
    if child == 0:
        conn.close()
        _run_command(request, fds)
    with contextlib.suppress(OSError):  # (the child does the same: whichever runs first)
        os.setpgid(child, child)
    for fd in fds:
        os.close(fd)
    send_message(conn, {"pid": child})
    _log(f"command {child} started")
    status, usage = _wait(conn, child)
    code = _exit_code(status)
    _log(f"command {child} exited with code {code}")
    with contextlib.suppress(OSError):
        send_message(conn, {"exit": code, "peak_mb": round(usage.ru_maxrss / 1024, 1)})


def _flush_streams() -> None:
    """Nothing buffered for the runner's log may be written by a fork to a caller's stream."""
    sys.stdout.flush()
    sys.stderr.flush()


def _fork_handler(conn: socket.socket, listener: socket.socket) -> int:
    _flush_streams()
    pid = os.fork()
    if pid == 0:
        listener.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # stopping the server ends no command
        code = 0
        try:
            _handle(conn)
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            conn.close()
        os._exit(code)
    conn.close()
    return pid


def serve(path: Path, idle_s: float) -> None:
    """Preload, listen on ``path``, fork a handler per command; return when idle or removed."""
    _preload()
    if not _single_threaded():
        _log("the preloaded modules started a thread; forking would be unsafe: not serving")
        return
    files = RunnerFiles(path.parent)
    fingerprint = path.name.removesuffix(".sock")
    listener, inode = _listen(path)
    write_record(files, fingerprint, os.getpid())
    _log(f"listening (idle exit after {idle_s:.0f} s)")
    handlers: set[int] = set()
    last_work = time.monotonic()
    try:
        while _still_ours(path, inode):
            readable, _, _ = select.select([listener], [], [], CHECK_EVERY_S)
            if readable:
                conn, _ = listener.accept()
                handlers.add(_fork_handler(conn, listener))
                last_work = time.monotonic()
            while handlers:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    break
                handlers.discard(pid)
                last_work = time.monotonic()
            if not handlers and time.monotonic() - last_work > idle_s:
                _log("idle: exiting")
                break
    finally:
        listener.close()
        if _still_ours(path, inode):
            path.unlink(missing_ok=True)
            files.record(fingerprint).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """``warm_runner SOCKET IDLE_S`` (started by :mod:`flows.runner_client`)."""
    args = sys.argv[1:] if argv is None else argv
    # (sys.argv[1] is the code root the boot line put on sys.path)
    path, idle_s = Path(args[-2]), float(args[-1])
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    serve(path, idle_s)
