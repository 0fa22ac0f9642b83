"""The release spec: one YAML file per release, validated into a typed model.

A bad spec is refused with the file, the field and the reason (``SpecError``), before any
data is read or any budget is charged. Every domain in it is public: categories, bounds and
bin edges come from here, never from the source rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from dpcore.accounting import PrivacyCap, PrivacyCost, mixed_message, split_cost
from dpcore.constraints import StructuralZeros
from dpcore.domain import Domain
from dpcore.encoding import ColumnCodec, InvalidRule, TableCodec
from dpcore.errors import DomainError, DPReleaseError
from dpcore.synth.registry import get_synthesizer
from dpcore.units import PrivacyUnit
from flows.placeholders import find_placeholders, placeholder_message
from flows.schedule import check_cron
from flows.spec_constraints import ConstraintSpec
from flows.spec_values import category_values_as_text, load_yaml, suggest_name
from flows.spec_values import integer_text as _integer_text
from tasks.request import ReleaseRequest, UtilitySettings

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
RELEASED_COLUMN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
SOURCE_TABLE = r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$"

#: Names the release file uses for itself: a release may not take them.
RESERVED_NAMES = frozenset(
    {"catalog", "marginals", "latest_marginals", "dprelease_synthetic_chunk"}
)

#: Largest epsilon a spec may declare (a cost, or a cap). Far beyond any meaningful privacy,
#: and keeps rho within what the ledger's exact decimals (38 digits, 18 after the point) hold.
MAX_EPSILON = 1e6


class SpecError(DPReleaseError):
    """A spec file is missing, unreadable or invalid; the message names file, field, reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReleaseInfo(_Strict):
    """The release's name (also the published table's name) and what it is for."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
    description: Annotated[str, Field(min_length=1, max_length=500)]

    @field_validator("name")
    @classmethod
    def _not_a_release_file_name(cls, v: str) -> str:
        """Refuse names that would clash in the release file, before anything is charged.

        Each version is published as ``<name>_v<N>`` beside a view ``<name>`` and the table
        ``catalog``: a release named ``catalog`` would overwrite that table, and one named
        ``adult_v1`` would take (or later collide with) a version of ``adult``.
        """
        if v in RESERVED_NAMES:
            raise ValueError(
                f"{v!r} is reserved: the release file uses it for itself (the catalog of "
                "versions and the crosstab tables); choose another release name"
            )
        if re.search(r"_v[0-9]+$", v):
            raise ValueError(
                f"{v!r} ends in _v<digits>, the form of a published version's table "
                f"(release {v.rsplit('_v', 1)[0]!r} publishes {v!r}); choose a name that "
                "does not end in _v and a number"
            )
        return v


class SourceInfo(_Strict):
    """What the release reads: a warehouse table (``schema.table``, engine ``duckdb``, the
    default) or a partitioned Parquet dataset read by Dask (``path``, engine ``dask``).

    A dask source's path is absolute or a URL: the cluster's workers read it, and the budget
    ledger keys the dataset by it. The cluster's address is configuration, not spec
    (``$DPRELEASE_DASK_ADDRESS``; unset, a local cluster is started for the run).
    """

    engine: Literal["duckdb", "dask"] = "duckdb"
    table: Annotated[str, Field(pattern=SOURCE_TABLE)] | None = None
    path: Annotated[str, Field(min_length=1, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _engine_fields(self) -> SourceInfo:
        if self.engine == "duckdb":
            if self.path is not None:
                raise ValueError(
                    "source.path is read by the dask engine; set source.engine: dask, or name "
                    "the warehouse table in source.table"
                )
            if self.table is None:
                raise ValueError("source.table is required (schema.table in the warehouse)")
            return self
        if self.table is not None:
            raise ValueError(
                "source.table names a warehouse table, which the dask engine does not read; "
                "give the Parquet dataset in source.path instead"
            )
        if self.path is None:
            raise ValueError("source.path is required with source.engine: dask")
        if not (self.path.startswith("/") or re.match(r"^[a-z][a-z0-9+.-]*://", self.path)):
            raise ValueError(
                "source.path must be an absolute path or a URL (e.g. s3://bucket/data): the "
                "Dask workers read it, and the budget ledger keys the dataset by it"
            )
        return self

    @property
    def name(self) -> str:
        """The source as the ledger and catalog record it (table, or dataset path)."""
        name = self.table if self.engine == "duckdb" else self.path
        assert name is not None
        return name.rstrip("/") or "/"


def _finite_positive_epsilon(v: float) -> float:
    if not math.isfinite(v) or v <= 0:
        raise ValueError("epsilon must be a finite number greater than 0")
    if v > MAX_EPSILON:
        raise ValueError(
            f"epsilon must be at most {MAX_EPSILON:g} (got {v:g}): a larger one protects "
            "nothing, and its cost in rho is beyond what the budget ledger records"
        )
    return v


def _delta_in_unit_interval(v: float) -> float:
    if not math.isfinite(v) or not 0 <= v < 1:
        raise ValueError(
            "delta must be a finite number in [0, 1): 0 asks for pure epsilon-DP (Laplace "
            "noise, epsilons add up exactly), a small positive delta such as 1e-9 for "
            "(epsilon, delta)-DP accounted in zCDP"
        )
    return v


Epsilon = Annotated[float, AfterValidator(_finite_positive_epsilon)]
Delta = Annotated[float, AfterValidator(_delta_in_unit_interval)]


class Budget(_Strict):
    """An (epsilon, delta) pair; both must be finite, epsilon > 0 and 0 <= delta < 1 (a delta
    of 0 is pure epsilon-DP)."""

    epsilon: Epsilon
    delta: Delta


class PersonUnit(_Strict):
    """Protect persons, not rows: ``key`` identifies a person; at most k rows each count."""

    key: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")]
    max_rows_per_person: Annotated[int, Field(ge=1, le=100_000)]
    null_keys: Literal["drop"] = Field(
        default="drop",
        description="Rows whose key is NULL belong to no person the guarantee can name: they "
        "are dropped before counting (and counted in the operator-only input report). They "
        "are never pooled into one 'person', which would let one real person move k other "
        "kept rows.",
    )


class Horizon(_Strict):
    """Spread the remaining budget over this release's next runs instead of a fixed cost."""

    runs: Annotated[int, Field(ge=1, le=10_000)]


