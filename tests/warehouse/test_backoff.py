"""The one back-off schedule: doubling delays up to a cap, jittered on request, until a deadline."""

from __future__ import annotations

import time

import pytest

from warehouse import backoff as backoff_module
from warehouse.backoff import Backoff


def test_delays_double_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(backoff_module.time, "sleep", slept.append)
    b = Backoff.within(60, first=0.01, cap=0.05)
    for _ in range(5):
        b.sleep()
    assert slept == pytest.approx([0.01, 0.02, 0.04, 0.05, 0.05])


def test_jitter_stays_within_half_and_one_and_a_half(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(backoff_module.time, "sleep", slept.append)
    b = Backoff.within(60, first=1.0, cap=1.0, jitter=True)
    for _ in range(50):
        b.sleep()
    assert all(0.5 <= s < 1.5 for s in slept) and len(set(slept)) > 1


def test_deadline() -> None:
    assert Backoff.within(-1, first=0.01, cap=0.1).expired()
    live = Backoff(time.monotonic() + 60, first=0.01, cap=0.1)
    assert not live.expired() and 59 < live.remaining() <= 60
    assert Backoff.within(-1, first=0.01, cap=0.1).remaining() == 0.0
