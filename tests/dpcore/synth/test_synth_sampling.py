"""Forward sampling draws rows whose marginals match the model's."""

from __future__ import annotations

import numpy as np

from dpcore.domain import Domain
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.synth.model import fit_model


def test_sample_marginals_match_model() -> None:
    rng = np.random.default_rng(3)
    domain = Domain(("a", "b", "c", "d"), (3, 4, 2, 6))
    rows = 3000
    a = rng.integers(0, 3, rows)
    b = (a + rng.integers(0, 2, rows)) % 4
    c = (b > 1).astype(np.int64)
    d = rng.integers(0, 6, rows)
    codes = np.stack([a, b, c, d], axis=1)
    oracle = ArrayOracle(domain, codes)
    cliques = [("a", "b"), ("b", "c"), ("c", "d")]
    measurements = [
        Measurement(q, v, 2.0) for q, v in zip(cliques, oracle.counts(cliques), strict=True)
    ]
    model, _ = fit_model(domain, measurements, iterations=200)
    draws = 200_000
    sample = model.sample(draws, np.random.default_rng(0))
    assert sample.shape == (draws, 4) and sample.dtype == np.int64
    drawn = ArrayOracle(domain, sample)
    for clique in [*cliques, ("a", "c"), ("a", "d"), ("a", "b", "c")]:
        empirical = drawn.counts([clique])[0] / draws
        assert 0.5 * np.abs(empirical - model.marginal(clique)).sum() < 0.01, clique


def test_sample_is_reproducible_and_zero_rows() -> None:
    domain = Domain(("a", "b"), (2, 3))
    measurements = [Measurement(("a", "b"), np.array([5, 1, 0, 2, 7, 3]), 1.0)]
    model, _ = fit_model(domain, measurements, iterations=20)
    first = model.sample(50, np.random.default_rng(7))
    again = model.sample(50, np.random.default_rng(7))
    assert np.array_equal(first, again)
    assert model.sample(0, np.random.default_rng(0)).shape == (0, 2)


def test_stratified_sampling_rounds_expected_counts() -> None:
    domain = Domain(("a", "b"), (4, 5))
    rng = np.random.default_rng(5)
    counts = rng.integers(1, 50, 20)
    model, _ = fit_model(domain, [Measurement(("a", "b"), counts, 1e-3)], iterations=2000)
    rows = 1000
    sample = model.sample(rows, np.random.default_rng(1))
    drawn = ArrayOracle(domain, sample).counts([("a", "b")])[0]
    expected = model.marginal(("a", "b")) * rows
    assert np.all(np.abs(drawn - expected) < 1.0 + 1e-9)
    # Independent draws are available and noisier.
    from dpcore.synth.sampling import forward_sample

    iid = forward_sample(model.tree, model.beliefs, rows, np.random.default_rng(1), scheme="iid")
    iid_counts = ArrayOracle(domain, iid).counts([("a", "b")])[0]
    assert np.abs(iid_counts - expected).max() > 1.0


def test_chunk_sizes_split_the_rows_evenly() -> None:
    from dpcore.synth.sampling import chunk_sizes

    assert chunk_sizes(10, 3) == [3, 3, 2, 2]
    assert chunk_sizes(6, 3) == [3, 3]
    assert chunk_sizes(0, 3) == [0]
    sizes = chunk_sizes(10_000_001, 1_000_000)
    assert sum(sizes) == 10_000_001 and len(sizes) == 11 and max(sizes) - min(sizes) <= 1


def _chain_model() -> tuple[Domain, list[tuple[str, ...]], object]:
    rng = np.random.default_rng(3)
    domain = Domain(("a", "b", "c", "d"), (3, 4, 2, 6))
    rows = 3000
    a = rng.integers(0, 3, rows)
    b = (a + rng.integers(0, 2, rows)) % 4
    c = (b > 1).astype(np.int64)
    d = rng.integers(0, 6, rows)
    oracle = ArrayOracle(domain, np.stack([a, b, c, d], axis=1))
    cliques = [("a", "b"), ("b", "c"), ("c", "d")]
    measurements = [
        Measurement(q, v, 2.0) for q, v in zip(cliques, oracle.counts(cliques), strict=True)
    ]
    model, _ = fit_model(domain, measurements, iterations=200)
    return domain, cliques, model


