"""Flow run names and tags that say which release a run is: ``adult v3 ε=1``.

A run's version is only certain when it publishes (another run of the release may publish
first), so a run is named in two steps, never claiming a version it did not publish:

- when it starts, from its parameters alone (no database read): ``adult ε=1`` (the spec's
  epsilon, or the override's lower one), ``adult ε=1 resume``, ``adult`` (a horizon spec,
  whose epsilon is set by planning) or ``adult refresh``;
- when it publishes, renamed through the Prefect API to what it published:
  ``adult v3 ε=1``, ``adult v4 refresh`` (also when a scheduled run falls back to a
  refresh), ``adult v3 ε=1 resume``.

A refused or failed run keeps its first name. Tags are ``dprelease``, ``release:<name>``
and ``dataset:<table>``: set when the run is created (the CLI's ``prefect.tags`` context,
or the deployment's tags), and made sure of at publish. Naming never fails a run: if the
API refuses, a warning is logged and the release stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from prefect import get_run_logger
from prefect.runtime import flow_run

from tasks.runlog import safe_error_text

LABEL_PREFIXES = ("release:", "dataset:")


def run_tags(release: str, dataset: str | None) -> list[str]:
    """The tags of a release's runs: the app, the release and the dataset it is charged to
    (left out while not known, e.g. a refresh's before it finds its measurements)."""
    tags = ["dprelease", f"release:{release}"]
    return tags if dataset is None else [*tags, f"dataset:{dataset}"]


def run_name(
    release: str,
    *,
    version: int | None = None,
    epsilon: float | None = None,
    refresh: bool = False,
    resumed: bool = False,
) -> str:
    """``<release>[ v<N>] ε=<epsilon>[ resume]``, or ``<release>[ v<N>] refresh``."""
    parts = [release]
    if version is not None:
        parts.append(f"v{version}")
    if refresh:
        parts.append("refresh")
    elif epsilon is not None:
        parts.append(f"ε={epsilon:.4g}")
    if resumed and not refresh:
        parts.append("resume")
    return " ".join(parts)


def _epsilon_override(overrides: Any) -> float | None:
    """The override's epsilon, from the validated model or its JSON form."""
    value = overrides.get("epsilon") if isinstance(overrides, dict) else None
    value = getattr(overrides, "epsilon", value)
    return None if value is None else float(value)


def release_run_name() -> str:
    """The ``release`` flow's starting name, from its parameters (``flow_run_name``).

    Reads the spec file only (no database); any problem falls back to ``release``, since
    the run itself will refuse a bad spec with a proper message.
    """
    try:
        from flows.spec import load_spec

        parameters = flow_run.get_parameters()
        spec = load_spec(str(parameters["spec_path"]))
        override = _epsilon_override(parameters.get("overrides"))
        epsilon = override if override is not None else spec.privacy.epsilon
        resumed = parameters.get("resume_run_id") is not None
        return run_name(spec.release.name, epsilon=epsilon, resumed=resumed)
    except Exception:  # a name must never fail the run; the run reports the real problem
        return "release"


def refresh_run_name() -> str:
    """The ``refresh`` flow's starting name: ``<release> refresh``."""
    name = flow_run.get_parameters().get("name")
    return run_name(str(name), refresh=True) if name else "refresh"


def label_run(name: str | None, tags: Sequence[str]) -> None:
    """Rename the current flow run to ``name`` (if given and different) and give it
    ``tags``, replacing other ``release:``/``dataset:`` tags (a run created with another
    spec's, or a view's table before it was resolved to its base table); outside a flow run,
    or if the API refuses, only a warning (never a failure)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    current = list(flow_run.get_tags())
    kept = [t for t in current if not t.startswith(LABEL_PREFIXES) and t not in tags]
    wanted = [*kept, *tags]
    retag = sorted(wanted) != sorted(current)
    rename = name is not None and name != flow_run.get_name()
    if not retag and not rename:
        return
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            client.update_flow_run(
                UUID(run_id), name=name if rename else None, tags=wanted if retag else None
            )
    except Exception as error:  # the release stands without its label
        get_run_logger().warning(
            "could not rename flow run to %r or tag it (%s)", name, safe_error_text(error)
        )