class PrivacyInfo(_Strict):
    """This release's cost, the source dataset's lifetime cap, the privacy unit, and what a
    run does when the budget cannot pay for it.

    Each run costs ``epsilon`` (at ``delta``), or, with ``horizon``, the remaining budget
    divided by the runs of the horizon still to come, so the cap lasts exactly that many runs.
    """

    epsilon: Epsilon | None = None
    delta: Delta
    cap: Budget
    unit: Literal["row"] | PersonUnit = "row"
    on_exhausted: Literal["fail", "refresh"] = Field(
        default="fail",
        description="When a run's charge would pass the cap: fail (nothing spent), or publish "
        "a refresh re-sampled from the newest stored measurements (no privacy cost).",
    )
    horizon: Horizon | None = None

    @model_validator(mode="after")
    def _cost_within_cap(self) -> PrivacyInfo:
        if self.epsilon is None and self.horizon is None:
            raise ValueError("give each run's epsilon, or a horizon (runs) to split the cap across")
        if self.epsilon is not None and self.horizon is not None:
            raise ValueError(
                "give either epsilon or horizon, not both: with a horizon each run's epsilon "
                "is the remaining budget divided by the runs still to come"
            )
        cap = PrivacyCap(self.cap.epsilon, self.cap.delta)
        if cap.pure and self.delta > 0:
            raise ValueError(mixed_message(PrivacyCost(self.epsilon or 1.0, self.delta), cap))
        if self.epsilon is not None and (
            PrivacyCost(self.epsilon, self.delta).charge_for(cap) > cap.ledger_amount
        ):
            raise ValueError(
                "this release alone costs more than the dataset's lifetime cap; "
                "lower epsilon or raise the cap"
            )
        return self

    def first_cost(self) -> PrivacyCost:
        """The declared cost, or with a horizon the cost of its first run on an unspent cap."""
        if self.epsilon is not None:
            return PrivacyCost(self.epsilon, self.delta)
        assert self.horizon is not None
        cap = PrivacyCap(self.cap.epsilon, self.cap.delta)
        return split_cost(cap.ledger_amount, self.horizon.runs, self.delta, cap)


