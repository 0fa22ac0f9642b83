"""Run Great Expectations validations in a short-lived child process; outcomes come back as JSON.

Importing GX costs a process about 130 MB (with scipy, SQLAlchemy and Altair) and ~3 s, for a
suite that runs in well under a second. A release run only validates DP outputs with it (the
synthetic table's rows, against expectations derived from the spec and the noisy
measurements), so
:func:`validate` runs those validations in ``python -m expectations.child_main`` instead:
the run's own process never imports GX, and the memory is returned when the child exits.

The boundary is generic: any :class:`~expectations.validation.Validation` (a frame, a suite
of :class:`~expectations.validation.ExpectationSpec`, a name, optionally a Data Docs folder)
goes in; one ``{key: ExpectationOutcome}`` per validation comes out. The child is started
(or a warm one told to go) before the first frame is produced and validates each validation
as soon as it is written, so producing the next batch here (reading a synthetic table's
spool, or re-sampling and decoding it) overlaps validating this one there. What crosses it,
in a private temporary directory (mode 0700):

* ``frame-<i>.pkl``: each frame, pickled by pandas (exact dtypes: categoricals, nullable
  integers and floats; no extra dependency), written as the validations are iterated, so a
  table streamed in batches is never whole in this process; the child deletes each file
  once read, and no more than :data:`AHEAD` wait unread, so the folder never holds the whole
  table either. Only frames of DP outputs
  are sent (the synthetic table's batches); source rows never reach Great Expectations;
* ``item-<i>.json``, written (by rename) after its frame: the suite name, expectation class
  names, their arguments and notes, and the validation's Data Docs folder and run name (the
  child renders the site there itself);
* ``request.json``, written last: how many validations there were (the child stops reading
  there; it is written early if the child has already ended);
* ``result.json`` (written by the child): the outcomes, or the typed error it raised.

Failures are typed, never a hang: an error the child raised (e.g.
:class:`~expectations.errors.ExpectationRunError`) is raised again here with its message; a
child that crashes, is killed, or outlives ``$DPRELEASE_GX_TIMEOUT_S`` (default 300 s; GX's
import alone can take 30 s on a loaded machine) after the last validation was written is a
:class:`GXProcessError`; if producing the validations raises, the child is stopped. The child
exits by itself if this process dies.

A run can hide that import: inside :func:`warm_child`, a child starts at once
(``child_main --wait``), imports GX and what :func:`~expectations.runner.run_validations`
uses, then waits on its stdin; :func:`validate` tells it to go when due (``go``), so
the import overlaps the run's measuring and fitting on the other core instead of following
them. A release enters it right after its budget charge succeeded: a refused run (pre-flight,
budget) never starts one, and the ~150 MB it holds while waiting is paid only by runs that
will validate. An unused warm child is killed on exit; it also exits if this process dies
or closes its stdin without ``go``.

``$DPRELEASE_GX_PROCESS=inline`` (or :func:`set_inline`) runs validations in this process
instead: for the in-process tests, which would otherwise pay GX's import once per suite run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from expectations import errors
from expectations.errors import ExpectationRunError
from expectations.runner import ExpectationOutcome, run_validations
from expectations.validation import ExpectationSpec, Validation

TIMEOUT_ENV = "DPRELEASE_GX_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 300.0
MODE_ENV = "DPRELEASE_GX_PROCESS"
WAIT_FLAG = "--wait"
GO = b"go\n"
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_inline: bool | None = None


class GXProcessError(ExpectationRunError):
    """The Great Expectations child process crashed, was killed or timed out."""


Outcomes = dict[str, ExpectationOutcome]


def set_inline(inline: bool | None) -> None:
    """Run validations in this process (True), in a child (False), or as
    ``$DPRELEASE_GX_PROCESS`` says (None, the default: a child unless it is ``inline``)."""
    global _inline
    _inline = inline


def _runs_inline() -> bool:
    if _inline is not None:
        return _inline
    return os.environ.get(MODE_ENV, "child").strip().lower() == "inline"


def _timeout_s() -> float:
    text = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        value = DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


def validate(validations: Iterable[Validation], timeout_s: float | None = None) -> list[Outcomes]:
    """Run each validation (in a child process unless inline) and return its outcomes.

    ``validations`` is consumed once, in order (a generator of a table's batches works); the
    child validates each one as soon as it is written, while the next is produced here.
    Raises what the suite raised (:class:`~expectations.errors.ExpectationRunError` for an
    errored expectation) or :class:`GXProcessError` if the child failed to answer.
    """
    if _runs_inline():
        return run_validations(validations)
    timeout = timeout_s or _timeout_s()
    warm = _take_warm()
    if warm is not None:  # its folder is removed by warm_child's exit
        _hand_over(warm)
        return _stream_to(warm.process, warm.folder, validations, timeout)
    with tempfile.TemporaryDirectory(prefix="dprelease-gx-") as tmp:
        folder = Path(tmp)  # the child imports GX while the first batch is produced
        return _stream_to(_start_child(folder), folder, validations, timeout)


def _stream_to(
    process: subprocess.Popen[bytes],
    folder: Path,
    validations: Iterable[Validation],
    timeout_s: float,
) -> list[Outcomes]:
    """Write the validations for a running child (stopping early if it has ended), wait for
    it, and return its outcomes; the child is stopped if writing fails or there was nothing
    to validate."""
    paced = _paced(validations, folder, process, timeout_s)
    try:
        count = write_request(folder, paced, running=lambda: process.poll() is None)
    except BaseException:  # e.g. the table re-sampled differently: leave no child behind
        _stop(process)
        raise
    if not count:
        _stop(process)
        return []
    _await_child(process, folder, timeout_s)
    return read_result(folder, count)


AHEAD = 3
"""The most frames written and not yet read by the child: the folder (and the disk) holds a
few batches, not the whole table, when producing them is faster than validating them."""


def _paced(
    validations: Iterable[Validation],
    folder: Path,
    process: subprocess.Popen[bytes],
    timeout_s: float,
    poll_s: float = 0.02,
) -> Iterator[Validation]:
    """The validations, each let through once the child holds fewer than :data:`AHEAD`
    unread frames (or has ended); a child that reads none for ``timeout_s`` is stopped."""
    for validation in validations:
        deadline = time.monotonic() + timeout_s
        while len(list(folder.glob("frame-*.pkl"))) >= AHEAD and process.poll() is None:
            if time.monotonic() > deadline:
                _stop(process)
                raise _timed_out(timeout_s)
            time.sleep(poll_s)
        yield validation


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill and reap a child (one already gone is only reaped)."""
    if process.poll() is None:
        process.kill()
    process.wait()


@dataclass(frozen=True)
class _WarmChild:
    """A child started with ``--wait`` on its own private folder, not yet handed a request."""

    process: subprocess.Popen[bytes]
    folder: Path


_warm: _WarmChild | None = None
_warm_lock = threading.Lock()  # tasks may validate from worker threads


def _take_warm() -> _WarmChild | None:
    """The waiting warm child, now this caller's alone (None if there is none)."""
    global _warm
    with _warm_lock:
        warm, _warm = _warm, None
    return warm


@contextlib.contextmanager
def warm_child() -> Iterator[None]:
    """Start a GX child now, to import GX while the caller works; :func:`validate` uses it.

    A no-op when validations run inline or a warm child is already waiting (one per
    process). On exit an unused child is killed and reaped, and its folder removed.
    """
    global _warm
    if _runs_inline():
        yield
        return
    with _warm_lock:
        if _warm is not None:
            started = None
        else:
            started = _warm = _start_warm()
    if started is None:
        yield
        return
    try:
        yield
    finally:
        with _warm_lock:
            if _warm is started:
                _warm = None
        process = started.process
        if process.poll() is None:  # unused, or left running by an interruption
            process.kill()
        process.wait()
        if process.stdin is not None:
            process.stdin.close()
        shutil.rmtree(started.folder, ignore_errors=True)


WARM_NICENESS = 5
"""How much lower a warm child's CPU priority is than its parent's: it imports GX on time the
run leaves free (during AIM's single-threaded rounds and the fit) instead of taking a core
from the counting scan, which runs DuckDB on every core (bench/scale.py at 10**7 rows: the
scan 1.45x slower beside an import at equal priority)."""


def _start_warm() -> _WarmChild:
    """A warm child on a new private folder (mode 0700), at :data:`WARM_NICENESS`."""
    folder = Path(tempfile.mkdtemp(prefix="dprelease-gx-"))
    try:
        child = _start_child(folder, wait=True)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    _lower_priority(child.pid, WARM_NICENESS)
    return _WarmChild(child, folder)


def _lower_priority(pid: int, by: int) -> None:
    """Raise ``pid``'s niceness by ``by`` over ours (any user may lower its own processes'
    priority); a platform without ``setpriority``, or a child already gone, keeps it as is."""
    if not hasattr(os, "setpriority"):
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) + by)


