"""Workloads: defaults, canonical order, merged duplicates, closure and coverage."""

from __future__ import annotations

import pytest

from dpcore.domain import Domain
from dpcore.errors import DomainError
from dpcore.workload import all_k_way, make_workload


def test_default_is_all_pairs() -> None:
    domain = Domain(("a", "b", "c"), (2, 2, 2))
    workload = make_workload(domain)
    assert workload.cliques == (("a", "b"), ("a", "c"), ("b", "c"))
    assert workload.weights == (1.0, 1.0, 1.0)
    assert set(workload.closure()) == {("a",), ("b",), ("c",), *workload.cliques}
    assert workload.coverage(("a",)) == 2.0
    assert workload.coverage(("a", "b")) == 4.0


def test_user_workload_is_canonical_and_merged() -> None:
    domain = Domain(("a", "b", "c"), (2, 2, 2))
    workload = make_workload(domain, [("c", "a"), ("a", "c"), ("b",)], [1.0, 2.0, 0.5])
    assert workload.cliques == (("a", "c"), ("b",))
    assert workload.weights == (3.0, 0.5)
    with pytest.raises(DomainError):
        make_workload(domain, [("z",)])
    with pytest.raises(DomainError):
        make_workload(domain, [("a",)], [0.0])
    assert all_k_way(Domain(("a",), (3,)), 2).cliques == (("a",),)
