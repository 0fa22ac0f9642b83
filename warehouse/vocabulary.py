"""The words the run log, the catalog, the spec and the request share, defined once.

A release version is ``measured`` (its run was charged and drew noisy measurements) or a
``refresh`` (re-sampled from a measured run's stored measurements, at no cost): the same two
words name a run's kind in ``privacy.runs`` and a version's kind in the release catalog.
"""

from __future__ import annotations

from enum import StrEnum


class ReleaseKind(StrEnum):
    """What a run does and what the version it publishes is."""

    MEASURED = "measured"
    REFRESH = "refresh"


class RunStatus(StrEnum):
    """A run's place in the release's steps (``failed`` from any of them)."""

    STARTED = "started"
    VALIDATED = "validated"
    CHARGED = "charged"
    MEASURED = "measured"
    PUBLISHED = "published"
    FAILED = "failed"


DOMAIN_STEP_RELEASE = "dprelease init --learn"
"""The ledger's ``release`` of a DP domain step's charge (``flows.learn_domains``): it has no
run in the run log, and its history outcome says what it was."""

DOMAIN_STEP_OUTCOME = "learned domains"
