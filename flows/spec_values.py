"""How a spec's YAML numbers become the text the encoder compares: codes as written.

Category values and missing tokens are text, compared with the source value's text. A
steward who writes category codes as YAML numbers (``values: [1, 2]``) means the codes
``"1"`` and ``"2"``, which a source storing integers (``CAST(1 AS VARCHAR)`` is ``'1'``) or
digits matches. Only numbers whose written text is not what they read as are ambiguous
(``01`` and ``010`` read as 1 and 8, ``1.50`` as 1.5, ``1e3`` as 1000.0); those, and YAML
booleans (``yes``, ``no``, ``on``, ``true``), are refused with a hint to quote them. To know
what was written, :func:`load_yaml` keeps each number's text beside its value.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_CANONICAL_INTEGER = re.compile(r"^-?(0|[1-9][0-9]*)$")
_PLAIN_DECIMAL = re.compile(r"^-?(0|[1-9][0-9]*)\.[0-9]*[1-9]$")


class WrittenInt(int):
    """A YAML integer that remembers its text as written (``010`` reads as 8)."""

    text: str

    def __new__(cls, value: int, text: str) -> WrittenInt:
        made = super().__new__(cls, value)
        made.text = text
        return made


class WrittenFloat(float):
    """A YAML float that remembers its text as written (``1.50`` reads as 1.5)."""

    text: str

    def __new__(cls, value: float, text: str) -> WrittenFloat:
        made = super().__new__(cls, value)
        made.text = text
        return made


class _SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose numbers keep their written text."""


def _int(loader: yaml.SafeLoader, node: yaml.Node) -> WrittenInt:
    assert isinstance(node, yaml.ScalarNode)
    return WrittenInt(loader.construct_yaml_int(node), str(node.value))


def _float(loader: yaml.SafeLoader, node: yaml.Node) -> WrittenFloat:
    assert isinstance(node, yaml.ScalarNode)
    return WrittenFloat(loader.construct_yaml_float(node), str(node.value))


_SpecLoader.add_constructor("tag:yaml.org,2002:int", _int)
_SpecLoader.add_constructor("tag:yaml.org,2002:float", _float)


def load_yaml(text: str) -> Any:
    """Parse a spec file's YAML (safely), numbers keeping their written text."""
    return yaml.load(text, Loader=_SpecLoader)  # a SafeLoader subclass: safe


def _written(value: int | float) -> str:
    """The number's text as written in YAML, or its decimal text if not read from YAML."""
    text = getattr(value, "text", None)
    return text if isinstance(text, str) else repr(value)


def number_as_text(value: object) -> str | None:
    """A YAML number's unambiguous text (``1`` → ``"1"``, ``1.5`` → ``"1.5"``), or None.

    None for a number whose written text is not its value's text (``01``, ``1.50``, ``1e3``,
    ``0x1f``, ``1_000``), for booleans and for anything that is not a number.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    text = _written(value)
    if isinstance(value, int):
        return text if _CANONICAL_INTEGER.match(text) and int(text) == value else None
    return text if _PLAIN_DECIMAL.match(text) and float(text) == value else None


def integer_text(value: object) -> object:
    """An integer missing token (``missing: -1``) as its text; anything else unchanged."""
    if isinstance(value, int) and not isinstance(value, bool):
        return number_as_text(value) or value
    return value


def category_values_as_text(values: list[object]) -> list[object]:
    """Category values with unambiguous YAML numbers as their text.

    Raises ``ValueError`` naming every ambiguous value at once (numbers whose text is not
    what YAML reads, booleans), with the quoted list to write instead.
    """
    out: list[object] = []
    ambiguous: list[str] = []
    for value in values:
        if isinstance(value, bool):
            ambiguous.append(str(value).lower())
            continue
        if isinstance(value, int | float):
            text = number_as_text(value)
            if text is None:
                ambiguous.append(_written(value))
                continue
            out.append(text)
            continue
        out.append(value)
    if ambiguous:
        quoted = ", ".join(f"'{a}'" for a in ambiguous)
        raise ValueError(
            f"{', '.join(ambiguous)}: YAML does not read "
            f"{'this value' if len(ambiguous) == 1 else 'these values'} as written (010 "
            "reads as the number 8, 1.50 as 1.5, yes/no/on/off as true/false), so which "
            f"source value is meant is ambiguous. Quote them as the source writes them: "
            f"{quoted}. (Plain integer codes such as 1, 2 need no quotes.)"
        )
    return out


def suggest_name(name: str) -> str:
    """A released column name (letters, digits, ``_``) close to a source column's name."""
    words = {">": "_gt_", "<": "_lt_", "=": "_eq_", "%": "_pct_", "&": "_and_", "+": "_plus_"}
    text = "".join(words.get(ch, ch) for ch in name.strip())
    text = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()
    text = re.sub(r"_+", "_", text)
    if not text or not re.match(r"^[A-Za-z_]", text):
        text = f"c_{text}"
    return text
