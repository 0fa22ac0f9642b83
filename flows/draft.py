"""Drafting a release spec from public metadata: ``dprelease init TABLE [--codebook FILE]``.

What goes in: the table's column names and types from the warehouse catalog
(``information_schema``, never a row), each column's domain from the codebook
(:mod:`flows.codebook`), the dataset's registered cap from the ledger, and domains learned
under DP on the ledger (:mod:`flows.learn_domains`) with their cost in a comment. Wherever
none of these says what to declare, the draft holds a placeholder
(:mod:`flows.placeholders`), which ``plan`` and ``run`` refuse by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from dpcore.accounting import PrivacyCap
from flows.codebook import Codebook, CodebookError
from flows.placeholders import placeholder
from flows.spec import RELEASED_COLUMN
from flows.spec_values import suggest_name
from warehouse.source import catalog_kind


@dataclass(frozen=True)
class LearnedColumn:
    """A column's domain learned under DP: its spec entry and the comment naming its cost."""

    entry: dict[str, Any]
    note: str


@dataclass(frozen=True)
class DraftInputs:
    """Everything public a draft is made of."""

    table: str
    catalog: Mapping[str, str]
    """Column name -> catalog type, in the table's order."""
    codebook: Codebook | None = None
    codebook_path: str | None = None
    cap: PrivacyCap | None = None
    learned: Mapping[str, LearnedColumn] = field(default_factory=dict)


def check_codebook(codebook: Codebook, catalog: Mapping[str, str], table: str) -> None:
    """Refuse a codebook naming columns the table does not have (written for another table)."""
    absent = [name for name in codebook.columns if name not in catalog]
    if absent:
        raise CodebookError(
            f"the codebook lists {', '.join(absent)}, which {table} does not have (its "
            f"columns: {', '.join(catalog)}). Fix the names in the codebook, or give the "
            "codebook of this table."
        )


def _flow(value: object) -> str:
    """One YAML value on one line (flow style, keys in the order given)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**9)
    return text.strip().removesuffix("...").strip()


def _release_name(table: str) -> str:
    name = suggest_name(table.partition(".")[2] or table)
    if not re.match(r"^[a-z]", name):
        name = f"t_{name}"
    if re.search(r"_v[0-9]+$", name) or name in ("catalog", "marginals", "latest_marginals"):
        name = f"{name}_release"
    return name[:48]


def _hint(name: str, sql_type: str, table: str) -> str:
    """What to declare for a column no public source covered."""
    kind = catalog_kind(sql_type)
    learn = (
        f"or learn it under DP (charged to {table}'s cap): `dprelease init {table} --learn "
        f"{name} --epsilon E`; or delete this column to leave it out"
    )
    if kind == "category":
        return f"catalog type {sql_type}: declare type category with its values, {learn}"
    if kind is not None:
        return (
            f"catalog type {sql_type}: declare type {kind} with bounds [low, high] and "
            f"bin_width or edges, {learn}"
        )
    return (
        f"catalog type {sql_type} cannot be released as is: delete this column, or release a "
        "view that casts it to numbers or text"
    )


def _columns(inputs: DraftInputs) -> list[str]:
    lines = ["columns:"]
    book = inputs.codebook.columns if inputs.codebook else {}
    for source, sql_type in inputs.catalog.items():
        entry: dict[str, Any]
        comment: str | None = None
        described = book.get(source)
        if described is not None and described.omit:
            why = f": {described.note}" if described.note else ""
            lines.append(f"  # {source} ({sql_type}): omitted by the codebook{why}; never read")
            continue
        if source in inputs.learned:
            learned = inputs.learned[source]
            entry, comment = dict(learned.entry), learned.note
        elif described is not None:
            entry = described.spec_entry()
            comment = described.note
        else:
            entry = placeholder(_hint(source, sql_type, inputs.table))
        name = source
        if not re.match(RELEASED_COLUMN, source):
            name = suggest_name(source)
            entry = {"source_column": source, **entry}
        if comment:
            lines.append(f"  # {comment}")
        lines.append(f"  {name}: {_flow(entry)}")
    return lines


def _privacy(inputs: DraftInputs) -> list[str]:
    cap: object
    if inputs.cap is not None:
        cap = {"epsilon": inputs.cap.epsilon, "delta": inputs.cap.delta}
        where = f"   # registered for {inputs.table}"
    else:
        cap = placeholder(
            f"{inputs.table} has no registered cap: a privacy officer registers it with "
            f"`dprelease budget register {inputs.table} --epsilon E --delta D`; then write it "
            "here as {epsilon: E, delta: D}"
        )
        where = ""
    delta = 0.0 if inputs.cap is not None and inputs.cap.pure else 1.0e-9
    return [
        "privacy:",
        "  epsilon: 1.0          # this release's cost: review it",
        f"  delta: {_flow(delta)}",
        f"  cap: {_flow(cap)}{where}",
        "  on_exhausted: fail",
    ]


def draft_spec(inputs: DraftInputs) -> str:
    """The drafted spec's YAML text (see the module docstring)."""
    book = inputs.codebook
    if book is not None:
        check_codebook(book, inputs.catalog, inputs.table)
    source = f" and the codebook {inputs.codebook_path}" if inputs.codebook_path else ""
    book_option = f" --codebook {inputs.codebook_path}" if inputs.codebook_path else ""
    description = (book.description if book else None) or f"Synthetic release of {inputs.table}."
    lines = [
        f"# Drafted by `dprelease init {inputs.table}{book_option}` from public metadata only: "
        f"column names and types from the warehouse catalog{source}.",
        "# No source row was read, except where a comment says a domain was learned under DP "
        "(charged to the ledger).",
        "# Review every column; each `fill_in` is a placeholder that `dprelease plan` refuses "
        "until it is replaced.",
        "release:",
        f"  name: {_release_name(inputs.table)}",
        f"  description: {_flow(description)}",
        "source:",
        f"  table: {inputs.table}",
        *_privacy(inputs),
        *_columns(inputs),
    ]
    if book is not None and book.constraints:
        lines.append("constraints:   # from the codebook: rules every synthetic row keeps")
        lines += [f"  - {_flow(rule)}" for rule in book.constraints]
    lines.append("synthesizer: {method: aim, rows: noisy}")
    return "\n".join(lines) + "\n"
