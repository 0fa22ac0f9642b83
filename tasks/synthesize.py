"""Task: fit the model to stored measurements and sample the synthetic table."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from dpcore.encoding import TableCodec
from dpcore.marginals import Measurement
from dpcore.synth.registry import get_synthesizer
from dpcore.synth.release import SyntheticCodes, synthesize
from tasks.request import ReleaseRequest
from warehouse.faults import crash_point

PANDAS_DTYPES = {"category": "string", "integer": "Int64", "float": "Float64"}


@dataclass(frozen=True)
class SyntheticTable:
    """The synthetic rows to publish (decoded) with their codes and provenance."""

    frame: pd.DataFrame = field(repr=False)
    synthetic: SyntheticCodes = field(repr=False)

    @property
    def rows(self) -> int:
        """Number of synthetic rows."""
        return len(self.frame)


def decode_frame(codec: TableCodec, codes: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Decoded values with nullable pandas dtypes (missing code → NA)."""
    data = {}
    for j, column in enumerate(codec.columns):
        decoded = column.decode(codes[:, j], rng)
        series = pd.Series(decoded.values, dtype=PANDAS_DTYPES[column.kind])
        series[decoded.missing] = pd.NA
        data[column.name] = series
    return pd.DataFrame(data)


def synthesize_fn(request: ReleaseRequest, measurements: Sequence[Measurement]) -> SyntheticTable:
    """Post-processing of DP measurements only; the sampler's seed is fresh and unrecorded."""
    rng = np.random.default_rng(secrets.randbits(128))
    synthesizer = get_synthesizer(request.method, **request.synthesizer_options)
    synthetic = synthesize(synthesizer, request.codec.domain, measurements, request.rows, rng)
    crash_point("while-synthesizing")
    return SyntheticTable(decode_frame(request.codec, synthetic.codes, rng), synthetic)


synthesize_table = task(name="fit and sample", cache_policy=NO_CACHE)(synthesize_fn)
