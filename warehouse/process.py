"""Which process owns a run, and whether that process still exists.

A run records the host, the pid and a start marker of the process running it. A pid alone is
not enough: after the process dies the kernel may give its number to another process, so the
marker (the boot id and the process's start time in clock ticks, from ``/proc``) must match
too. Where ``/proc`` is missing the marker is empty and only the pid is checked. Runs owned
by another host cannot be checked from here and are left alone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessIdentity:
    """A process as the run log records it."""

    host: str
    pid: int
    start_marker: str


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (state first), or None."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _boot_id() -> str:
    try:
        return (PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        return ""


def start_marker(pid: int) -> str:
    """``<boot id>/<start time in ticks>`` of ``pid``, or "" where ``/proc`` cannot tell."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return ""
    return f"{_boot_id()}/{fields[19]}"  # field 22 of stat: starttime


def current_process() -> ProcessIdentity:
    """This process's identity."""
    pid = os.getpid()
    return ProcessIdentity(socket.gethostname(), pid, start_marker(pid))


def is_gone(owner: ProcessIdentity) -> bool:
    """True only if ``owner`` ran on this host and has certainly stopped.

    A pid that no longer exists, that is a zombie (killed, not yet reaped), or that now
    belongs to a process with another start marker (a reused pid) is gone. A process on
    another host, or one we are not allowed to signal, is not known to be gone.
    """
    if owner.host != socket.gethostname():
        return False
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    fields = _stat_fields(owner.pid)
    if fields is None:  # exited since the signal check, or no /proc on this system
        return (PROC / "self").exists()
    if fields[0] in ("Z", "X"):
        return True
    return bool(owner.start_marker) and start_marker(owner.pid) != owner.start_marker
