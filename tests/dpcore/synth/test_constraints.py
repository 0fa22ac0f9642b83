"""Declared constraints are structural zeros of the model: fitted and sampled tables never
hold a forbidden combination, and respecting a rule the data obey costs no accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.constraints import (
    StructuralZeros,
    condition_codes,
    implication,
    mapping,
    value_code,
)
from dpcore.domain import Domain
from dpcore.encoding import ColumnCodec
from dpcore.errors import DomainError
from dpcore.marginals import ArrayOracle
from dpcore.noise import seeded_source
from dpcore.synth.registry import get_synthesizer


def _mapped(rows: int = 6000) -> tuple[Domain, np.ndarray, StructuralZeros]:
    """``b`` is ``a`` written again (a one-to-one code), plus noise columns ``c``, ``d``."""
    rng = np.random.default_rng(1)
    domain = Domain(("a", "b", "c", "d"), (6, 6, 3, 4))
    a = rng.integers(0, 6, rows)
    b = (a + 2) % 6
    c = np.where(rng.random(rows) < 0.7, a % 3, rng.integers(0, 3, rows))
    d = rng.integers(0, 4, rows)
    allowed = np.zeros((6, 6), dtype=bool)
    allowed[np.arange(6), (np.arange(6) + 2) % 6] = True
    zeros = StructuralZeros("b is a", ("b", "a"), allowed.T)  # stated in the other order
    return domain, np.stack([a, b, c, d], axis=1).astype(np.int64), zeros


@pytest.mark.parametrize("method", ["mst", "aim"])
@pytest.mark.parametrize("rho", [0.002, 0.5])
def test_no_synthetic_row_breaks_a_declared_mapping(method: str, rho: float) -> None:
    """At a small budget the noisy tables alone would put thousands of rows off the mapping;
    with the constraint in the model, none of 20,000 sampled rows is (the probability of a
    forbidden cell is exactly 0 in the clique that holds it)."""
    domain, codes, zeros = _mapped()
    plain = get_synthesizer(method)
    bound = get_synthesizer(method, zeros=(zeros,))
    oracle = ArrayOracle(domain, codes)
    measurements = bound.measure(domain, rho, oracle, seeded_source(3))
    model = bound.fit(domain, measurements)
    rows = model.sample(20_000, np.random.default_rng(4))
    assert zeros.violations(rows, domain) == 0
    table = model.marginal(("a", "b")).reshape(6, 6)
    assert np.all(table[~zeros.canonical(domain).allowed] == 0.0)
    if rho < 0.01:  # without the rule, noise puts rows off the mapping
        loose = plain.fit(domain, measurements).sample(20_000, np.random.default_rng(4))
        assert zeros.violations(loose, domain) > 100


def test_an_implication_from_thresholds_and_values() -> None:
    age = ColumnCodec("age", "integer", edges=(0, 5, 15, 40, 91))
    status = ColumnCodec(
        "status", "category", categories=("never", "married", "widowed"), has_missing=True
    )
    young = condition_codes(age, below=15)
    assert young == [0, 1]  # the bins [0, 5) and [5, 15)
    rule = implication("kids", (age, young), (status, condition_codes(status, ["never"])))
    assert rule.allowed.shape == (4, 4)
    assert not rule.allowed[0, 1] and not rule.allowed[1, 2] and rule.allowed[1, 0]
    assert rule.allowed[0, 3]  # missing status stays allowed
    assert rule.allowed[2:].all()
    with pytest.raises(DomainError, match="bin edges"):
        condition_codes(age, below=16)  # inside the bin [15, 40)
    with pytest.raises(DomainError, match="not one of"):
        condition_codes(status, ["divorced"])


def test_a_mapping_maps_values_through_the_public_codec() -> None:
    edu = ColumnCodec("edu", "category", categories=("low", "mid", "high"))
    num = ColumnCodec("num", "integer", edges=(1, 2, 3, 4))
    assert value_code(num, 3) == 2
    rule = mapping("edu is num", (edu, num), [["low", 1], ["mid", 2], ["high", 3]])
    assert rule.allowed.sum() == 3 and rule.allowed[1, 1]
    with pytest.raises(DomainError, match="outside column 'num'"):
        mapping("bad", (edu, num), [["low", 9]])
    with pytest.raises(DomainError, match="forbids every combination"):
        StructuralZeros("none", ("edu", "num"), np.zeros((3, 3), dtype=bool))


def test_an_age_rule_holds_in_ten_releases() -> None:
    """A generated census-like table where nobody under 15 has married: with the rule
    declared, 10 AIM releases at a small budget hold 0 violating rows out of 10 x 5,000."""
    rng = np.random.default_rng(7)
    age = ColumnCodec("age", "integer", edges=(0, 5, 10, 15, 30, 50, 91))
    status = ColumnCodec("status", "category", categories=("never", "married", "divorced"))
    domain = Domain(("age", "status", "region"), (6, 3, 4))
    ages = rng.integers(0, 6, 4000)
    married = np.where(ages >= 3, rng.integers(0, 3, 4000), 0)
    codes = np.stack([ages, married, rng.integers(0, 4, 4000)], axis=1).astype(np.int64)
    rule = implication(
        "children never married",
        (age, condition_codes(age, below=15)),
        (status, condition_codes(status, ["never"])),
    )
    assert rule.violations(codes, domain) == 0
    synthesizer = get_synthesizer("aim", zeros=(rule,))
    for run in range(10):
        measurements = synthesizer.measure(
            domain, 0.01, ArrayOracle(domain, codes), seeded_source(100 + run)
        )
        rows = synthesizer.fit(domain, measurements).sample(5000, np.random.default_rng(run))
        assert rule.violations(rows, domain) == 0