def test_chunked_sample_is_reproducible_and_sized_as_planned() -> None:
    from dpcore.synth.sampling import sample_chunks

    _, _, model = _chain_model()
    first = [c for c, _ in sample_chunks(model, 10_001, seed=11, chunk_rows=3000)]  # type: ignore[arg-type]
    again = [c for c, _ in sample_chunks(model, 10_001, seed=11, chunk_rows=3000)]  # type: ignore[arg-type]
    other = [c for c, _ in sample_chunks(model, 10_001, seed=12, chunk_rows=3000)]  # type: ignore[arg-type]
    assert [len(c) for c in first] == [2501, 2500, 2500, 2500]
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], first[1])  # each chunk has its own stream


def test_chunked_sample_marginals_match_the_unchunked_ones() -> None:
    """Chunked (20 chunks) and unchunked stratified samples both match the model.

    False-failure rate: stratification only lowers the variance of the counts relative to
    independent draws, and for 200,000 independent draws E[TVD] <= 0.4 sqrt(cells / n) <=
    0.0044 (cells <= 24); TVD moves by at most 1/n per draw, so (McDiarmid)
    P(TVD >= 0.01) <= exp(-2 n 0.0056^2) ~ 4e-6 per marginal, < 1e-4 for the 14 checked.
    """
    from dpcore.synth.sampling import sample_chunks

    domain, cliques, model = _chain_model()
    draws = 200_000
    chunked = np.concatenate(
        [c for c, _ in sample_chunks(model, draws, seed=5, chunk_rows=10_000)]  # type: ignore[arg-type]
    )
    whole = model.sample(draws, np.random.default_rng(5))  # type: ignore[attr-defined]
    for clique in [*cliques, ("a", "c"), ("a", "d"), ("a", "b", "c")]:
        expected = model.marginal(clique)  # type: ignore[attr-defined]
        for sample in (chunked, whole):
            empirical = ArrayOracle(domain, sample).counts([clique])[0] / draws
            assert 0.5 * np.abs(empirical - expected).sum() < 0.01, clique


def test_chunked_stratified_counts_stay_within_one_row_per_chunk() -> None:
    """Each chunk rounds the expected counts up or down, so K chunks stray by less than K."""
    from dpcore.synth.sampling import chunk_sizes, sample_chunks

    domain = Domain(("a", "b"), (4, 5))
    counts = np.random.default_rng(5).integers(1, 50, 20)
    model, _ = fit_model(domain, [Measurement(("a", "b"), counts, 1e-3)], iterations=2000)
    rows, chunk_rows = 10_000, 900
    k = len(chunk_sizes(rows, chunk_rows))
    sample = np.concatenate([c for c, _ in sample_chunks(model, rows, 1, chunk_rows)])
    drawn = ArrayOracle(domain, sample).counts([("a", "b")])[0]
    deviation = np.abs(drawn - model.marginal(("a", "b")) * rows)
    assert k == 12 and np.all(deviation < k)


def test_stratified_picks_round_each_groups_counts_and_keep_each_row_exact() -> None:
    """Counts per group are the expected counts rounded up or down; and the first row of each
    group (a row like any other) follows the conditional exactly. Each of the 3 frequencies
    is checked at 5.3 binomial standard deviations: false-failure rate below 1e-6 in all."""
    from dpcore.synth.sampling import stratified_picks

    p = np.array([0.5, 0.3, 0.2])
    groups, per_group = 40_000, 3
    cdf = np.tile(np.cumsum(p), (groups, 1))
    condition = np.repeat(np.arange(groups), per_group)
    picks = stratified_picks(cdf, condition, np.random.default_rng(7))
    counts = np.zeros((groups, 3), dtype=np.int64)
    np.add.at(counts, (condition, picks), 1)
    assert np.all(np.abs(counts - per_group * p) < 1)
    first = np.bincount(picks[::per_group], minlength=3) / groups
    assert np.all(np.abs(first - p) <= 5.3 * np.sqrt(p * (1 - p) / groups))


def test_stratified_picks_give_every_row_of_an_uneven_group_a_code() -> None:
    from dpcore.synth.sampling import stratified_picks

    cdf = np.array([[0.0, 1.0, 1.0], [1 / 3, 2 / 3, 1.0]])
    condition = np.array([1, 0, 1, 1, 0, 1, 1])
    picks = stratified_picks(cdf, condition, np.random.default_rng(3))
    assert set(picks[condition == 0]) == {1}  # group 0 puts all mass on code 1
    assert sorted(np.bincount(picks[condition == 1], minlength=3)) in ([1, 2, 2],)


