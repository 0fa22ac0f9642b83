"""What the installed package carries, and whether its five top-level import names are its own.

dprelease installs five top-level packages (:data:`TOP_LEVEL`): the folders the design fixes
(``flows``, ``tasks``, ``dpcore``, ``warehouse``, ``expectations``), whose code imports one
another by those names. Generic names can collide with another distribution in the same
environment, or with a folder of the current directory when Python puts it first on
``sys.path``. Moving them under one ``dprelease`` namespace would rewrite every import of
the project; instead :func:`check_top_level_names` runs when ``flows`` is imported (so
before the CLI does anything) and refuses, with a message saying what shadows what, to run
with a mix of ours and someone else's. Install dprelease in its own virtualenv.

The demo's spec is package data (:func:`demo_spec`), so ``dprelease demo`` works from any
directory after a plain ``pip install .``; the Adult data it loads is package data of
``warehouse`` (:func:`warehouse.seed.adult_data_path`).
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

TOP_LEVEL = ("flows", "tasks", "dpcore", "warehouse", "expectations")
SPECS_DIR = "deployments/specs"
"""Where a checkout keeps its spec files; ``serve`` reads it under the current directory."""


class PackageCollisionError(ImportError):
    """One of dprelease's top-level names resolves to another distribution's package."""


def _location(name: str) -> Path | None:
    """The folder the top-level package ``name`` would be (or was) imported from."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None if spec is None or spec.origin is None else Path(spec.origin)
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def check_top_level_names() -> None:
    """Raise :class:`PackageCollisionError` unless every name of :data:`TOP_LEVEL` is a
    folder beside this ``flows`` package (the same checkout or the same site-packages)."""
    home = Path(__file__).resolve().parent.parent
    foreign = []
    for name in TOP_LEVEL[1:]:
        where = _location(name)
        if where != home / name:
            foreign.append(f"'{name}' from {where or 'nowhere (not installed)'}")
    if foreign:
        raise PackageCollisionError(
            f"dprelease's packages live in {home}, but Python imports "
            f"{', '.join(foreign)}: another distribution or a folder of the current "
            f"directory uses the same top-level name. Install dprelease in its own "
            "virtualenv, or run it from a directory without such folders."
        )


def demo_spec() -> Path:
    """The bundled Adult spec (``deployments/specs/adult.yaml``, packaged as
    ``flows/specs/adult.yaml``)."""
    return Path(str(resources.files("flows") / "specs" / "adult.yaml"))


def default_specs_dir() -> Path:
    """The specs ``serve`` offers by default: ``deployments/specs`` under the current
    directory (a checkout, where stewards add spec files), else the bundled ones."""
    here = Path(SPECS_DIR)
    return here if here.is_dir() else demo_spec().parent
