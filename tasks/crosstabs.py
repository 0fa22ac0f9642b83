"""The measured crosstabs of a version, as rows for the release database's ``marginals``."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dpcore.crosstabs import crosstabs
from dpcore.marginals import Measurement
from tasks.synthesize import SyntheticTable
from warehouse.crosstabs import MARGINAL_COLUMNS


def marginal_rows(
    table: SyntheticTable, measurements: Sequence[Measurement], measurement_run: str
) -> pd.DataFrame:
    """One row per cell of every measurement: labels, noisy count, standard error, and the
    model's count (the model the version was sampled from)."""
    codec, synthetic = table.codec, table.synthetic
    labels = {c.name: c.labels() for c in codec.columns}
    tabs = crosstabs(synthetic.domain, labels, measurements, synthetic.model, synthetic.noisy_total)
    frames = [
        pd.DataFrame(
            {
                "measurement": t.index,
                "marginal": " x ".join(t.columns),
                "columns": [list(t.columns)] * len(t.labels),
                "cell": [list(cell) for cell in t.labels],
                "noisy_count": t.noisy,
                "std_error": t.std_error,
                "model_count": t.model,
                "selected": t.selected,
                "measurement_run": measurement_run,
            }
        )
        for t in tabs
    ]
    if not frames:
        return pd.DataFrame({c: [] for c in MARGINAL_COLUMNS})
    return pd.concat(frames, ignore_index=True)[list(MARGINAL_COLUMNS)]
