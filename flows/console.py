"""A quiet terminal for the CLI: Prefect's console lines replaced by ours, unless --debug.

Prefect prints every run's INFO logs and, when a run fails, the exception's traceback to
stderr. On the CLI our progress lines (:mod:`flows.progress`) already say what is
happening and errors are printed as one paragraph, so while a command runs only Prefect's
warnings reach the console. The logs still go to the Prefect API (the UI) unchanged:
only the console handler is filtered. ``--debug`` keeps everything, tracebacks included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class WarningsOnly(logging.Filter):
    """Pass only WARNING records of the ``prefect`` loggers; other loggers pass unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop Prefect's INFO chatter and its ERROR tracebacks (the CLI reports errors)."""
        if record.name == "prefect" or record.name.startswith("prefect."):
            return record.levelno == logging.WARNING
        return True


def _console_handlers() -> list[logging.Handler]:
    from prefect.logging.handlers import PrefectConsoleHandler

    return [
        h
        for logger in (logging.getLogger(), logging.getLogger("prefect"))
        for h in logger.handlers
        if isinstance(h, PrefectConsoleHandler)
    ]


@contextmanager
def quiet_prefect_console(enabled: bool = True) -> Iterator[None]:
    """Filter Prefect's console handlers with :class:`WarningsOnly` for the duration."""
    if not enabled:
        yield
        return
    handlers = _console_handlers()
    quiet = WarningsOnly()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