MissingTokens = str | list[str] | None

#: Column fields added after specs were first hashed: left out of the dump (and so of the
#: spec hash) while unset, so a spec that does not use them keeps its hash across upgrades.
_OMITTED_WHEN_UNSET = ("source_column", "special")


class _ColumnBase(_Strict):
    source_column: Annotated[str, Field(min_length=1, max_length=255)] | None = Field(
        default=None,
        description="The column's name in the source, when it differs from the released name "
        "(the key in columns): any name the table uses, e.g. 'income>50K' or 'Hours Worked'.",
    )
    missing: MissingTokens = Field(
        default=None,
        description="Source value(s) meaning missing; SQL NULL then also means missing.",
    )
    on_invalid: InvalidRule | None = Field(
        default=None, description="What to do with values outside the domain."
    )

    @field_validator("missing", mode="before")
    @classmethod
    def _integer_tokens_as_text(cls, v: object) -> object:
        """``missing: -1`` (a YAML number) means the token ``-1``: integers are read as their
        decimal text, which is how they are written (other numbers are refused by type)."""
        if isinstance(v, list):
            return [_integer_text(x) for x in v]
        return _integer_text(v)

    @model_serializer(mode="wrap")
    def _omit_unset_new_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        data: dict[str, object] = handler(self)
        for key in _OMITTED_WHEN_UNSET:
            if data.get(key, 0) is None:
                del data[key]
        return data

    def missing_tokens(self) -> tuple[str, ...]:
        if self.missing is None:
            return ()
        return (self.missing,) if isinstance(self.missing, str) else tuple(self.missing)


class CategoryColumn(_ColumnBase):
    """A categorical column with its public list of values.

    Values are text, compared with the source value's text. Codes written as YAML integers
    (``values: [1, 2]``) are read as their decimal text (``"1"``, ``"2"``), which matches a
    source storing integers or digits; YAML numbers whose text is ambiguous (``01``, ``1.50``,
    ``1e3``) and YAML booleans (``yes``, ``no``) are refused with a hint to quote them.
    """

    type: Literal["category"]
    values: Annotated[list[str], Field(min_length=1)]

    @field_validator("values", mode="before")
    @classmethod
    def _codes_as_text(cls, v: object) -> object:
        if not isinstance(v, list):
            return v
        return category_values_as_text(v)

    @field_validator("values")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("category values must be unique")
        return v


