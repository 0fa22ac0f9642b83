"""What a release report may show, gathered from DP outputs only.

:func:`build_report_inputs` takes the public request (spec), the catalog row, the ledger
charge and history, the stored noisy measurements and the synthetic table's code counts
(:class:`~dpcore.synth.tally.CodeTally`, accumulated while it was streamed); no argument can
hold a source row. The resulting :class:`ReportInputs` is all the renderer ever sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np

from dpcore.accounting import BudgetState, BudgetStatement, PrivacyCap, cap_share
from dpcore.distributions import clipped_distribution, total_variation
from dpcore.domain import Clique
from dpcore.encoding import TableCodec
from dpcore.marginals import Measurement
from dpcore.synth.tally import CodeTally
from tasks.report.compare import (
    FloatArray,
    best_noisy_marginal,
    fits_domain,
    noise_floor,
)
from tasks.request import ReleaseRequest
from warehouse.ledger import Charge, HistoryRow
from warehouse.publish import PublishedRelease

MAX_ONE_WAY_PLOTS = 8
MAX_TWO_WAY_PLOTS = 4


@dataclass(frozen=True)
class ReleaseFacts:
    """What was released and what it cost (catalog row, charge and public spec)."""

    name: str
    description: str
    version: int
    table_name: str
    run_id: str
    rows: int
    columns: tuple[str, ...]
    method: str
    epsilon: float
    delta: float
    rho: float
    cap_epsilon: float
    cap_delta: float
    dataset: str
    created_at: datetime
    refresh_of: str | None = None  # a refresh: epsilon etc. are its measurements' cost


@dataclass(frozen=True)
class BudgetPoint:
    """One ledger charge: when, for which release, and the dataset's total after it."""

    seq: int
    charged_at: datetime
    release: str
    run_id: str
    epsilon: float
    cumulative_epsilon: float
    outcome: str
    share: float = 0.0
    """This charge as a share of the dataset's lifetime cap."""
    cumulative_share: float = 0.0
    """The share of the cap used after this charge."""


@dataclass(frozen=True)
class NoiseRow:
    """The noise of one stored measurement: its marginal, noisy cells and sigma, and how it
    was chosen (``step``: "fixed", or the selection round / tree edge that chose it)."""

    clique: Clique
    cells: int
    sigma: float
    step: str = "fixed"
    merged: bool = False
    average_cell: float = 0.0
    """The noisy total spread evenly over the cells: sigma beside it says how much of a
    typical cell is noise."""


@dataclass(frozen=True)
class MarginalComparison:
    """A marginal's normalised noisy distribution next to the synthetic one.

    ``labels`` holds the public code labels of each axis; ``noisy`` and ``synthetic`` have
    the clique's shape and each sums to 1.
    """

    clique: Clique
    labels: tuple[tuple[str, ...], ...]
    noisy: FloatArray = field(repr=False)
    synthetic: FloatArray = field(repr=False)
    noise_floor: float = 0.0
    """About the TVD a perfect model would score here, given the noise alone."""

    @property
    def tvd(self) -> float:
        """TVD between the synthetic distribution and the least noisy measured marginal
        covering the clique (clipped, normalised). The utility gate's ``marginal_tvd`` uses
        another reference, every covering measurement combined by inverse-variance
        weighting (:func:`expectations.noisy_marginals.one_way_estimates`)."""
        return total_variation(self.noisy, self.synthetic)


@dataclass(frozen=True)
class ReportInputs:
    """Everything the release report shows; built only from DP outputs and public facts."""

    facts: ReleaseFacts
    budget: tuple[BudgetPoint, ...]
    noise: tuple[NoiseRow, ...]
    one_way: tuple[MarginalComparison, ...]
    two_way: tuple[MarginalComparison, ...]
    one_way_tvd: tuple[tuple[str, float], ...]
    utility_passed: bool
    one_way_all: tuple[MarginalComparison, ...] = ()
    """Every column's 1-way comparison (the plots show only the largest TVDs)."""
    budget_sentence: str = ""
    """The dataset's budget in the one language every screen uses (dpcore.accounting)."""
    data_docs: str | None = None
    """The link (relative to the report) to Great Expectations' Data Docs of the synthetic
    table, if they were built."""


def _comparison(
    codec: TableCodec,
    measurements: Sequence[Measurement],
    synthetic: CodeTally,
    clique: Clique,
) -> MarginalComparison | None:
    domain = codec.domain
    noisy = best_noisy_marginal(measurements, domain, clique)
    if noisy is None:
        return None
    labels = tuple(tuple(codec.column(c).labels()) for c in clique)
    counts = synthetic.counts(clique)
    total = float(np.clip(noisy, 0.0, None).sum())
    floor = noise_floor(measurements, domain, clique, total)
    return MarginalComparison(
        clique, labels, clipped_distribution(noisy), clipped_distribution(counts), floor
    )


