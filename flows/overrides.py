"""Safe per-run overrides of a spec, as offered by the Prefect UI's run form and the CLI.

Only changes that cannot weaken privacy are allowed: the number of rows to generate
(post-processing) and an epsilon *lower* than the spec's (less noise budget, lower cost).
A higher epsilon is refused: raising a release's cost means editing and reviewing its spec.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

from dpcore.accounting import PrivacyCost
from dpcore.errors import DPReleaseError
from tasks.request import ReleaseRequest


class OverrideError(DPReleaseError):
    """An override was refused because it would raise the cost or conflicts with a resume."""


class ReleaseOverrides(BaseModel):
    """Optional changes to one run of a spec; both default to the spec's own values."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rows: PositiveInt | None = Field(
        default=None,
        le=100_000_000,
        title="Rows to generate",
        description="Synthetic rows to sample (default: the spec's, usually the noisy total).",
    )
    epsilon: PositiveFloat | None = Field(
        default=None,
        title="Lower epsilon",
        description="Spend less than the spec's epsilon on this run (never more).",
    )

    @property
    def empty(self) -> bool:
        """Whether nothing is overridden."""
        return self.rows is None and self.epsilon is None


def apply_overrides(
    request: ReleaseRequest, overrides: ReleaseOverrides | None, *, resuming: bool = False
) -> ReleaseRequest:
    """The request with the overrides applied; refuses a higher epsilon with what to do."""
    if overrides is None or overrides.empty:
        return request
    changes: dict[str, object] = {}
    if overrides.rows is not None:
        changes["rows"] = overrides.rows
    if overrides.epsilon is not None:
        if request.horizon_runs is not None:
            raise OverrideError(
                f"release {request.name} splits its budget over a horizon of "
                f"{request.horizon_runs} runs, which sets each run's epsilon; an epsilon "
                "override cannot apply. Leave epsilon empty, or replace privacy.horizon with a "
                "fixed privacy.epsilon in the reviewed spec file."
            )
        spec_epsilon = request.cost.epsilon
        if overrides.epsilon > spec_epsilon:
            raise OverrideError(
                f"the epsilon override {overrides.epsilon:g} is higher than the spec's "
                f"epsilon {spec_epsilon:g} for release {request.name}; overrides may only "
                "lower a release's cost. Leave epsilon empty, choose a value up to "
                f"{spec_epsilon:g}, or raise privacy.epsilon in the reviewed spec file."
            )
        if resuming:
            raise OverrideError(
                "a resumed run reuses its stored measurements and the charge already made, "
                "so its epsilon cannot change; leave the epsilon override empty to resume, "
                "or start a new run with the lower epsilon."
            )
        changes["cost"] = PrivacyCost(overrides.epsilon, request.cost.delta)
    return replace(request, **changes)  # type: ignore[arg-type]  # fields checked above
