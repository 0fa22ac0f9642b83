"""Entry point of the Great Expectations child process (see :mod:`expectations.child`).

``python -m expectations.child_main FOLDER PARENT_PID``: read the validations in ``FOLDER``,
run them with :func:`expectations.runner.run_validations`, write ``result.json`` there, exit 0.
Any exception is written as the result's error (and its traceback to stderr, which the
parent keeps to itself); the process ends on its own if its parent dies, so a killed run
leaves no child behind.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path

from expectations.child import read_request, write_result
from expectations.runner import run_validations


def _exit_with_parent(parent: int, interval_s: float = 0.5) -> None:
    """Watch the parent from a daemon thread; exit at once when it is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    """Run the request in ``argv[0]``; ``argv[1]`` is the parent's pid."""
    folder = Path(argv[0])
    if len(argv) > 1:
        _exit_with_parent(int(argv[1]))
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
