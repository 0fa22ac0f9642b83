"""A synthetic table streamed in chunks: the checked summary is exactly what gets published."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

import tasks.synthesize
from dpcore.accounting import PrivacyCap, PrivacyCost
from dpcore.encoding import ColumnCodec, TableCodec
from dpcore.marginals import ArrayOracle, Measurement
from dpcore.synth.tally import CodeTally
from expectations import summarise
from tasks.publish import publish_fn
from tasks.request import ReleaseRequest
from tasks.synthesize import ResampleMismatchError, SyntheticTable, synthesize_fn
from tasks.utility import check_utility_fn
from tests.tasks.test_synthesize import _receipt
from warehouse.errors import PublishError
from warehouse.paths import WarehousePaths
from warehouse.publish import published_for_run

CODEC = TableCodec(
    (
        ColumnCodec(
            "kind", "category", categories=("a", "b", "c"), has_missing=True,
            missing_tokens=("?",), on_invalid="missing",
        ),
        ColumnCodec("age", "integer", edges=(17.0, 30.0, 50.0, 91.0), has_missing=True),
        ColumnCodec("score", "float", edges=(0.0, 0.5, 1.0)),
        ColumnCodec("sex", "category", categories=("F", "M")),
    )
)  # fmt: skip
ROWS = 5_003
CHUNK_ROWS = 700  # 8 chunks


def request(rows: int | None = ROWS) -> ReleaseRequest:
    return ReleaseRequest(
        name="t", description="test", source_table="raw.t", codec=CODEC,
        cost=PrivacyCost(1.0, 1e-9), cap=PrivacyCap(4.0, 1e-6), method="mst",
        spec_hash="h", spec_path="t.yaml", rows=rows,
    )  # fmt: skip


def measurements() -> list[Measurement]:
    """Noisy 1-way and 2-way marginals of a correlated table (marked private: test data)."""
    rng = np.random.default_rng(1)
    domain = CODEC.domain
    kind = rng.integers(0, 4, ROWS)
    codes = np.stack(
        [kind, (kind + rng.integers(0, 2, ROWS)) % 4, rng.integers(0, 2, ROWS), kind % 2], axis=1
    )
    cliques = [("kind", "age"), ("age", "score"), ("kind", "sex"), ("score",)]
    exact = ArrayOracle(domain, codes).counts(cliques)
    return [
        Measurement(c, v + np.rint(rng.normal(0, 2, v.shape)).astype(np.int64), 2.0)
        for c, v in zip(cliques, exact, strict=True)
    ]


@pytest.fixture(scope="module")
def table() -> SyntheticTable:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks.synthesize, "CHUNK_ROWS", CHUNK_ROWS)
        return synthesize_fn(request(), measurements())


def recode(frame: pd.DataFrame) -> np.ndarray:
    """Codes of decoded values (each decoded value lies in its code's bin; NULL → missing)."""
    out = []
    for col in CODEC.columns:
        values = frame[col.name]
        missing = values.isna().to_numpy()
        if col.kind == "category":
            lookup = {v: i for i, v in enumerate(col.categories)}
            codes = np.array([lookup.get(v, -1) for v in values.fillna(col.categories[0])])
        else:
            numbers = values.fillna(col.edges[0]).to_numpy(dtype=np.float64)
            codes = np.searchsorted(np.asarray(col.edges), numbers, side="right") - 1
            codes = np.minimum(codes, col.value_codes - 1)
        out.append(np.where(missing, col.size - 1, codes))
    return np.stack(out, axis=1)


def test_the_table_is_planned_rows_in_chunks(table: SyntheticTable) -> None:
    frames = list(table.frames())
    assert [len(f) for f in frames] == table.synthetic.chunk_sizes()
    assert len(frames) == 8 and table.rows == ROWS == sum(len(f) for f in frames)
    assert table.cliques == (("age", "score"), ("kind", "age"), ("kind", "sex"))
    again = list(table.frames())
    assert all(a.equals(b) for a, b in zip(frames, again, strict=True))  # reproducible


def test_the_summary_is_that_of_the_whole_table(table: SyntheticTable) -> None:
    whole = table.to_frame()
    codes = recode(whole)
    assert summarise(whole, codes, CODEC, table.cliques) == table.summary
    counts = table.summary.codes.counts(("kind", "sex"))
    assert counts.sum() == ROWS and counts.shape == (4, 2)


def test_a_table_that_resamples_differently_is_refused(table: SyntheticTable) -> None:
    tally = table.summary.codes
    first = dataclasses.replace(tally.columns[0], counts=tally.columns[0].counts + 1)
    wrong = dataclasses.replace(
        table.summary, codes=dataclasses.replace(tally, columns=(first, *tally.columns[1:]))
    )
    tampered = dataclasses.replace(table, summary=wrong)
    with pytest.raises(ResampleMismatchError, match="nothing was published"):
        list(tampered.frames())


def test_published_rows_match_the_checked_summary(table: SyntheticTable, tmp_path: Path) -> None:
    """Publish through the task functions; recompute the summary from the release file."""
    home = str(tmp_path / "home")
    utility = check_utility_fn(request(), table, measurements())
    assert utility.success, utility.failed()
    assert utility.rows == ROWS
    published = publish_fn(request(), "run-1", table, utility, _receipt(), home)
    assert published.rows == ROWS
    release = WarehousePaths.from_env(home).release
    with duckdb.connect(str(release), read_only=True) as con:
        frame = con.execute("SELECT * FROM t_v1").df()
    assert len(frame) == ROWS
    assert summarise(frame, recode(frame), CODEC, table.cliques) == table.summary


def test_a_mismatch_found_while_publishing_publishes_nothing(
    table: SyntheticTable, tmp_path: Path
) -> None:
    home = str(tmp_path / "home")
    utility = check_utility_fn(request(), table, measurements())
    other_seed = dataclasses.replace(table.synthetic, seed=table.synthetic.seed + 1)
    with pytest.raises(PublishError, match="rows other than those checked"):
        publish_fn(
            request(), "run-1", dataclasses.replace(table, synthetic=other_seed), utility,
            _receipt(), home,
        )  # fmt: skip
    paths = WarehousePaths.from_env(home)
    assert published_for_run(paths, "run-1") is None
    assert not list(paths.home.glob(".release-*"))


def test_row_count_is_the_noisy_total_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.synthesize, "CHUNK_ROWS", 1000)
    table = synthesize_fn(request(rows=None), measurements())
    assert table.rows == round(table.synthetic.noisy_total)
    assert table.summary.codes == CodeTally.of(
        recode(table.to_frame()), CODEC.domain, table.cliques
    )