def test_balanced_picks_keep_each_row_exact_whatever_its_key() -> None:
    """Rows sorted first or last by the key (prior value 0 or 1) still follow the conditional:
    over 4,000 draws, the code frequencies of a fixed first-sorted and a fixed last-sorted row
    are each within 5.3 binomial standard deviations of ``p`` (6 checks: false-failure rate
    below 1e-6 in all). Group counts are still the expected counts rounded."""
    from dpcore.synth.sampling import balance_key, balanced_picks

    p = np.array([0.5, 0.3, 0.2])
    rows, draws = 30, 4000
    cdf = np.cumsum(p)[None, :]
    condition = np.zeros(rows, dtype=np.int64)
    prior = np.arange(rows, dtype=np.int64) % 2  # row 0 sorts first, row 1 last
    seen = np.zeros((2, 3), dtype=np.int64)
    rng = np.random.default_rng(11)
    for _ in range(draws):
        key = balance_key(condition, 1, [(prior, 2)], rng)
        picks = balanced_picks(cdf, condition, key, rng)
        assert np.all(np.abs(np.bincount(picks, minlength=3) - rows * p) < 1)
        seen[0, picks[0]] += 1
        seen[1, picks[1]] += 1
    sd = np.sqrt(p * (1 - p) / draws)
    assert np.all(np.abs(seen / draws - p) <= 5.3 * sd)


def test_balanced_picks_spread_codes_evenly_over_a_keyed_column() -> None:
    """Keyed on a prior column of 40 values, each (value, code) count in a group of 20,000 rows
    stays within 3 of proportional, where random pairing (systematic sampling) strays by
    about sqrt(500 p (1 - p)) ~ 10 (it must exceed 3 somewhere)."""
    from dpcore.synth.sampling import balance_key, balanced_picks, stratified_picks

    p = np.array([0.37, 0.21, 0.3, 0.12])
    rows, values = 20_000, 40
    rng = np.random.default_rng(2)
    cdf = np.tile(np.cumsum(p), (2, 1))
    condition = rng.integers(0, 2, rows)
    prior = rng.integers(0, values, rows)

    def worst(picks: np.ndarray) -> float:
        counts = np.zeros((2, values, 4))
        np.add.at(counts, (condition, prior, picks), 1)
        members = counts.sum(axis=2, keepdims=True)
        return float(np.abs(counts - members * p).max())

    key = balance_key(condition, 2, [(prior, values)], rng)
    assert worst(balanced_picks(cdf, condition, key, rng)) < 3
    assert worst(stratified_picks(cdf, condition, rng)) > 3


def test_balanced_sample_pairs_across_cliques_sit_closer_to_the_model() -> None:
    """On a chain model, the pairs across cliques (a, c), (a, d), (b, d) of a balanced sample
    are closer to the model's exact marginals than those of a systematic sample (same seed)."""
    from dpcore.synth.sampling import forward_sample

    domain, _, model = _chain_model()
    rows = 20_000

    def distance(scheme: str) -> float:
        sample = forward_sample(
            model.tree,  # type: ignore[attr-defined]
            model.beliefs,  # type: ignore[attr-defined]
            rows,
            np.random.default_rng(4),
            scheme=scheme,  # type: ignore[arg-type]
        )
        drawn = ArrayOracle(domain, sample)
        return sum(
            0.5 * float(np.abs(drawn.counts([q])[0] / rows - model.marginal(q)).sum())  # type: ignore[attr-defined]
            for q in [("a", "c"), ("a", "d"), ("b", "d")]
        )

    assert distance("balanced") < 0.3 * distance("systematic")


def test_golden_places_agree_for_few_and_many_groups() -> None:
    """The per-group permutations (few groups) and the one-sort path (many groups) agree, and
    each group's places are a permutation of its indices."""
    from dpcore.synth.sampling import _golden_permutation, _golden_places

    sizes = np.random.default_rng(8).integers(0, 7, 5000)
    sizes[:3] = [3000, 2049, 1]
    many = _golden_places(sizes)
    few = np.concatenate([_golden_permutation(int(m)) for m in sizes if m > 0])
    assert np.array_equal(many, few)
    assert np.array_equal(np.sort(_golden_places(np.array([2500, 5]))[:2500]), np.arange(2500))


