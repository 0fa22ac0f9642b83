"""The report's headline figures: what a steward reads first, in the report and in the
Prefect artifact alike.

One function computes them (cost as a share of the cap, the mean 1-way agreement and its
noise floor, the budget sentence), so that the report's summary and the ``release-<name>``
artifact can never state different numbers. Built from :class:`ReportInputs`, i.e. from DP
outputs only.
"""

from __future__ import annotations

from dataclasses import dataclass

from dpcore.accounting import percent
from tasks.report.inputs import ReportInputs


@dataclass(frozen=True)
class Headline:
    """The figures a steward can hold on to.

    ``cost_share`` is this version's charge as a share of the dataset's lifetime cap (None
    for a refresh, which costs nothing, or when the ledger does not list the run's charge);
    ``mean_tvd`` is the mean total variation distance between the synthetic table and the
    noisy 1-way marginals, and ``noise_floor`` about what a perfect model would score
    against them from the noise alone (both None when no 1-way marginal was compared).
    """

    rows: int
    columns: int
    method: str
    dataset: str
    epsilon: float
    delta: float
    refresh_of: str | None
    cost_share: float | None
    mean_tvd: float | None
    noise_floor: float | None
    budget_sentence: str

    def cost_text(self) -> str:
        """The cost in one clause: a share of the cap, nothing (refresh) or the epsilon."""
        if self.refresh_of is not None:
            return "it cost nothing (a refresh of stored measurements)"
        if self.cost_share is not None:
            cost = f"it cost {percent(self.cost_share)} of {self.dataset}'s lifetime cap"
        else:
            cost = f"it cost epsilon = {self.epsilon:g} at delta = {self.delta:g}"
        return cost + (" (pure epsilon-DP)" if self.delta == 0 else "")

    def agreement_text(self) -> str:
        """The agreement score beside its noise floor, with what they mean ('' if none)."""
        if self.mean_tvd is None or self.noise_floor is None:
            return ""
        return (
            f"Agreement with the noisy 1-way marginals: mean TVD {self.mean_tvd:.3f} (0 is "
            f"identical, 1 disjoint); a perfect model would score about {self.noise_floor:.3f} "
            "against them from the noise alone, so a score near or below that is mostly noise."
        )


def headline(inputs: ReportInputs) -> Headline:
    """The headline figures of ``inputs`` (see :class:`Headline`)."""
    f = inputs.facts
    mine = [p for p in inputs.budget if p.run_id == f.run_id]
    comparisons = inputs.one_way_all
    mean_tvd = floor = None
    if comparisons:
        mean_tvd = sum(c.tvd for c in comparisons) / len(comparisons)
        floor = sum(c.noise_floor for c in comparisons) / len(comparisons)
    return Headline(
        rows=f.rows,
        columns=len(f.columns),
        method=f.method,
        dataset=f.dataset,
        epsilon=f.epsilon,
        delta=f.delta,
        refresh_of=f.refresh_of,
        cost_share=mine[0].share if mine and f.refresh_of is None else None,
        mean_tvd=mean_tvd,
        noise_floor=floor,
        budget_sentence=inputs.budget_sentence,
    )
