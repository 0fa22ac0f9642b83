"""Progress of a release's long steps, as plain log records a terminal can show.

The flow wraps each long step in :func:`step`; it logs "started" and "done in N s" on the
``dprelease.progress`` logger (fixed step labels only, never data). Nothing is printed
unless a handler is attached: the CLI attaches :class:`ProgressPrinter`, served runs do not
(their steps show in the Prefect UI as task runs).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

LOGGER_NAME = "dprelease.progress"
_logger = logging.getLogger(LOGGER_NAME)


@contextmanager
def step(label: str) -> Iterator[None]:
    """Log the start of ``label`` and, on success, its duration."""
    start = time.monotonic()
    _logger.info("%s ...", label, extra={"step": label, "phase": "start"})
    yield
    seconds = time.monotonic() - start
    _logger.info(
        "%s done in %.1f s",
        label,
        seconds,
        extra={"step": label, "phase": "done", "seconds": seconds},
    )


class ProgressPrinter(logging.Handler):
    """Prints one line per finished step (``  measuring marginals ... 2.3 s``) to a stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(logging.INFO)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        """Write finished steps only, so each step is one line even when interleaved."""
        if getattr(record, "phase", None) != "done":
            return
        stream = self.stream or sys.stderr
        label = str(getattr(record, "step", ""))
        seconds = float(getattr(record, "seconds", 0.0))
        stream.write(f"  {label:<32} {seconds:6.1f} s\n")
        stream.flush()


@contextmanager
def print_progress(stream: TextIO | None = None) -> Iterator[None]:
    """Attach a :class:`ProgressPrinter` to the progress logger for the duration."""
    handler = ProgressPrinter(stream)
    previous = _logger.level, _logger.propagate
    _logger.addHandler(handler)
    _logger.setLevel(logging.INFO)
    _logger.propagate = False  # printed once, here, not again by a console handler on root
    try:
        yield
    finally:
        _logger.removeHandler(handler)
        _logger.setLevel(previous[0])
        _logger.propagate = previous[1]
