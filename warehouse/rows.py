"""Typed rows: a frozen dataclass is a table's row, read and written by column name.

The columns a query selects and the values an INSERT binds both come from the dataclass's
fields, so adding a field (with a migration) can never shift another field's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance as _Dataclass

Row = TypeVar("Row", bound="_Dataclass")


def column_names(cls: type[_Dataclass]) -> tuple[str, ...]:
    """The columns of ``cls``'s table, in field order."""
    return tuple(f.name for f in fields(cls))


def select_list(cls: type[_Dataclass]) -> str:
    """``a, b, c``: the columns to SELECT for ``cls``."""
    return ", ".join(column_names(cls))


def from_row(cls: type[Row], values: Sequence[Any]) -> Row:
    """``cls`` from a row selected with :func:`select_list` (fields matched by name)."""
    return cls(**dict(zip(column_names(cls), values, strict=True)))


def insert_sql(table: str, cls: type[_Dataclass]) -> str:
    """``INSERT INTO table (a, b) VALUES (?, ?)`` for every field of ``cls``."""
    names = column_names(cls)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"


def values_of(row: _Dataclass) -> list[Any]:
    """The row's values in the order of :func:`insert_sql`."""
    data = asdict(row)
    return [data[name] for name in column_names(type(row))]
