"""Randomness sources: the private flag, reproducibility and the shape of words."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.noise import RandomSource, secure_source, seeded_source


def test_secure_source_is_private_and_seeded_is_not() -> None:
    assert secure_source().private is True
    assert seeded_source(0).private is False
    assert isinstance(secure_source(), RandomSource)
    assert isinstance(seeded_source(0), RandomSource)


@pytest.mark.parametrize("make", [secure_source, lambda: seeded_source(7)])
def test_words_are_uint64_of_requested_length(make: object) -> None:
    source = make()  # type: ignore[operator]
    for n in (0, 1, 5, 1000):
        words = source.words(n)
        assert words.dtype == np.uint64
        assert words.shape == (n,)


def test_secure_words_span_the_full_range() -> None:
    words = secure_source().words(4096)
    assert len(np.unique(words)) == words.size  # a repeat would be a 2**-40 event
    top = words >> np.uint64(63)
    assert 1500 < int(top.sum()) < 2600  # both halves of the range occur


def test_seeded_source_is_reproducible_and_seed_dependent() -> None:
    a, b, c = seeded_source(42), seeded_source(42), seeded_source(43)
    assert np.array_equal(a.words(100), b.words(100))
    assert np.array_equal(a.words(3), b.words(3))
    assert not np.array_equal(seeded_source(42).words(100), c.words(100))


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_seeded_source_rejects_bad_seeds(seed: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        seeded_source(seed)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [-1, 2.0, True])
def test_words_rejects_bad_counts(n: object) -> None:
    with pytest.raises(ValueError, match="non-negative integer"):
        seeded_source(0).words(n)  # type: ignore[arg-type]