def _hand_over(warm: _WarmChild) -> None:
    """Tell the waiting child its request is written (``go``, then end of input)."""
    stdin = warm.process.stdin
    assert stdin is not None
    try:
        stdin.write(GO)
        stdin.close()
    except BrokenPipeError:  # it already died: waiting for it reports how
        pass


def write_request(
    folder: Path, validations: Iterable[Validation], running: Callable[[], bool] = lambda: True
) -> int:
    """Write each validation into ``folder`` as it comes (its pickled frame, then its
    ``item-<i>.json``), then ``request.json`` with their number; returns that number.
    Stops early, still ending the request, once ``running()`` is false (the child is gone)."""
    count = 0
    for i, v in enumerate(validations):
        v.frame.to_pickle(folder / f"frame-{i}.pkl")
        item = {
            "suite_name": v.suite_name,
            "keep_observed": v.keep_observed,
            "checks": {key: spec.as_json() for key, spec in v.checks.items()},
            "docs_dir": v.docs_dir,
            "suite_meta": dict(v.suite_meta),
            "run_name": v.run_name,
        }
        _write_whole(folder / f"item-{i}.json", json.dumps(item))
        count = i + 1
        if not running():
            break
    _write_whole(folder / "request.json", json.dumps({"count": count}))
    return count


