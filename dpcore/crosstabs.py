"""Measured crosstabs as analysts read them: each noisy cell, its error, and the model's count.

A release's noisy measurements are unbiased answers to exactly the marginals it measured,
with a known error: the noise's standard deviation, quoted as each cell's standard error
(``sigma`` bounds the discrete Gaussian's; a discrete Laplace of scale ``t``, in a pure
release, has exactly ``sqrt(2 e^(-1/t)) / (1 - e^(-1/t))``, just below ``sqrt(2) t``).
Beside it stands the fitted model's count for the same cell, which combines every
measurement into one consistent table (all marginals agree, no negative counts). Both are DP
outputs: publishing them costs nothing more. A marginal measured with merged codes
(:mod:`dpcore.synth.coarse`) is laid out over its groups, each labelled by the codes it
holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dpcore.domain import Domain
from dpcore.marginals import Measurement
from dpcore.synth.base import Model
from dpcore.synth.coarse import cell_index, coarse_shape, coarsen


@dataclass(frozen=True)
class Crosstab:
    """One measurement's cells: per cell, one label per column, the noisy count, and the
    model's count; ``std_error`` is the noise's standard deviation (or its bound)."""

    index: int
    columns: tuple[str, ...]
    labels: list[tuple[str, ...]] = field(repr=False)
    noisy: npt.NDArray[np.int64] = field(repr=False)
    model: npt.NDArray[np.float64] = field(repr=False)
    std_error: float
    selected: bool


def _group_labels(labels: Sequence[str], groups: Sequence[int]) -> list[str]:
    """Labels of each group of codes: its runs of consecutive codes (each a label or a range
    ``first .. last``) joined by ``", "`` (groups of similar codes need not be contiguous)."""
    members: dict[int, list[int]] = {}
    for code, group in enumerate(groups):
        members.setdefault(int(group), []).append(code)
    return [", ".join(_runs(labels, members[g])) for g in range(len(members))]


def _runs(labels: Sequence[str], codes: Sequence[int]) -> list[str]:
    """Ascending ``codes`` as runs of consecutive codes, each labelled."""
    runs: list[list[int]] = []
    for code in codes:
        if runs and code == runs[-1][-1] + 1:
            runs[-1].append(code)
        else:
            runs.append([code])
    return [labels[r[0]] if len(r) == 1 else f"{labels[r[0]]} .. {labels[r[-1]]}" for r in runs]


def crosstabs(
    domain: Domain,
    labels: dict[str, list[str]],
    measurements: Sequence[Measurement],
    model: Model,
    total: float,
) -> list[Crosstab]:
    """Every measurement with a clique, laid out cell by cell (C order over its columns).

    ``labels`` maps each column to its code labels; ``model`` and ``total`` give the fitted
    count of each cell (``model.marginal(clique) * total``, summed over a group's codes).
    """
    out = []
    for index, m in enumerate(measurements):
        if not m.clique:
            continue
        groups = getattr(m, "groups", ()) or ()
        fitted = model.marginal(m.clique) * total
        if groups:
            shape = coarse_shape(domain, m.clique, groups)
            cells = int(np.prod(shape))
            fitted = coarsen(fitted, cell_index(domain, m.clique, groups), cells)
            axes = [
                _group_labels(labels[c], g) if g else labels[c]
                for c, g in zip(m.clique, groups, strict=True)
            ]
        else:
            axes = [labels[c] for c in m.clique]
        grid = [
            tuple(t)
            for t in np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(axes), -1).T.tolist()
        ]
        out.append(
            Crosstab(
                index=index,
                columns=tuple(m.clique),
                labels=grid,
                noisy=np.asarray(m.values, dtype=np.int64),
                model=np.asarray(fitted, dtype=np.float64).reshape(-1),
                std_error=m.std_error,
                selected=m.selection_epsilon > 0,
            )
        )
    return out
