"""The home's file lock: one holder at a time; the next one waits until it is released."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from warehouse.file_lock import exclusive


def test_a_second_holder_waits_until_the_first_releases(tmp_path: Path) -> None:
    lock = tmp_path / "x.lock"
    order: list[str] = []

    def second() -> None:
        with exclusive(lock):  # a second open file description: flock makes it wait
            order.append("second")

    with exclusive(lock):
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.3)
        order.append("first released")
    waiter.join(timeout=10)
    assert order == ["first released", "second"]
    assert lock.exists()
