"""An exclusive ``flock`` on a file, held for a block: how processes of one home take turns
(publishers, the starter of the home's Prefect server, the starter of a warm runner)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock`` (created if missing); blocks while another holds
    it. The kernel releases it if the holder dies, so a crash never leaves it taken."""
    with lock.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
