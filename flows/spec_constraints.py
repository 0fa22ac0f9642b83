"""The spec's ``constraints:`` section: value combinations that never occur, declared as
public knowledge (a codebook rule), compiled into the model's structural zeros.

Two forms::

    constraints:
      - name: education and education_num are one code
        mapping:
          columns: [education, education_num]
          pairs: [[Preschool, 1], [1st-4th, 2], ...]
      - name: children under 15 have never married
        if: {column: age, below: 15}
        then: {column: marital_status, in: [Never-married]}

A mapping allows only the listed value pairs; an implication forbids, for rows meeting
``if``, every value of the ``then`` column outside its list. Conditions take ``in`` (values),
``below`` or ``at_least`` (numeric thresholds on a bin edge). Constraints cost no budget.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dpcore.constraints import StructuralZeros, condition_codes, implication, mapping
from dpcore.encoding import TableCodec

Value = str | int | float


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Condition(_Strict):
    """One side of a rule: a column and which of its values (or bins) it names."""

    column: str
    values: list[Value] | None = Field(default=None, alias="in")
    below: float | None = None
    at_least: float | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        given = [self.values is not None, self.below is not None, self.at_least is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of 'in', 'below' or 'at_least'")
        return self


class MappingRule(_Strict):
    """Only these value pairs of two columns ever occur together."""

    columns: Annotated[list[str], Field(min_length=2, max_length=2)]
    pairs: Annotated[
        list[Annotated[list[Value], Field(min_length=2, max_length=2)]], Field(min_length=1)
    ]


class ConstraintSpec(_Strict):
    """A declared rule: a ``mapping``, or an implication ``if`` ... ``then`` ...."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    mapping: MappingRule | None = None
    if_: Condition | None = Field(default=None, alias="if")
    then: Condition | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> ConstraintSpec:
        implication_given = self.if_ is not None or self.then is not None
        if (self.mapping is not None) == implication_given:
            raise ValueError("give either a mapping, or an 'if' with a 'then'")
        if implication_given and (self.if_ is None or self.then is None):
            raise ValueError("an implication needs both 'if' and 'then'")
        return self

    def columns(self) -> list[str]:
        """The release columns the rule names."""
        if self.mapping is not None:
            return list(self.mapping.columns)
        assert self.if_ is not None and self.then is not None
        return [self.if_.column, self.then.column]

    def compile(self, codec: TableCodec) -> StructuralZeros:
        """The rule as structural zeros over the release's public codes."""
        if self.mapping is not None:
            a, b = (codec.column(c) for c in self.mapping.columns)
            return mapping(self.name, (a, b), self.mapping.pairs)
        assert self.if_ is not None and self.then is not None
        first, second = codec.column(self.if_.column), codec.column(self.then.column)
        if_codes = condition_codes(first, self.if_.values, self.if_.below, self.if_.at_least)
        then_codes = condition_codes(second, self.then.values, self.then.below, self.then.at_least)
        return implication(self.name, (first, if_codes), (second, then_codes))
