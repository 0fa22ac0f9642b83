"""Codecs: public domains, labels, and decoding that keeps declared types and bounds."""

from __future__ import annotations

import numpy as np
import pytest

from dpcore.domain import Domain
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.errors import DomainError


def test_category_codes_include_missing_last() -> None:
    c = ColumnCodec(
        "w",
        "category",
        categories=("a", "b"),
        has_missing=True,
        missing_tokens=("?",),
        on_invalid="missing",
    )
    assert c.size == 3 and c.missing_code == 2
    assert c.labels() == ["a", "b", "(missing)"]
    decoded = c.decode(np.array([0, 1, 2, 0]), np.random.default_rng(0))
    assert list(decoded.values[~decoded.missing]) == ["a", "b", "a"]
    assert list(decoded.missing) == [False, False, True, False]


def test_integer_bins_are_half_open_and_decode_inside_their_bin() -> None:
    c = ColumnCodec("age", "integer", edges=(17.0, 30.0, 91.0))
    assert c.bounds == (17.0, 90.0)
    assert c.labels() == ["17-29", "30-90"]
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 2, size=20_000)
    decoded = c.decode(codes, rng)
    values = decoded.values.astype(np.int64)
    assert decoded.values.dtype == np.int64
    assert values[codes == 0].min() == 17 and values[codes == 0].max() == 29
    assert values[codes == 1].min() == 30 and values[codes == 1].max() == 90


def test_float_decodes_within_bounds() -> None:
    c = ColumnCodec("x", "float", edges=(0.0, 0.5, 1.0))
    decoded = c.decode(np.array([0, 1] * 1000), np.random.default_rng(2))
    v = decoded.values.astype(float)
    assert v.min() >= 0.0 and v.max() <= 1.0
    assert (v[::2] < 0.5).all() and (v[1::2] >= 0.5).all()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"kind": "category"}, "needs its values"),
        ({"kind": "category", "categories": ("a", "a")}, "repeat"),
        ({"kind": "integer", "edges": (1.0,)}, ">= 2 bin edges"),
        ({"kind": "float", "edges": (1.0, 1.0)}, "strictly increase"),
        ({"kind": "integer", "edges": (1.0, 2.5)}, "integers"),
        ({"kind": "category", "categories": ("a",), "on_invalid": "clamp"}, "numeric"),
        ({"kind": "category", "categories": ("a",), "on_invalid": "missing"}, "missing value"),
    ],
)
def test_malformed_codecs_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DomainError, match=message):
        ColumnCodec("c", **kwargs)  # type: ignore[arg-type]


def test_table_codec_domain_and_duplicates() -> None:
    a = ColumnCodec("a", "category", categories=("x", "y"))
    b = ColumnCodec("b", "integer", edges=(0.0, 5.0, 10.0), has_missing=True)
    assert TableCodec((a, b)).domain == Domain(("a", "b"), (2, 3))
    with pytest.raises(DomainError, match="duplicate"):
        TableCodec((a, a))


def test_domain_shapes_and_errors() -> None:
    d = Domain.from_dict({"a": 2, "b": 3, "c": 4})
    assert d.shape(("c", "a")) == (4, 2)
    assert d.cells(("a", "b", "c")) == 24
    assert d.canonical(("c", "a")) == ("a", "c")
    with pytest.raises(DomainError, match="not in the domain"):
        d.size("z")
    with pytest.raises(DomainError, match="empty domain"):
        Domain(("a",), (0,))
