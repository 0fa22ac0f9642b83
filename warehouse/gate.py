"""One process at a time per warehouse file, for the whole life of its DuckDB instance.

DuckDB's own file lock admits one read-write process, yet the stress bench
(``bench/ledger_concurrency.py``: 4 processes of 4 threads charging a fresh file at once)
saw, over about a hundred repetitions, a charge reported as committed that was missing from
the ledger (13 successes, 11 charges) and several "exists, but it is not a valid DuckDB
database file" errors. The exact cause inside DuckDB was not pinned down (creating a new
file, and the window between a process dropping its file lock and finishing its close, are
the suspects). This gate removes both windows: an ``flock`` on a sidecar file
(``<file>.gate``) taken before a process's first connection opens (or creates) the file and
released only after its last connection has closed. Threads of one process share it (and
DuckDB's instance), so they still run concurrent transactions. With it, the bench and a
stress of 1,680 simultaneous first opens lost nothing.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from warehouse.backoff import Backoff
from warehouse.errors import WarehouseBusyError
from warehouse.failures import storage_error


@dataclass
class _Gate:
    """This process's hold on one file's gate: how many connections use it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    handle: IO[str] | None = None


_gates: dict[str, _Gate] = {}
_gates_lock = threading.Lock()


def _forget_inherited_gates() -> None:
    """In a forked child: the parent's gates are not ours (unlocking one would free it)."""
    global _gates_lock
    _gates.clear()
    _gates_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_inherited_gates)


def gate_path(path: Path) -> Path:
    """The sidecar file whose ``flock`` is the gate of ``path``."""
    return path.with_name(path.name + ".gate")


def _gate(path: Path) -> _Gate:
    with _gates_lock:
        return _gates.setdefault(str(path.resolve()), _Gate())


def busy_error(path: Path, wait_s: float) -> WarehouseBusyError:
    """The error for a file another process kept for longer than we wait."""
    return WarehouseBusyError(
        f"{path.name} stayed locked by another process for {wait_s:.0f} s; "
        "another release may be running. Retry when it has finished."
    )


def _flock(path: Path, deadline: float, wait_s: float) -> IO[str] | None:
    """The locked gate file, or None if its directory is missing (DuckDB will say so)."""
    try:
        handle = gate_path(path).open("a")
    except FileNotFoundError:
        return None
    except OSError as error:
        failure = storage_error(error, gate_path(path))
        if failure is None:
            raise
        raise failure from None
    backoff = Backoff(deadline, first=0.005, cap=0.1)
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if backoff.expired():
                handle.close()
                raise busy_error(path, wait_s) from None
            backoff.sleep()


@contextmanager
def held(path: Path, deadline: float, wait_s: float) -> Iterator[None]:
    """Hold ``path``'s gate (shared with this process's other holders) while in the block."""
    gate = _gate(path)
    with gate.lock:  # other threads of this process wait here, as they would for DuckDB
        if gate.users == 0:
            gate.handle = _flock(path, deadline, wait_s)
        gate.users += 1
    try:
        yield
    finally:
        with gate.lock:
            gate.users -= 1
            if gate.users == 0 and gate.handle is not None:
                fcntl.flock(gate.handle, fcntl.LOCK_UN)
                gate.handle.close()
                gate.handle = None
