"""The synthesize task: post-processing only, sized by the noisy total, typed columns."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from dpcore.accounting import PrivacyCap, PrivacyCost
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.errors import NotPrivateError
from dpcore.marginals import ArrayOracle, estimate_total
from dpcore.noise import secure_source, seeded_source
from dpcore.synth.independent import IndependentSynthesizer
from expectations import UtilityReport
from tasks.publish import publish_fn
from tasks.request import ReleaseRequest
from tasks.synthesize import decode_frame, synthesize_fn

CODEC = TableCodec(
    (
        ColumnCodec(
            "kind",
            "category",
            categories=("a", "b"),
            has_missing=True,
            missing_tokens=("?",),
            on_invalid="missing",
        ),
        ColumnCodec("age", "integer", edges=(17.0, 30.0, 91.0)),
        ColumnCodec("score", "float", edges=(0.0, 0.5, 1.0)),
    )
)


def request(rows: int | None = None) -> ReleaseRequest:
    return ReleaseRequest(
        name="t",
        description="test",
        source_table="raw.t",
        codec=CODEC,
        cost=PrivacyCost(1.0, 1e-9),
        cap=PrivacyCap(4.0, 1e-6),
        method="independent",
        spec_hash="h",
        spec_path="t.yaml",
        rows=rows,
    )


def measurements(private: bool) -> list:  # type: ignore[type-arg]
    rng = np.random.default_rng(0)
    codes = np.stack([rng.integers(0, s, 5_000) for s in CODEC.domain.sizes], axis=1)
    source = secure_source() if private else seeded_source(1)
    return IndependentSynthesizer().measure(
        CODEC.domain, 0.5, ArrayOracle(CODEC.domain, codes), source
    )


def test_synthesis_takes_only_measurements_never_source_rows() -> None:
    params = set(inspect.signature(synthesize_fn).parameters)
    # ``home`` and ``spool`` say where the synthetic rows are written, not what is read.
    assert params == {"request", "measurements", "home", "spool"}


def test_row_count_is_the_noisy_total_unless_requested() -> None:
    ms = measurements(private=True)
    table = synthesize_fn(request(), ms)
    assert table.rows == round(estimate_total(ms))
    assert table.synthetic.private
    assert synthesize_fn(request(rows=123), ms).rows == 123


def test_decoded_frame_keeps_declared_types_and_nulls() -> None:
    codes = np.array([[0, 0, 0], [2, 1, 1], [1, 1, 0]])
    frame = decode_frame(CODEC, codes, np.random.default_rng(0))
    assert str(frame["kind"].dtype) == "category"
    assert list(frame["kind"].cat.categories) == ["a", "b"]  # the declared values, in order
    assert str(frame["age"].dtype) == "Int64" and str(frame["score"].dtype) == "Float64"
    assert pd.isna(frame["kind"][1]) and frame["kind"][0] == "a"
    assert 17 <= frame["age"][0] <= 29 and 30 <= frame["age"][1] <= 90


def test_seeded_measurements_cannot_be_published(tmp_path: object) -> None:
    table = synthesize_fn(request(), measurements(private=False))
    assert not table.synthetic.private
    report = UtilityReport(True, table.rows, 1.0, (), (), False, ())
    with pytest.raises(NotPrivateError, match="seeded test generator"):
        publish_fn(request(), "run", table, report, receipt=_receipt(), home=str(tmp_path))


def _receipt():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime
    from decimal import Decimal

    from warehouse.ledger import Charge

    return Charge(
        "raw.t",
        1,
        "run",
        "t",
        "h",
        1.0,
        1e-9,
        Decimal("0.01"),
        Decimal("0.01"),
        datetime.now(UTC),
        "0" * 64,
        "x",
    )