def read_request(folder: Path, poll_s: float = 0.02) -> Iterator[Validation]:
    """The inverse of :func:`write_request` (in the child): each validation as soon as it is
    written (its frame file removed once read), until ``request.json`` says there are no more."""
    i = 0
    while True:
        ended = (folder / "request.json").exists()  # ended: every item is already written
        item = folder / f"item-{i}.json"
        if item.exists():
            yield _read_item(folder, i, json.loads(item.read_text()))
            i += 1
        elif ended:
            return
        else:
            time.sleep(poll_s)  # the parent is still producing the next batch


def _read_item(folder: Path, i: int, data: dict[str, Any]) -> Validation:
    """Validation ``i``: its frame (the file removed once read: the folder never holds the
    whole table) and the suite in ``data``."""
    frame_path = folder / f"frame-{i}.pkl"
    frame = pd.read_pickle(frame_path)
    frame_path.unlink()
    return Validation(
        suite_name=str(data["suite_name"]),
        frame=frame,
        checks={k: ExpectationSpec.from_json(s) for k, s in data["checks"].items()},
        keep_observed=bool(data["keep_observed"]),
        docs_dir=data.get("docs_dir"),
        suite_meta=dict(data.get("suite_meta") or {}),
        run_name=data.get("run_name"),
    )


def _write_whole(path: Path, text: str) -> None:
    """Write ``path`` so that a reader sees all of it or nothing (rename of a partial file)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def write_result(
    folder: Path, outcomes: Sequence[Outcomes] | None, error: BaseException | None
) -> None:
    """Write ``result.json``: the outcomes, or the error's class and (for our typed errors,
    whose messages never quote values) its message."""
    data: dict[str, Any]
    if error is None:
        assert outcomes is not None
        data = {"outcomes": [{k: o.as_json() for k, o in each.items()} for each in outcomes]}
    else:
        typed = isinstance(error, errors.DPReleaseError)
        data = {"error": {"type": type(error).__name__, "message": str(error) if typed else None}}
    _write_whole(folder / "result.json", json.dumps(data))  # the parent never reads half


def read_result(folder: Path, expected: int) -> list[Outcomes]:
    """The child's outcomes, or its error raised again as the same typed error."""
    path = folder / "result.json"
    if not path.exists():
        raise GXProcessError(
            "the Great Expectations child process exited without a result; "
            f"{_last_error_line(folder)}. Nothing was published; retry the run "
            "(`dprelease run SPEC --resume RUN_ID` reuses its measurements)."
        )
    data = json.loads(path.read_text())
    if "error" in data:
        raise _error_from(data["error"])
    outcomes = [
        {k: ExpectationOutcome.from_json(o) for k, o in each.items()} for each in data["outcomes"]
    ]
    if len(outcomes) != expected:
        raise GXProcessError(
            f"the Great Expectations child process answered {len(outcomes)} validation(s) "
            f"of {expected}; this is a bug in dprelease."
        )
    return outcomes


