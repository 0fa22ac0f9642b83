"""Bounding each person's contribution: the SQL cut behind person-level privacy.

Neighbouring relation. With ``privacy.unit: {key, max_rows_per_person: k}``, two source
tables are neighbours when one is the other with *every* row of one person added or
removed, where a person is one non-NULL value of the key column. Nothing else about the
tables is assumed: the rows may be stored in any order, and a reload (``CREATE TABLE AS``, an
ETL job) that renumbers every other row still gives a neighbour. Rows whose key is NULL
belong to nobody the guarantee can name; they are dropped before counting (and counted only
in the operator-only input report), so adding or removing any of them changes nothing.

The cut. Each row is first encoded to its codes (:func:`warehouse.source.code_expression`,
a function of that row alone); rows with a dropped value and rows with a NULL key are
removed. Among a person's remaining rows, the ``k`` kept are the first ``k`` in the order of

    md5(salt ‖ key ‖ codes), then the codes themselves,

where ``salt`` is a secret 128-bit value drawn from the OS CSPRNG for each measurement.
The order key of a row depends only on the row's own codes, its person's key and the salt;
two rows that tie on all of it have identical codes and are interchangeable. So the
multiset of codes a person keeps is a function of *that person's rows and the salt alone*:
not of row ids, physical positions, or anyone else's rows.

Sensitivity. Fix the salt. Adding or removing one person leaves every other person's kept
rows unchanged and adds or removes at most ``k`` kept rows; each row adds one to exactly one
cell of every marginal. So every marginal (histogram) moves by at most ``k`` in L1 and in L2,
for any neighbour as defined above. The salt is independent of the data, so the guarantee
conditioned on each salt holds for the mixture. Mechanisms are calibrated for sensitivity
``k`` (:mod:`dpcore.units`). The md5 order only spreads the choice evenly over a person's
rows (for utility); privacy does not rest on md5's strength.

``tests/warehouse/test_person_unit.py`` reloads a table with one person placed first and
checks the bound for many salts; ``bench/privacy_audit.py --person`` audits the whole
measure step against that neighbour.
"""

from __future__ import annotations

from collections.abc import Sequence

from dpcore.units import PrivacyUnit
from warehouse.connection import literal, quote

PERSON = quote("person key")
"""Alias of the person key inside the cut; no release column can take it (names have no
spaces)."""


def order_key(salt: str, codes: Sequence[str]) -> str:
    """SQL ordering a person's rows: a salted md5 of key and codes, ties broken by codes."""
    content = " || ',' || ".join(f"CAST({c} AS VARCHAR)" for c in codes) or "''"
    person = f"CAST({PERSON} AS VARCHAR)"
    digest = f"md5_number({literal(salt)} || chr(31) || {person} || chr(31) || {content})"
    return ", ".join([digest, *codes])


def bounded_select(
    relation: str,
    code_columns: Sequence[tuple[str, str]],
    unit: PrivacyUnit,
    salt: str,
    *,
    with_key: bool = False,
) -> str:
    """SELECT of every kept row's codes, each person's contribution cut to ``unit.max_rows``.

    ``relation`` is a SQL relation (a quoted table reference or a registered view);
    ``code_columns`` pairs each output column's quoted name with the SQL expression of its
    code (NULL: the row is dropped). With a row unit every row with no dropped value is kept.
    The person key is never selected into the output, except with ``with_key`` (audits and
    tests that compare each person's kept rows).
    """
    names = [name for name, _ in code_columns]
    exprs = ", ".join(f"({expr}) AS {name}" for name, expr in code_columns)
    keep = " AND ".join(f"{n} IS NOT NULL" for n in names) or "true"
    if unit.key is None:
        return f"SELECT * FROM (SELECT {exprs} FROM {relation}) WHERE {keep}"
    key = quote(unit.key)
    inner = f"SELECT {exprs}, {key} AS {PERSON} FROM {relation} WHERE {key} IS NOT NULL"
    return (
        f"SELECT {', '.join([*names, *([PERSON] if with_key else [])])} FROM ({inner}) "
        f"WHERE {keep} "
        f"QUALIFY row_number() OVER (PARTITION BY {PERSON} ORDER BY {order_key(salt, names)}) "
        f"<= {int(unit.max_rows)}"
    )
