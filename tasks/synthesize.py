"""Task: fit the model to stored measurements and sample the synthetic table, in chunks.

The table is never held whole. The task fits the model, draws a fresh 128-bit seed (from
``secrets``, never logged or stored) and streams the table once, chunk by chunk, to build its
:class:`~expectations.SyntheticSummary` (rows, code counts, clique counts, decoded-value
summaries), which the utility checks and the report use.

With ``spool=True`` (what the release flow does) the same pass writes each decoded chunk to a
private scratch table (:mod:`warehouse.spool`); the utility step's Great Expectations checks
read their batches from it (:meth:`SyntheticTable.batches`) and publishing copies it into the
release inside DuckDB: the table is sampled and decoded once. The spool carries a checksum
taken as it was written, which the publish verifies before its rename, so the published rows
are exactly the summarised and validated ones.

Without a spool, publishing streams the table again from the same model and seed: sampling
and decoding are deterministic given the seed, so the published rows are exactly the
summarised rows, and :meth:`SyntheticTable.frames` re-checks this (a mismatch raises before
the last chunk is handed over, so nothing is published). That path samples twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.domain import Clique
from dpcore.encoding import TableCodec
from dpcore.errors import DPReleaseError
from dpcore.marginals import Measurement
from dpcore.synth.release import SyntheticCodes, synthesize
from dpcore.synth.sampling import DEFAULT_CHUNK_ROWS
from dpcore.synth.tally import CodeTally
from expectations import ColumnValues, SyntheticSummary, summarise
from tasks.context import warehouse_paths
from tasks.request import ReleaseRequest
from warehouse.faults import crash_point
from warehouse.spool import SpooledTable, SpoolWriter, read_batches

NUMERIC_DTYPES = {"integer": "Int64", "float": "Float64"}
# Rows sampled, decoded and published at a time: bounds memory (~0.3 GB per 10^6 rows of
# 15 columns while sampling), and each chunk is stratified on its own (dpcore.synth.sampling).
CHUNK_ROWS = DEFAULT_CHUNK_ROWS


class ResampleMismatchError(DPReleaseError):
    """Re-streaming the synthetic table did not give the rows that were checked."""


@dataclass(frozen=True)
class SyntheticTable:
    """The synthetic table as a reproducible stream of decoded chunks, with its summary.

    ``summary`` describes exactly the rows :meth:`frames` yields (and ``spool`` holds, if
    the rows were spooled); ``cliques`` are the measured (full-resolution) cliques whose
    synthetic counts it holds, for the report.
    """

    codec: TableCodec = field(repr=False)
    synthetic: SyntheticCodes = field(repr=False)
    summary: SyntheticSummary = field(repr=False)
    cliques: tuple[Clique, ...] = ()
    spool: SpooledTable | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        """Number of synthetic rows."""
        return self.summary.rows

    def frames(self) -> Iterator[pd.DataFrame]:
        """The decoded chunks, in order; raises :class:`ResampleMismatchError` before the last
        chunk if the rows differ from the summarised ones."""
        seen: SyntheticSummary | None = None
        for frame, part in _decoded(self.codec, self.synthetic, self.cliques):
            seen = part if seen is None else seen.plus(part)
            if seen.rows == self.rows and seen != self.summary:
                raise ResampleMismatchError(
                    "re-sampling the synthetic table gave rows other than those checked; "
                    "nothing was published. Retry the run (`dprelease run SPEC --resume RUN_ID`)."
                )
            yield frame

    def batches(self, batch_rows: int) -> Iterator[pd.DataFrame]:
        """The rows to validate, in :meth:`frames`' chunks cut into pieces of at most
        ``batch_rows``: read back from the spool with :meth:`frames`' dtypes
        (:func:`warehouse.spool.read_batches`) if the table was spooled (the rows publishing
        copies), else :meth:`frames` (sampled again)."""
        if self.spool is None:
            return self.frames()
        categories = {c.name: c.categories for c in self.codec.columns if c.kind == "category"}
        sizes = [
            min(batch_rows, chunk - start)
            for chunk in self.synthetic.chunk_sizes()
            for start in range(0, max(chunk, 1), batch_rows)
        ]
        return read_batches(self.spool, categories, sizes)

    def to_frame(self) -> pd.DataFrame:
        """The whole table in one frame: for small tables and tests only (holds every row)."""
        return pd.concat(list(self.frames()), ignore_index=True)


def decode_frame(codec: TableCodec, codes: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Decoded values (missing code → NULL): categories as pandas categoricals over the
    declared values, numbers as nullable ``Int64``/``Float64``; no per-row Python objects."""
    data: dict[str, object] = {}
    for j, column in enumerate(codec.columns):
        decoded = column.decode(codes[:, j], rng)
        if column.kind == "category":
            index = np.where(decoded.missing, -1, codes[:, j]).astype(np.int64)
            data[column.name] = pd.Categorical.from_codes(
                index, categories=pd.Index(list(column.categories))
            )
        else:
            series = pd.Series(decoded.values, dtype=NUMERIC_DTYPES[column.kind])
            series[decoded.missing] = pd.NA
            data[column.name] = series
    return pd.DataFrame(data)


def _decoded(
    codec: TableCodec, synthetic: SyntheticCodes, cliques: Sequence[Clique]
) -> Iterator[tuple[pd.DataFrame, SyntheticSummary]]:
    """Each decoded chunk with its summary (decoding continues the chunk's generator)."""
    for codes, rng in synthetic.chunks():
        frame = decode_frame(codec, codes, rng)
        yield frame, summarise(frame, codes, codec, cliques)


def tallied_cliques(codec: TableCodec, measurements: Sequence[Measurement]) -> tuple[Clique, ...]:
    """The measured multi-column cliques at full resolution (their counts go in the summary)."""
    domain = codec.domain
    cliques = {
        domain.canonical(m.clique)
        for m in measurements
        if len(m.clique) > 1
        and all(c in domain for c in m.clique)
        and m.values.size == domain.cells(m.clique)
    }
    return tuple(sorted(cliques))


def synthesize_fn(
    request: ReleaseRequest,
    measurements: Sequence[Measurement],
    home: str | None = None,
    spool: bool = False,
) -> SyntheticTable:
    """Post-processing of DP measurements only; the sampler's seed is fresh and unrecorded.

    Streams the table once, :data:`CHUNK_ROWS` rows at a time, to summarise it; with
    ``spool`` also writes it to a spool under the warehouse ``home`` for the publish.
    """
    synthesizer = request.synthesizer()
    synthetic = synthesize(
        synthesizer,
        request.codec.domain,
        measurements,
        request.rows,
        secrets.randbits(128),
        chunk_rows=CHUNK_ROWS,
    )
    crash_point("while-synthesizing")
    cliques = tallied_cliques(request.codec, measurements)
    summary = SyntheticSummary(
        CodeTally.empty(request.codec.domain, cliques),
        tuple(_empty_values(request.codec)),
    )
    if not spool:
        for _, part in _decoded(request.codec, synthetic, cliques):
            summary = summary.plus(part)
        return SyntheticTable(request.codec, synthetic, summary, cliques)
    with SpoolWriter(warehouse_paths(home)) as writer:
        for frame, part in _decoded(request.codec, synthetic, cliques):
            summary = summary.plus(part)
            writer.write(frame)
        spooled = writer.finish()
    return SyntheticTable(request.codec, synthetic, summary, cliques, spooled)


def _empty_values(codec: TableCodec) -> Iterator[ColumnValues]:
    return (ColumnValues(c.name) for c in codec.columns)


synthesize_table = task(name="fit and sample", cache_policy=NO_CACHE)(synthesize_fn)
