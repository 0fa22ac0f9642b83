"""The release flow writes its report and links it from the release artifact; overrides.

The report must be built from DP outputs only: a source table full of marker strings (in
an unlisted column and as out-of-domain categories) must leave no trace in it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from uuid import UUID

import pytest

from flows.overrides import OverrideError, ReleaseOverrides
from flows.release import release
from tests.flows.conftest import marker_release
from warehouse.ledger import history
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog
from warehouse.runs import get_run

pytestmark = pytest.mark.usefixtures("prefect_harness")

MARKER = "QQREPORTMARKER"


def people_spec(home: WarehousePaths, tmp_path: Path) -> str:
    return marker_release(home, tmp_path, MARKER, rows=3000)


def test_report_holds_no_source_value_and_the_artifact_links_it(
    home: WarehousePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = people_spec(home, tmp_path)
    monkeypatch.setenv("DPRELEASE_REPORTS_URL", "http://127.0.0.1:8999/")  # a serving address
    outcome = release(spec, home=str(home.home))
    report = Path(outcome.report)
    assert report == home.reports / "people_v1.html"
    html = report.read_text()
    assert MARKER not in html
    assert html.count('data-plot="1-way') == 2 and 'data-plot="budget over time"' in html
    # Beside it only GX's Data Docs of the synthetic table (no operator-only report), linked
    # from it and holding no source value either.
    assert sorted(home.reports.iterdir()) == [home.reports / "data-docs", report]
    docs = home.data_docs(outcome.run_id)
    assert f'href="data-docs/{outcome.run_id}/index.html"' in html
    pages = list(docs.rglob("*.html"))
    assert len(pages) == 2  # the index and the validation result
    assert not any(MARKER in p.read_text() for p in pages)

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    # Other tests in the session publish "release-people" too: read this run's artifact.
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["release-people"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(outcome.run_id)]),
            )
        )
    assert len(artifacts) == 1
    markdown = str(artifacts[0].data)
    # An HTTP link (a file:// one does not open from the UI), and the headline figures.
    assert "](http://127.0.0.1:8999/people_v1.html)" in markdown and "file://" not in markdown
    assert "of raw.people's lifetime cap" in markdown and "mean TVD" in markdown
    assert "a perfect model would score about" in markdown  # the noise floor
    assert "| score | 5 |" in markdown  # the noise table: marginal, cells, sigma
    assert MARKER not in markdown

    # The run is named after what it published, and tagged with its release and dataset.
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(outcome.run_id))
    assert run.name == "people v1 ε=2"
    assert {"dprelease", "release:people", "dataset:raw.people"} <= set(run.tags)


def test_overrides_lower_the_charge_and_size_the_table(
    home: WarehousePaths, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = people_spec(home, tmp_path)
    caplog.set_level(logging.WARNING)
    outcome = release(spec, home=str(home.home), overrides=ReleaseOverrides(rows=1234, epsilon=0.5))
    assert (outcome.rows, outcome.epsilon) == (1234, 0.5)
    # The row count is checked against the rows asked for, never against the noisy total,
    # so sizing a table on purpose logs no failed check (and the catalog agrees).
    assert "utility check" not in caplog.text
    (row,) = catalog(home, "people")
    assert row["utility_passed"]
    [charged] = history(home.warehouse, "raw.people")
    assert charged.charge.epsilon == 0.5

    with pytest.raises(OverrideError, match="higher than the spec's epsilon 2"):
        release(spec, home=str(home.home), overrides=ReleaseOverrides(epsilon=2.5))
    assert len(history(home.warehouse, "raw.people")) == 1  # refused before any charge


def test_a_failed_report_does_not_fail_a_published_release(
    home: WarehousePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.report  # flows.finish imports it when the report is due

    def broken(*args: object, **kwargs: object) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(tasks.report, "write_release_report", broken)
    outcome = release(people_spec(home, tmp_path), home=str(home.home))
    assert outcome.version == 1 and outcome.report is None
    record = get_run(home.warehouse, outcome.run_id)
    assert record is not None and record.status == "published"