def compare_marginals(
    codec: TableCodec,
    measurements: Sequence[Measurement],
    synthetic: CodeTally,
) -> tuple[list[MarginalComparison], list[MarginalComparison]]:
    """Every column's 1-way comparison and every measured 2-way one, largest TVD first.

    ``synthetic`` must tally every measured full-resolution 2-way clique.

    Sorting by distance puts the marginals where the synthetic table departs most from what
    was measured first: those are the ones a reviewer needs to see.
    """
    one = [_comparison(codec, measurements, synthetic, (c.name,)) for c in codec.columns]
    pairs = {m.clique for m in measurements if len(m.clique) == 2 and fits_domain(m, codec.domain)}
    two = [_comparison(codec, measurements, synthetic, p) for p in sorted(pairs)]
    by_tvd = lambda c: -c.tvd  # noqa: E731  # sort key, clearer inline
    return (
        sorted((c for c in one if c is not None), key=by_tvd),
        sorted((c for c in two if c is not None), key=by_tvd),
    )


def noise_rows(method: str, measurements: Sequence[Measurement]) -> tuple[NoiseRow, ...]:
    """Each measurement with how it was chosen: fixed in advance, AIM's selection rounds in
    order (a pair measured again in a later round has less noise), or MST's tree edges."""
    total = max((m.total() for m in measurements if not getattr(m, "groups", ())), default=0.0)
    rows, rounds = [], 0
    for m in measurements:
        step = "fixed"
        if m.selection_epsilon > 0:
            rounds += 1
            step = f"round {rounds}" if method == "aim" else "tree edge"
        cells = int(m.values.size)
        rows.append(
            NoiseRow(
                m.clique,
                cells,
                float(m.sigma),
                step,
                bool(getattr(m, "groups", ())),
                max(total, 0.0) / cells if cells else 0.0,
            )
        )
    return tuple(rows)


def budget_points(ledger: Sequence[HistoryRow], cap: PrivacyCap) -> tuple[BudgetPoint, ...]:
    """The dataset's ledger as points of the share of its cap used over time."""
    return tuple(
        BudgetPoint(
            seq=h.charge.seq,
            charged_at=h.charge.charged_at,
            release=h.charge.release,
            run_id=h.charge.run_id,
            epsilon=h.charge.epsilon,
            cumulative_epsilon=h.cumulative_epsilon,
            outcome=h.outcome,
            share=cap_share(h.charge.rho, cap),
            cumulative_share=cap_share(h.charge.spent_after, cap),
        )
        for h in ledger
    )


def build_report_inputs(
    request: ReleaseRequest,
    published: PublishedRelease,
    receipt: Charge,
    measurements: Sequence[Measurement],
    synthetic: CodeTally,
    ledger: Sequence[HistoryRow],
    *,
    utility_passed: bool,
    refresh_of: str | None = None,
    data_docs: str | None = None,
    max_one_way: int = MAX_ONE_WAY_PLOTS,
    max_two_way: int = MAX_TWO_WAY_PLOTS,
) -> ReportInputs:
    """Gather the report's contents from DP outputs (see the module docstring)."""
    facts = ReleaseFacts(
        name=request.name,
        description=request.description,
        version=published.version,
        table_name=published.table_name,
        run_id=published.run_id,
        rows=published.rows,
        columns=tuple(c.name for c in request.codec.columns),
        method=request.method,
        epsilon=receipt.epsilon,
        delta=receipt.delta,
        rho=float(receipt.rho),
        cap_epsilon=request.cap.epsilon,
        cap_delta=request.cap.delta,
        dataset=request.dataset,
        created_at=published.created_at,
        refresh_of=refresh_of,
    )
    noise = noise_rows(request.method, measurements)
    one, two = compare_marginals(request.codec, measurements, synthetic)
    spent = ledger[-1].charge.spent_after if ledger else Decimal(0)
    state = BudgetState(request.dataset, request.cap, spent)
    return ReportInputs(
        facts=facts,
        budget_sentence=BudgetStatement.of(state, request.cost.delta).sentence(),
        budget=budget_points(ledger, request.cap),
        noise=noise,
        one_way=tuple(one[:max_one_way]),
        two_way=tuple(two[:max_two_way]),
        one_way_tvd=tuple((c.clique[0], c.tvd) for c in one),
        one_way_all=tuple(one),
        utility_passed=utility_passed,
        data_docs=data_docs,
    )