def _small_groups(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """200 groups of ~30 rows, a prior column of 40 values, conditionals over 30 codes
    (Dirichlet per group): (probabilities, condition, prior codes, balanced picks)."""
    from dpcore.synth.sampling import balance_key, balanced_picks

    rng = np.random.default_rng(seed)
    groups, width, values, rows = 200, 30, 40, 6000
    probabilities = rng.dirichlet(np.full(width, 0.5), groups)
    cdf = np.cumsum(probabilities, axis=1)
    cdf[:, -1] = 1.0
    condition = rng.integers(0, groups, rows)
    prior = rng.integers(0, values, rows)
    key = balance_key(condition, groups, [(prior, values)], rng)
    return probabilities, condition, prior, balanced_picks(cdf, condition, key, rng)


def test_repair_keeps_each_groups_codes_and_lowers_the_conditional_residuals() -> None:
    """Swaps stay inside a group (each group's code counts are unchanged, so every clique
    count the balanced scheme rounded stays rounded) and cut the summed |count - expectation|
    of (prior value, code) by more than a third (fixed seeds; deterministic)."""
    from dpcore.synth.sampling import conditional_residuals, repair_picks

    for seed in (1, 2):
        probabilities, condition, prior, picks = _small_groups(seed)
        columns = [(prior, 40), ((prior * 7) % 13, 13)]
        repaired = repair_picks(
            picks, condition, probabilities, columns, np.random.default_rng(seed)
        )
        width = probabilities.shape[1]
        kept = np.bincount(condition * width + picks, minlength=200 * width)
        assert np.array_equal(
            np.bincount(condition * width + repaired, minlength=200 * width), kept
        )
        before = sum(
            np.abs(r).sum() for r in conditional_residuals(picks, condition, probabilities, columns)
        )
        after = sum(
            np.abs(r).sum()
            for r in conditional_residuals(repaired, condition, probabilities, columns)
        )
        assert after < 0.67 * before, (seed, after, before)


def _wide_chain_model() -> tuple[Domain, object]:
    """a (30 values) - b (20) - c (25): pair (a, c) crosses the separator b."""
    rng = np.random.default_rng(6)
    domain = Domain(("a", "b", "c"), (30, 20, 25))
    rows = 5000
    a = rng.integers(0, 30, rows)
    b = (a // 2 + rng.integers(0, 6, rows)) % 20
    c = (b + rng.integers(0, 8, rows)) % 25
    oracle = ArrayOracle(domain, np.stack([a, b, c], axis=1))
    cliques = [("a", "b"), ("b", "c")]
    measurements = [
        Measurement(q, v, 1.0) for q, v in zip(cliques, oracle.counts(cliques), strict=True)
    ]
    model, _ = fit_model(domain, measurements, iterations=200)
    return domain, model


def test_repaired_sample_pair_across_cliques_sits_closer_to_the_model() -> None:
    """On a chain whose separator splits 3,000 rows into 20 groups, the pair across cliques
    (a, c) of a repaired sample is closer to the model than a balanced one (same seeds)."""
    from dpcore.synth.sampling import forward_sample

    domain, model = _wide_chain_model()
    rows = 3000

    def distance(scheme: str, seed: int) -> float:
        sample = forward_sample(
            model.tree,  # type: ignore[attr-defined]
            model.beliefs,  # type: ignore[attr-defined]
            rows,
            np.random.default_rng(seed),
            scheme=scheme,  # type: ignore[arg-type]
        )
        drawn = ArrayOracle(domain, sample).counts([("a", "c")])[0] / rows
        return 0.5 * float(np.abs(drawn - model.marginal(("a", "c"))).sum())  # type: ignore[attr-defined]

    for seed in range(3):
        assert distance("repaired", seed) < 0.5 * distance("balanced", seed), seed


def test_repaired_sample_is_seeded_and_keeps_clique_counts_rounded() -> None:
    """The same generator seed gives the same rows, another seed others; and within the
    clique (b, c) every (b, c) count is still within one row of count(b) p(c | b)."""
    from dpcore.synth.sampling import forward_sample

    domain, model = _wide_chain_model()
    tree, beliefs = model.tree, model.beliefs  # type: ignore[attr-defined]

    def draw(seed: int) -> np.ndarray:
        return forward_sample(tree, beliefs, 3000, np.random.default_rng(seed), scheme="repaired")

    first = draw(9)
    assert np.array_equal(first, draw(9)) and not np.array_equal(first, draw(10))
    pair = ArrayOracle(domain, first).counts([("b", "c")])[0].reshape(20, 25)
    joint = np.asarray(model.marginal(("b", "c"))).reshape(20, 25)  # type: ignore[attr-defined]
    conditional = joint / joint.sum(axis=1, keepdims=True)
    assert np.all(np.abs(pair - pair.sum(axis=1, keepdims=True) * conditional) < 1 + 1e-9)


def test_chunks_are_repaired_below_the_row_limit_and_balanced_above(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """sample_chunks draws each chunk with the default scheme: repaired while a chunk has at
    most REPAIR_MAX_ROWS rows, plain balanced (same generator) above it."""
    from dpcore.synth import sampling

    _, model = _wide_chain_model()
    tree, beliefs = model.tree, model.beliefs  # type: ignore[attr-defined]

    def chunk(scheme: str, index: int, size: int) -> np.ndarray:
        rng = sampling.chunk_generator(4, index)
        return sampling.forward_sample(tree, beliefs, size, rng, scheme=scheme)  # type: ignore[arg-type]

    chunks = [c for c, _ in sampling.sample_chunks(model, 5000, seed=4, chunk_rows=2500)]  # type: ignore[arg-type]
    assert [len(c) for c in chunks] == [2500, 2500]
    assert all(np.array_equal(c, chunk("repaired", i, 2500)) for i, c in enumerate(chunks))
    assert not np.array_equal(chunks[0], chunk("balanced", 0, 2500))
    monkeypatch.setattr(sampling, "REPAIR_MAX_ROWS", 2000)
    above = next(iter(sampling.sample_chunks(model, 5000, seed=4, chunk_rows=2500)))[0]  # type: ignore[arg-type]
    assert np.array_equal(above, chunk("balanced", 0, 2500))


def test_repair_handles_tiny_samples_and_no_prior_column() -> None:
    """A few rows (groups of one, nothing to swap) and no earlier column to pair with leave
    the codes as drawn."""
    from dpcore.synth.sampling import forward_sample, repair_picks

    _, model = _wide_chain_model()
    for rows in (1, 2, 3, 7):
        sample = forward_sample(model.tree, model.beliefs, rows, np.random.default_rng(rows))  # type: ignore[attr-defined]
        assert sample.shape == (rows, 3)
    picks = np.array([0, 1, 1])
    kept = repair_picks(
        picks, np.zeros(3, np.int64), np.array([[0.5, 0.5]]), [], np.random.default_rng(0)
    )
    assert np.array_equal(kept, picks) and kept is not picks


def test_repair_stops_once_the_rounds_no_longer_lower_the_residuals(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With 500 rounds allowed, the repair of a small sample stops long before: once
    STOP_WINDOW rounds lowered the summed |residual| by less than STOP_FRACTION (counted by
    the pairing calls, one per round; without the stop all 500 run)."""
    from dpcore.synth import sampling

    calls = []
    pairs = sampling._pairs

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return pairs(*args, **kwargs)

    monkeypatch.setattr(sampling, "_pairs", counted)
    probabilities, condition, prior, picks = _small_groups(1)
    columns = [(prior, 40), ((prior * 7) % 13, 13)]
    sampling.repair_picks(
        picks, condition, probabilities, columns, np.random.default_rng(1), rounds=500
    )
    assert sampling.STOP_WINDOW < len(calls) < 200, len(calls)


def test_listing_keeps_about_list_factor_rows_per_unit_of_residual() -> None:
    """Of 100 rows in a cell over its expectation by 2, about LIST_FACTOR * 2 are listed (8:
    at least 30 has probability below 1e-8 per draw); rows of a cell over by at most a half
    are never listed, and the pool keeps exactly the rows still over."""
    from dpcore.synth.sampling import LIST_FACTOR, _listed

    residual = np.array([2.0, 0.5, -1.0])
    expected = np.array([98.0, 49.5, 11.0])
    cells = np.repeat([0, 1, 2], [100, 50, 10])
    rng = np.random.default_rng(5)
    counts = []
    for _ in range(20):
        listed, pool = _listed(residual, expected, cells, np.arange(cells.size), rng)
        assert np.array_equal(pool, np.arange(100)) and np.all(cells[listed] == 0)
        counts.append(listed.size)
    assert max(counts) < 30 and abs(np.mean(counts) - 2 * LIST_FACTOR) < 3, counts
