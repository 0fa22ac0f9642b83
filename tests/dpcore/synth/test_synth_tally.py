"""Code tallies: chunk by chunk equals all at once; cliques in any column order."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle
from dpcore.synth.tally import CodeTally

DOMAIN = Domain(("a", "b", "c"), (2, 3, 4))


def codes(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, rows) for s in DOMAIN.sizes], axis=1)


def test_chunks_add_up_to_the_whole() -> None:
    whole = codes(1000)
    tally = CodeTally.of(whole, DOMAIN, [("c", "a")])
    by_add = CodeTally.empty(DOMAIN, [("a", "c")])
    for part in np.array_split(whole, 7):
        by_add = by_add.add(part)
    parts = [CodeTally.of(p, DOMAIN, [("a", "c")]) for p in np.array_split(whole, 3)]
    assert by_add == tally == parts[0].plus(parts[1]).plus(parts[2])
    assert tally.rows == 1000
    oracle = ArrayOracle(DOMAIN, whole)
    for clique in [("a",), ("b",), ("a", "c"), ("c", "a")]:
        expected = oracle.counts([clique])[0].reshape(DOMAIN.shape(clique))
        assert np.array_equal(tally.counts(clique), expected)
    with pytest.raises(KeyError, match="not tallied"):
        tally.counts(("a", "b"))


def test_codes_outside_the_domain_are_counted_apart() -> None:
    bad = np.array([[0, 0, 0], [1, 3, 0], [-1, 2, 3]])
    tally = CodeTally.of(bad, DOMAIN, [("a", "b")])
    a, b, _ = tally.columns
    assert (a.outside, a.lowest, a.highest) == (1, -1, 1)
    assert (b.outside, b.lowest, b.highest) == (1, 0, 3)
    assert tally.counts(("a", "b")).sum() == 1  # only the fully valid row
    assert CodeTally.empty(DOMAIN).columns[0].lowest is None
    assert tally != CodeTally.of(bad[:2], DOMAIN, [("a", "b")])
