"""Run names and tags (``adult v3 ε=1``, ``release:adult``), and the artifact's report link.

Unit tests, no Prefect server: the runtime's parameters and the client are replaced. That a
real run is renamed and tagged is checked in tests/flows/test_release_report.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest

import flows.run_labels as labels
from flows.overrides import ReleaseOverrides
from flows.run_labels import label_run, release_run_name, run_name, run_tags
from tasks.artifacts import report_link
from tests.flows.conftest import SPECS

ADULT = str((SPECS / "adult.yaml").resolve())


def test_names_say_release_version_and_epsilon() -> None:
    assert run_name("adult", epsilon=1.0) == "adult ε=1"
    assert run_name("adult", version=3, epsilon=0.5) == "adult v3 ε=0.5"
    assert run_name("adult", version=3, epsilon=1 / 3) == "adult v3 ε=0.3333"
    assert run_name("adult", version=3, epsilon=1.0, resumed=True) == "adult v3 ε=1 resume"
    assert run_name("adult", refresh=True) == "adult refresh"
    assert run_name("adult", version=4, epsilon=1.0, refresh=True) == "adult v4 refresh"
    assert run_name("adult") == "adult"  # a horizon spec, before planning sets its epsilon
    assert run_tags("adult", "raw.adult") == ["dprelease", "release:adult", "dataset:raw.adult"]
    assert run_tags("adult", None) == ["dprelease", "release:adult"]


def _parameters(monkeypatch: pytest.MonkeyPatch, parameters: dict[str, Any]) -> None:
    monkeypatch.setattr(labels.flow_run, "get_parameters", lambda: parameters)


def test_a_run_starts_named_from_its_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    _parameters(monkeypatch, {"spec_path": ADULT})
    assert release_run_name() == "adult ε=1"
    _parameters(monkeypatch, {"spec_path": ADULT, "overrides": ReleaseOverrides(epsilon=0.25)})
    assert release_run_name() == "adult ε=0.25"
    _parameters(monkeypatch, {"spec_path": ADULT, "overrides": {"epsilon": 0.5, "rows": 10}})
    assert release_run_name() == "adult ε=0.5"
    _parameters(monkeypatch, {"spec_path": ADULT, "resume_run_id": "r1"})
    assert release_run_name() == "adult ε=1 resume"
    _parameters(monkeypatch, {"spec_path": "/no/such/spec.yaml"})
    assert release_run_name() == "release"  # never fails the run; the run refuses the spec
    _parameters(monkeypatch, {"name": "adult"})
    assert labels.refresh_run_name() == "adult refresh"


class FakeClient:
    """Records ``update_flow_run`` calls."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update_flow_run(self, flow_run_id: UUID, **changes: Any) -> None:
        self.calls.append({"id": flow_run_id, **changes})


def test_label_run_renames_and_retags_only_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    import prefect.client.orchestration

    run_id = uuid4()
    state = {"name": "adult ε=1", "tags": ["dprelease", "release:other", "dataset:raw.view", "x"]}
    monkeypatch.setattr(labels.flow_run, "get_id", lambda: str(run_id))
    monkeypatch.setattr(labels.flow_run, "get_name", lambda: state["name"])
    monkeypatch.setattr(labels.flow_run, "get_tags", lambda: state["tags"])
    monkeypatch.setattr(prefect.client.orchestration, "get_client", lambda **kw: FakeClient())
    FakeClient.calls = []

    label_run("adult v2 ε=1", run_tags("adult", "raw.adult"))
    (call,) = FakeClient.calls
    assert call["id"] == run_id and call["name"] == "adult v2 ε=1"
    # Another spec's (or a view's) labels are replaced; other tags are kept.
    assert sorted(call["tags"]) == ["dataset:raw.adult", "dprelease", "release:adult", "x"]

    state.update(name="adult v2 ε=1", tags=call["tags"])
    label_run("adult v2 ε=1", run_tags("adult", "raw.adult"))
    assert len(FakeClient.calls) == 1  # already labelled: no API call

    monkeypatch.setattr(labels.flow_run, "get_id", lambda: None)
    label_run("anything", ["dprelease"])  # outside a flow run: nothing to do
    assert len(FakeClient.calls) == 1


def test_the_artifact_links_a_served_report_or_says_how_to_open_it() -> None:
    report = Path("/home/x/.dprelease/reports/adult_v2.html")
    served = report_link("adult", report, "http://127.0.0.1:8123/adult_v2.html")
    assert "[open the release report](http://127.0.0.1:8123/adult_v2.html)" in served
    assert "file://" not in served
    unserved = report_link("adult", report, None)
    assert "](" not in unserved  # no dead link
    assert "`dprelease report adult --open`" in unserved and "dprelease serve" in unserved
    assert report_link("adult", None, None) == "no report was written for this run"
