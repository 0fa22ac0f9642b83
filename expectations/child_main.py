"""Entry point of the Great Expectations child process (see :mod:`expectations.child`).

``python -m expectations.child_main FOLDER PARENT_PID``: read the validations in ``FOLDER``
as the parent writes them, run each with :func:`expectations.runner.run_validations`, write
``result.json`` there, exit 0.
With ``--wait`` (a warm child) it first imports GX and what the runner uses, then waits for a
``go`` line on stdin before reading ``FOLDER``; end of input without one (the parent did not
need it, or is gone) ends it quietly with 0. Any exception is written as the result's error
(and its traceback to stderr, which the parent keeps to itself); the process ends on its own
if its parent dies, so a killed run leaves no child behind.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path

from expectations.child import GO, WAIT_FLAG, read_request, write_result
from expectations.runner import prepare, run_validations


def _exit_with_parent(parent: int, interval_s: float = 0.5) -> None:
    """Watch the parent from a daemon thread; exit at once when it is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _told_to_go() -> bool:
    """Import GX and the runner's parts, then block until the parent says ``go`` (True) or
    closes stdin without it (False)."""
    try:
        prepare()
    except Exception:  # the request's run meets it again and reports it as the result
        traceback.print_exc()
    return sys.stdin.buffer.readline() == GO


def main(argv: list[str]) -> int:
    """Run the request in ``argv[0]``; ``argv[1]`` is the parent's pid; ``--wait`` (last)
    makes a warm child that waits for ``go`` on stdin first."""
    wait = bool(argv) and argv[-1] == WAIT_FLAG
    if wait:
        argv = argv[:-1]
    folder = Path(argv[0])
    if len(argv) > 1:
        _exit_with_parent(int(argv[1]))
    if wait and not _told_to_go():
        return 0
    try:
        outcomes = run_validations(read_request(folder))
    except Exception as error:
        traceback.print_exc()
        write_result(folder, None, error)
        return 0
    write_result(folder, outcomes, None)
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # skip the interpreter's teardown of GX's modules (about a second)