class NumericColumn(_ColumnBase):
    """An integer or float column with public bounds and bins (``edges`` or ``bin_width``).

    ``special`` values (integer columns) get a bin of their own, ``[v, v + 1)``, cut out of
    the bin that holds them: a top-code or a spike is then measured and released exactly,
    while the rest of its former bin decodes as before (uniformly inside the bin). The cut
    is made in the codec's edges, so the SQL encoder and the decoder share it.
    """

    type: Literal["integer", "float"]
    bounds: tuple[float, float]
    edges: list[float] | None = None
    bin_width: float | None = None
    special: Annotated[list[float], Field(min_length=1, max_length=1000)] | None = Field(
        default=None,
        description="Exact values with a bin of their own (top-codes such as 99999, spikes "
        "such as 0), released as the exact value; integer columns only.",
    )

    @model_validator(mode="after")
    def _bins(self) -> NumericColumn:
        lo, hi = self.bounds
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ValueError("bounds must be two finite numbers [low, high] with low < high")
        if self.type == "integer" and not (float(lo).is_integer() and float(hi).is_integer()):
            raise ValueError("an integer column's bounds must be integers")
        if (self.edges is None) == (self.bin_width is None):
            raise ValueError("give exactly one of 'edges' or 'bin_width' for a numeric column")
        if self.edges is not None:
            e = self.edges
            if len(e) < 2 or e[0] != lo or e[-1] != hi:
                raise ValueError("edges must start at the lower bound and end at the upper bound")
            if any(b <= a for a, b in pairwise(e)):
                raise ValueError("edges must strictly increase")
            if self.type == "integer" and any(not float(x).is_integer() for x in e):
                raise ValueError("an integer column's edges must be integers")
        else:
            w = self.bin_width
            if w is None or not math.isfinite(w) or w <= 0:
                raise ValueError("bin_width must be a finite number > 0")
            if self.type == "integer" and not float(w).is_integer():
                raise ValueError("an integer column's bin_width must be an integer")
        if self.on_invalid == "missing" and self.missing is None:
            raise ValueError("on_invalid 'missing' needs a declared 'missing' value")
        self._check_special()
        return self

    def _check_special(self) -> None:
        """Special values are integers inside the bounds, each given once."""
        if self.special is None:
            return
        if self.type != "integer":
            raise ValueError(
                "special values apply to integer columns (a one-value bin [v, v+1)); for a "
                "float column, declare narrow edges around the value instead"
            )
        lo, hi = self.bounds
        for v in self.special:
            if not float(v).is_integer() or not lo <= v <= hi:
                raise ValueError(
                    f"special value {v:g} must be an integer within the bounds [{lo:g}, {hi:g}]"
                )
        if len(set(self.special)) != len(self.special):
            raise ValueError("special values must be unique")

    def _special_edges(self) -> list[int]:
        """Edges the special values add to the integer bins: ``v`` and ``v + 1`` for each,
        where not already an edge (the bins' top, ``high + 1``, always is). Computed by
        arithmetic for ``bin_width``, so a wide domain is never materialised."""
        if not self.special:
            return []
        lo, hi = int(self.bounds[0]), int(self.bounds[1])
        if self.edges is not None:
            present = {int(x) for x in self.edges[:-1]}

            def is_edge(x: int) -> bool:
                return x in present or x == hi + 1

        else:
            width = int(self.bin_width or 1)

            def is_edge(x: int) -> bool:
                return (x - lo) % width == 0 or x == hi + 1

        wanted = {int(v) for v in self.special} | {int(v) + 1 for v in self.special}
        return sorted(x for x in wanted if not is_edge(x))

    def codec_edges(self) -> tuple[float, ...]:
        """Edges as the codec reads them (integer bins are half-open with top ``high + 1``)."""
        lo, hi = self.bounds
        if self.type == "integer":
            top = int(hi) + 1
            if self.edges is not None:
                inner = [int(x) for x in self.edges[:-1]]
            else:
                inner = list(range(int(lo), top, int(self.bin_width or 1)))
            inner = sorted([*inner, *self._special_edges()])
            return (*[float(x) for x in inner], float(top))
        if self.edges is not None:
            return tuple(float(x) for x in self.edges)
        w = float(self.bin_width or 1.0)
        count = math.ceil((hi - lo) / w - 1e-9)
        return (*[lo + i * w for i in range(count)], hi)

    def bin_count(self) -> int:
        """How many bins :meth:`codec_edges` makes, computed without building them: a domain
        too large to use is refused in constant time and memory, never materialised."""
        lo, hi = self.bounds
        if self.edges is not None:
            return len(self.edges) - 1 + len(self._special_edges())
        if self.type == "integer":
            width = int(self.bin_width or 1)
            return -(-(int(hi) + 1 - int(lo)) // width) + len(self._special_edges())
        return math.ceil((hi - lo) / float(self.bin_width or 1.0) - 1e-9)

    def code_count(self) -> int:
        """Codes of this column: its bins, plus one for missing if it declares one."""
        return self.bin_count() + int(self.missing is not None)


Column = Annotated[CategoryColumn | NumericColumn, Field(discriminator="type")]


class SynthesizerInfo(_Strict):
    """Which method fits the model, and how many rows to generate (default: noisy total).

    ``aim`` (the default) selects marginals adaptively for the workload and fits a graphical
    model; ``mst`` measures a maximum spanning tree of 2-way marginals; ``independent`` is
    the baseline of noisy 1-way marginals with columns sampled independently.
    """

    method: Literal["aim", "mst", "independent"] = "aim"
    rows: Literal["noisy"] | Annotated[int, Field(gt=0, le=100_000_000)] = "noisy"
    max_marginal_cells: Annotated[int, Field(gt=0, le=100_000_000)] = 1_000_000
    workload: list[Annotated[list[str], Field(min_length=1)]] | None = Field(
        default=None, description="Marginals (lists of columns) that matter; default all 2-way."
    )
    max_model_cells: Annotated[int, Field(ge=1_000, le=100_000_000)] | None = Field(
        default=None, description="Memory bound on the fitted model (cells of 8 bytes)."
    )
    time_budget_s: Annotated[float, Field(gt=0, le=86_400)] | None = Field(
        default=None, description="Soft wall-time budget for selection and fitting."
    )

    @model_validator(mode="after")
    def _options_fit_method(self) -> SynthesizerInfo:
        if self.method == "independent" and (
            self.workload or self.max_model_cells or self.time_budget_s
        ):
            raise ValueError(
                "workload, max_model_cells and time_budget_s apply to the 'aim' and 'mst' "
                "methods, not 'independent'"
            )
        return self

    def options(self) -> dict[str, object]:
        """Keyword options for the synthesizer (only those the spec sets)."""
        options: dict[str, object] = {}
        if self.workload is not None:
            options["workload"] = [tuple(c) for c in self.workload]
        if self.max_model_cells is not None:
            options["max_model_cells"] = self.max_model_cells
        if self.time_budget_s is not None:
            options["time_budget_s"] = self.time_budget_s
        return options


class UtilityChecks(_Strict):
    """Checks of the synthetic table against the noisy measurements (never the source)."""

    max_tvd: Annotated[float, Field(gt=0, le=1)] = 0.05
    row_tolerance: Annotated[float, Field(gt=0, le=1)] = 0.05


class ExpectationsInfo(_Strict):
    """Input checks are derived from the columns; utility thresholds are set here."""

    utility: UtilityChecks = UtilityChecks()


class ReleaseSpec(_Strict):
    """A whole release: what to read, what it may cost, its domain, method and schedule."""

    release: ReleaseInfo
    source: SourceInfo
    privacy: PrivacyInfo
    columns: Annotated[dict[str, Column], Field(min_length=1)]
    synthesizer: SynthesizerInfo = SynthesizerInfo()
    expectations: ExpectationsInfo = ExpectationsInfo()
    constraints: list[ConstraintSpec] = Field(
        default_factory=list,
        description="Value combinations that never occur (public codebook rules); the model "
        "gives them zero probability, at no privacy cost.",
    )
    schedule: str | None = None

    @field_validator("columns")
    @classmethod
    def _column_names(cls, v: dict[str, Column]) -> dict[str, Column]:
        for name in v:
            if not re.match(RELEASED_COLUMN, name):
                raise ValueError(
                    f"column name {name!r} must be letters, digits, '_' or '-' (it is the "
                    "released column's name). To read a source column named like this, "
                    f"release it under another name: e.g. {suggest_name(name)}: "
                    f"{{source_column: {json.dumps(name)}, ...}}"
                )
        by_source: dict[str, str] = {}
        for name, column in v.items():
            source = column.source_column or name
            if source in by_source:
                raise ValueError(
                    f"columns {by_source[source]!r} and {name!r} both read source column "
                    f"{source!r}; each source column is released once"
                )
            by_source[source] = name
        return v

    @model_validator(mode="after")
    def _person_key_is_never_released(self) -> ReleaseSpec:
        unit = self.privacy.unit
        if not isinstance(unit, PersonUnit):
            return self
        for name, column in self.columns.items():
            if unit.key in (name, column.source_column):
                raise ValueError(
                    f"privacy.unit.key {unit.key!r} is also a release column ({name}); the "
                    "person key is used only to bound contributions and is never released: "
                    "remove it from columns"
                )
        return self

    @model_validator(mode="after")
    def _workload_columns(self) -> ReleaseSpec:
        for marginal in self.synthesizer.workload or []:
            unknown = [c for c in marginal if c not in self.columns]
            if unknown:
                raise ValueError(
                    f"synthesizer.workload names {', '.join(unknown)}, which "
                    f"{'is' if len(unknown) == 1 else 'are'} not among the release's columns"
                )
        return self

    @model_serializer(mode="wrap")
    def _omit_no_constraints(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """A spec without constraints dumps (and hashes) as before they existed, so runs
        charged under it keep their spec hash and still resume."""
        data: dict[str, object] = handler(self)
        if not data.get("constraints"):
            data.pop("constraints", None)
        return data

    @model_validator(mode="after")
    def _marginals_within_limit(self) -> ReleaseSpec:
        """Every marginal the method may count fits ``synthesizer.max_marginal_cells``.

        Sizes come from the spec by arithmetic (no bin list is built), so integer bounds
        [0, 1e9] with ``bin_width: 1`` are refused at once rather than after filling memory.
        """
        limit = self.synthesizer.max_marginal_cells
        sizes = {
            name: len(c.values) + int(c.missing is not None)
            if isinstance(c, CategoryColumn)
            else c.code_count()
            for name, c in self.columns.items()
        }
        for name, size in sizes.items():
            if size > limit:
                raise ValueError(
                    f"columns.{name} has {size:,} codes (bins, plus one for missing if "
                    "declared), so its marginal has that many cells, more than the spec's "
                    f"limit synthesizer.max_marginal_cells={limit:,}. Use coarser bins (a "
                    "larger bin_width, or edges) or fewer categories, or raise the limit"
                )
        domain = Domain.from_dict(sizes)
        synthesizer = get_synthesizer(self.synthesizer.method, **self.synthesizer.options())
        try:
            candidates = synthesizer.candidates(domain)
        except DomainError as error:
            raise ValueError(str(error)) from None
        for clique in candidates:
            cells = domain.cells(clique)
            if cells > limit:
                raise ValueError(
                    f"the marginal over {', '.join(clique)} has {cells:,} cells, more than "
                    f"the spec's limit synthesizer.max_marginal_cells={limit:,}. Use coarser "
                    "bins or fewer categories (or a synthesizer.workload without this "
                    "combination), or raise the limit"
                )
        return self

    @model_validator(mode="after")
    def _constraints_compile(self) -> ReleaseSpec:
        """After the size limits (a domain too large is refused before any bin is built)."""
        if not self.constraints:
            return self
        limit = self.synthesizer.max_marginal_cells
        if any(
            not isinstance(c, CategoryColumn) and c.code_count() > limit
            for c in self.columns.values()
        ):
            return self  # refused by the size limit; building its bins could fill memory
        if self.synthesizer.method == "independent":
            raise ValueError(
                "constraints need a method with a joint model (mst or aim): the independent "
                "method samples each column on its own and cannot keep combinations out"
            )
        for rule in self.constraints:
            unknown = [c for c in rule.columns() if c not in self.columns]
            if unknown:
                raise ValueError(
                    f"constraint {rule.name!r} names {', '.join(unknown)}, not among the "
                    "release's columns"
                )
        try:
            self.zeros()
        except DomainError as error:
            raise ValueError(str(error)) from None
        return self

    def zeros(self) -> tuple[StructuralZeros, ...]:
        """The declared constraints as structural zeros over the release's codes."""
        if not self.constraints:
            return ()
        codec = self.codec()
        return tuple(rule.compile(codec) for rule in self.constraints)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return None if v is None else check_cron(v)

    def codec(self) -> TableCodec:
        """The public domain of every release column, in spec order."""
        return TableCodec(tuple(_column_codec(n, c) for n, c in self.columns.items()))

    def _unit(self) -> PrivacyUnit:
        unit = self.privacy.unit
        if isinstance(unit, PersonUnit):
            return PrivacyUnit(unit.key, unit.max_rows_per_person)
        return PrivacyUnit()

    def spec_hash(self) -> str:
        """A stable hash of the validated spec, recorded with every charge and release."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_request(self, spec_path: str) -> ReleaseRequest:
        """The plain values the tasks run on."""
        rows = self.synthesizer.rows
        return ReleaseRequest(
            name=self.release.name,
            description=self.release.description,
            source_table=self.source.name,
            source_engine=self.source.engine,
            codec=self.codec(),
            cost=self.privacy.first_cost(),
            cap=PrivacyCap(self.privacy.cap.epsilon, self.privacy.cap.delta),
            method=self.synthesizer.method,
            spec_hash=self.spec_hash(),
            spec_path=spec_path,
            rows=None if rows == "noisy" else int(rows),
            max_marginal_cells=self.synthesizer.max_marginal_cells,
            synthesizer_options=self.synthesizer.options(),
            unit=self._unit(),
            utility=UtilitySettings(**self.expectations.utility.model_dump()),
            on_exhausted=self.privacy.on_exhausted,
            horizon_runs=None if self.privacy.horizon is None else self.privacy.horizon.runs,
            spec_json=json.dumps(self.model_dump(mode="json", by_alias=True)),  # order kept
            zeros=self.zeros(),
        )


def _column_codec(name: str, column: CategoryColumn | NumericColumn) -> ColumnCodec:
    has_missing = column.missing is not None
    rule: InvalidRule = column.on_invalid or (
        "missing" if has_missing else ("drop" if column.type == "category" else "clamp")
    )
    if isinstance(column, CategoryColumn):
        return ColumnCodec(
            name=name,
            kind="category",
            categories=tuple(column.values),
            has_missing=has_missing,
            missing_tokens=column.missing_tokens(),
            on_invalid=rule,
            source_column=column.source_column,
        )
    return ColumnCodec(
        name=name,
        kind=column.type,
        edges=column.codec_edges(),
        has_missing=has_missing,
        missing_tokens=column.missing_tokens(),
        on_invalid=rule,
        source_column=column.source_column,
    )


def _describe(error: ValidationError, path: str) -> str:
    lines = [f"invalid release spec {path}:"]
    for e in error.errors():
        loc = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after"))
        loc = re.sub(r"\.(category|integer|float)(?=\.|$)", "", loc)
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  - {loc or '(top level)'}: {msg}")
    return "\n".join(lines)


def parse_spec(data: object, path: str = "<spec>") -> ReleaseSpec:
    """Validate already-parsed YAML data; raises ``SpecError`` naming file, field and reason
    (a draft's placeholders first: each names what to declare)."""
    if placeholders := find_placeholders(data):
        raise SpecError(placeholder_message(path, placeholders))
    try:
        return ReleaseSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_describe(error, path)) from None


def load_spec(path: str | Path) -> ReleaseSpec:
    """Read and validate one spec file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(f"cannot read release spec {p}: {error.strerror}") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as error:
        raise SpecError(f"release spec {p} is not valid YAML: {error}") from None
    return parse_spec(data, str(p))
