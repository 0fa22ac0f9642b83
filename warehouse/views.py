"""Which base table a source reads: the dataset whose lifetime cap a release charges.

A cap belongs to the rows it protects, not to a name: a view over ``raw.adult`` reads
``raw.adult``'s rows and must charge ``raw.adult``'s cap, not start a fresh one. A view is
accepted as a source only when each of its rows is one row of one base table, computed from
that row alone (a projection and filter: column references, constants, scalar functions,
casts, CASE, comparisons), so the neighbouring relation of the base table carries over with
the same sensitivity. Joins, unions, subqueries, aggregates, window functions, DISTINCT and
LIMIT can repeat a person's rows or make a row depend on other rows; such views are refused
(materialise them as a table, which a privacy officer registers with its own cap).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb

from warehouse.errors import SourceError

MAX_DEPTH = 16
# Parse-tree classes of expressions computed from one row alone ("TYPE" is a cast's target
# type, "STAR" a ``*`` over the one table).
_ROW_LOCAL = {"COLUMN_REF", "CONSTANT", "FUNCTION", "CAST", "CASE", "COMPARISON",
              "CONJUNCTION", "OPERATOR", "BETWEEN", "COLLATE", "TYPE", "STAR"}  # fmt: skip


class UnsupportedViewError(SourceError):
    """A view whose rows are not one base table's rows, each computed from itself alone."""


def _view_sql(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> str | None:
    row = con.execute(
        "SELECT sql FROM duckdb_views() WHERE NOT internal AND schema_name = ? AND view_name = ? "
        "AND database_name = current_database()",
        [schema, name],
    ).fetchone()
    return None if row is None else str(row[0])


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a parse tree, depth first."""
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _aggregates(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() "
        "WHERE function_type IN ('aggregate', 'table', 'table_macro')"
    ).fetchall()
    return {str(r[0]).lower() for r in rows}


def _single_table(con: duckdb.DuckDBPyConnection, view: str, sql: str) -> tuple[str, str]:
    """The one relation a row-local view reads (unqualified: the view's own schema), or
    ``UnsupportedViewError``."""
    query = sql.split(" AS ", 1)[1].rstrip().rstrip(";") if " AS " in sql else sql
    parsed = json.loads(con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()[0][0])
    statements = parsed.get("statements") or []
    problem = None
    if parsed.get("error") or len(statements) != 1:
        problem = "its query could not be analysed"
    else:
        node = statements[0]["node"]
        source = node.get("from_table") or {}
        aggregates = _aggregates(con)
        if node.get("type") != "SELECT_NODE":
            problem = "it combines several queries (UNION, EXCEPT, INTERSECT)"
        elif source.get("type") != "BASE_TABLE":
            problem = "it reads something other than one table (a join, subquery or function)"
        elif (node.get("cte_map") or {}).get("map"):
            problem = "it uses a WITH clause"
        elif node.get("group_expressions") or node.get("group_sets") or node.get("having"):
            problem = "it groups rows"
        elif any(m.get("type") != "ORDER_MODIFIER" for m in node.get("modifiers") or []):
            problem = "it uses DISTINCT or LIMIT"
        elif node.get("qualify") is not None or node.get("sample") is not None:
            problem = "it filters rows by a window (QUALIFY) or samples them"
        else:
            for expr in _nodes([node.get("select_list"), node.get("where_clause")]):
                kind = expr.get("class")
                if kind is not None and kind not in _ROW_LOCAL:
                    problem = f"it computes values across rows ({kind.lower()})"
                    break
                if kind == "FUNCTION" and str(expr.get("function_name", "")).lower() in (
                    aggregates
                ):
                    problem = f"it aggregates rows ({expr['function_name']})"
                    break
        if problem is None:
            schema = source.get("schema_name") or view.partition(".")[0]
            if source.get("catalog_name"):
                problem = "it reads a table of another database"
            else:
                return str(schema), str(source["table_name"])
    raise UnsupportedViewError(
        f"source {view} is a view, and {problem}: its rows may repeat a person or depend on "
        "other rows, so the privacy argument of its base table does not carry over. Use a "
        "view that only selects and filters the columns of one table, or materialise the "
        "view as a table and have a privacy officer register that table's cap."
    )


def base_table(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """``schema.table`` of the base table that ``table`` (a table or row-local view) reads.

    A table resolves to itself; a view to the table under it (through views over views).
    """
    schema, _, name = table.partition(".")
    for _ in range(MAX_DEPTH):
        sql = _view_sql(con, schema, name)
        if sql is None:
            return f"{schema}.{name}"
        schema, name = _single_table(con, f"{schema}.{name}", sql)
    raise UnsupportedViewError(
        f"source {table} is a chain of more than {MAX_DEPTH} views; point the spec at the "
        "table it reads."
    )
