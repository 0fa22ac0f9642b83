"""From stored measurements to synthetic codes: fit, choose the row count, sample in chunks.

Post-processing only: nothing here sees a source row. The row count is the requested one or
the noisy total estimated from the measurements, never an exact count.

The result is not an array but a reproducible stream: the fitted model, the row count and a
seed. Iterating it samples the rows chunk by chunk (bounded memory), and iterating it again
gives exactly the same rows, so the utility checks can summarise the very rows that the
publish step later writes, without ever holding the whole table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dpcore.domain import Domain
from dpcore.marginals import Measurement, estimate_total
from dpcore.synth.base import Model, Synthesizer
from dpcore.synth.sampling import DEFAULT_CHUNK_ROWS, chunk_sizes, sample_chunks


@dataclass(frozen=True)
class SyntheticCodes:
    """Synthetic rows as a reproducible stream of integer-code chunks.

    ``seed`` (never shown, never stored) fixes every draw; ``noisy_total`` is the total the
    rows were sized from; ``private`` is False if any measurement used a seeded test generator.
    """

    domain: Domain
    model: Model = field(repr=False)
    rows: int
    noisy_total: float
    private: bool
    seed: int = field(repr=False)
    chunk_rows: int = DEFAULT_CHUNK_ROWS

    def chunk_sizes(self) -> list[int]:
        """Rows per chunk, in order (one empty chunk for an empty table)."""
        return chunk_sizes(self.rows, self.chunk_rows)

    def chunks(self) -> Iterator[tuple[npt.NDArray[np.int64], np.random.Generator]]:
        """Each chunk's ``(rows_i, columns)`` codes and the generator that drew it.

        The same stream yields the same chunks every time; keep using a chunk's generator to
        post-process that chunk and the post-processed rows are reproducible too.
        """
        return sample_chunks(self.model, self.rows, self.seed, self.chunk_rows)


def synthesize(
    synthesizer: Synthesizer,
    domain: Domain,
    measurements: Sequence[Measurement],
    rows: int | None,
    seed: int,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> SyntheticCodes:
    """Fit the synthesizer's model to ``measurements``; a stream of ``rows`` (or noisy total)."""
    model = synthesizer.fit(domain, measurements)
    total = estimate_total(measurements)
    n = int(rows) if rows is not None else max(1, round(total))
    private = all(m.private for m in measurements)
    return SyntheticCodes(domain, model, n, total, private, seed, chunk_rows)
