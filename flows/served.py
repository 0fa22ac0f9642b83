"""Runs started from a deployment use the home bound when serving started, never another.

``dprelease serve`` binds the warehouse directory for the runs it starts
(``$DPRELEASE_HOME``) and leaves ``home`` out of the run form. The flows still take a
``home`` parameter (the CLI and tests call them in process), so a deployment's run that
carries one was started by going around the form, through the API: it is refused, so that
whoever may press Run cannot point a release at another warehouse (another ledger).
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect.runtime import deployment

from dpcore.errors import DPReleaseError


class ServedHomeError(DPReleaseError):
    """A deployment's run tried to choose its own warehouse directory."""


def refuse_home_override(home: str | None) -> None:
    """Raise :class:`ServedHomeError` if this run comes from a deployment and sets ``home``."""
    if home is not None and deployment.id is not None:
        raise ServedHomeError(
            "a served deployment's runs use the warehouse directory bound when serving "
            "started; a run's parameters cannot choose another. Remove the home parameter, "
            "or serve that directory (`dprelease --home DIR serve`)."
        )


class UnreviewedSpecError(DPReleaseError):
    """A work-pool deployment's run named a spec file outside the reviewed specs folder."""


def reviewed_specs_folder() -> Path:
    """The folder a worker's deployment runs may take specs from: ``$DPRELEASE_SPECS_DIR``,
    else ``deployments/specs`` in the repository the worker pulled (its working directory)."""
    return Path(os.environ.get("DPRELEASE_SPECS_DIR") or Path.cwd() / "deployments" / "specs")


def refuse_unreviewed_spec(spec_path: str, folder: Path) -> Path:
    """``spec_path`` resolved, if it is a YAML file inside ``folder`` (symlinks resolved, so
    ``..`` or a link cannot leave it); else :class:`UnreviewedSpecError`.

    A work-pool deployment's run form shows ``spec_path`` as text (Prefect builds it from the
    flow's signature); whoever may press Run could otherwise release any spec the worker can
    read, e.g. one declaring a larger epsilon than the reviewed one. Specs are reviewed by
    committing them to that folder, so the run accepts only those.
    """
    root = folder.resolve()
    candidate = Path(spec_path)
    resolved = (candidate if candidate.is_absolute() else Path.cwd() / candidate).resolve()
    if (
        resolved.suffix not in {".yaml", ".yml"}
        or not resolved.is_relative_to(root)
        or not resolved.is_file()
    ):
        raise UnreviewedSpecError(
            f"spec_path {spec_path!r} is not a spec file in the reviewed specs folder {root}; "
            "a deployment's run may only release a spec committed there. Choose one of "
            f"{sorted(p.name for p in root.glob('*.y*ml'))}, or add the spec to that folder "
            "through review (the worker's $DPRELEASE_SPECS_DIR names another folder)."
        )
    return resolved