def _error_from(data: dict[str, Any]) -> errors.DPReleaseError:
    """Our typed error the child raised, with its message; anything else as a process error
    naming its class only (a library's message can quote values)."""
    name, message = str(data["type"]), data.get("message")
    cls = getattr(errors, name, None)
    if message is not None and isinstance(cls, type) and issubclass(cls, errors.DPReleaseError):
        return cls(message)
    return GXProcessError(
        f"validating with Great Expectations failed in its child process ({name}; the "
        "message is withheld because it can quote data values). Run with --debug on a "
        "trusted terminal, or set DPRELEASE_GX_PROCESS=inline, to see it."
    )


def _child_environment() -> dict[str, str]:
    """This process's environment, with this checkout first on the module path."""
    env = dict(os.environ)
    paths = [str(_PROJECT_ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def child_command(folder: Path) -> list[str]:
    """The child's command line: this interpreter, the entry module, the folder, our pid."""
    return [sys.executable, "-m", "expectations.child_main", str(folder), str(os.getpid())]


def _start_child(folder: Path, *, wait: bool = False) -> subprocess.Popen[bytes]:
    """Start the child on ``folder`` (its output to ``stderr.txt`` there); with ``wait`` it
    imports GX, then waits for ``go`` on its stdin before reading the request."""
    with (folder / "stderr.txt").open("wb") as stderr:
        return subprocess.Popen(
            child_command(folder) + ([WAIT_FLAG] if wait else []),
            cwd=folder,
            env=_child_environment(),
            stdin=subprocess.PIPE if wait else subprocess.DEVNULL,
            bufsize=0,  # ``go`` reaches the child as written; closing never flushes
            stdout=stderr,
            stderr=stderr,
        )


def _await_child(child: subprocess.Popen[bytes], folder: Path, timeout_s: float) -> None:
    """Wait for a child that has its request; raise :class:`GXProcessError` if it crashes
    or outlives ``timeout_s`` (then it is stopped, as it is if this wait is interrupted)."""
    try:
        code = child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(child)
        raise _timed_out(timeout_s) from None
    except BaseException:  # interrupted: leave no child behind
        child.kill()
        child.wait()
        raise
    if code < 0 and not (folder / "result.json").exists():
        raise GXProcessError(
            "the Great Expectations child process was killed by signal "
            f"{signal.Signals(-code).name} (out of memory?). Nothing was published; retry the "
            "run (`dprelease run SPEC --resume RUN_ID` reuses its measurements)."
        )


def _timed_out(timeout_s: float) -> GXProcessError:
    """The error of a child stopped for outliving ``timeout_s``."""
    return GXProcessError(
        f"the Great Expectations child process did not finish within {timeout_s:g} s "
        f"and was stopped (${TIMEOUT_ENV} sets the limit). Nothing was published; "
        "retry the run when the machine is less loaded (`dprelease run SPEC --resume "
        "RUN_ID` reuses its measurements)."
    )


def _last_error_line(folder: Path) -> str:
    """The exception class in the child's last traceback line (never its message)."""
    path = folder / "stderr.txt"
    lines = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    for line in reversed(lines):
        head = line.split(":", 1)[0].strip()
        if head.isidentifier() or ("." in head and head.replace(".", "_").isidentifier()):
            if os.environ.get("DPRELEASE_DEBUG"):
                return f"it failed with: {line.strip()}"
            return f"it failed with {head.rsplit('.', 1)[-1]}"
    return "it wrote no error"
