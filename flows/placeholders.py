"""Placeholders in a drafted spec: what ``dprelease init`` could not fill in from public
metadata, marked so that no spec holding one can be planned or run.

A placeholder is a mapping with a ``fill_in`` key whose text says what to declare, e.g.::

    columns:
      hours: {fill_in: "type integer or float with bounds [low, high] ..."}

:func:`find_placeholders` lists them with their place in the file; the spec loader refuses
a spec that has any, naming each one.
"""

from __future__ import annotations

PLACEHOLDER_KEY = "fill_in"


def placeholder(text: str) -> dict[str, str]:
    """A placeholder saying what to fill in."""
    return {PLACEHOLDER_KEY: text}


def find_placeholders(data: object, where: str = "") -> list[tuple[str, str]]:
    """Every placeholder in parsed YAML ``data``: (dotted place, what to fill in)."""
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        if PLACEHOLDER_KEY in data:
            return [(where or "(top level)", str(data[PLACEHOLDER_KEY]))]
        for key, value in data.items():
            found += find_placeholders(value, f"{where}.{key}" if where else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += find_placeholders(value, f"{where}[{i}]")
    return found


def placeholder_message(path: str, found: list[tuple[str, str]]) -> str:
    """The refusal of a spec that still holds placeholders: each place and what to declare."""
    lines = [
        f"release spec {path} is a draft with {len(found)} placeholder(s) left by `dprelease "
        "init` where no public source said what to declare; fill each in (replace the "
        "`fill_in` entry) or delete the column to leave it out, then plan again:"
    ]
    lines += [f"  - {place}: {text}" for place, text in found]
    return "\n".join(lines)
