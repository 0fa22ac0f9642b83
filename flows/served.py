"""Runs started from a deployment use the home bound when serving started, never another.

``dprelease serve`` binds the warehouse directory for the runs it starts
(``$DPRELEASE_HOME``) and leaves ``home`` out of the run form. The flows still take a
``home`` parameter (the CLI and tests call them in process), so a deployment's run that
carries one was started by going around the form, through the API: it is refused, so that
whoever may press Run cannot point a release at another warehouse (another ledger).
"""

from __future__ import annotations

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
