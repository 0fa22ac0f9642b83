"""End-to-end releases through the Prefect flow (one shared test harness).

These cover the issue's acceptance path: publish, publish again, refuse past the cap, refuse
bad input before any charge, resume and retry without a second charge, and keep every
source value out of logs, errors, artifacts and the release file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from dpcore.accounting import PrivacyCost, eps_from_rho
from dpcore.errors import BudgetExhaustedError
from flows.release import ResumeError, release
from flows.spec import load_spec
from tasks.utility import UtilityCheckFailedError
from tests.flows.conftest import marker_release, write_spec
from tests.registration import register_spec
from warehouse.errors import EmptySourceError, SchemaDriftError, SourceNotFoundError
from warehouse.ledger import history
from warehouse.measurements import load_measurements
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog
from warehouse.runs import get_run

pytestmark = pytest.mark.usefixtures("prefect_harness")


def charges(home: WarehousePaths) -> int:
    return len(history(home.warehouse, "raw.adult"))


def test_release_publishes_versions_then_refuses_past_the_cap(
    bare_home: WarehousePaths, tmp_path: Path
) -> None:
    # Each release costs rho(1, 1e-9); the cap admits 2.5 of them, so exactly two fit.
    home = bare_home
    cap_epsilon = round(eps_from_rho(2.5 * PrivacyCost(1.0, 1e-9).rho, 1e-6), 3)
    spec = write_spec(tmp_path, privacy__cap={"epsilon": cap_epsilon, "delta": 1e-6})
    register_spec(home, spec)
    first = release(spec, home=str(home.home))
    assert (first.version, first.table_name) == (1, "adult_v1")
    assert abs(first.rows - 32_561) < 0.05 * 32_561  # sized by the noisy total
    assert charges(home) == 1

    codec = load_spec(spec).codec()
    with duckdb.connect(str(home.release), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM adult").fetchone() == (first.rows,)
        for column in codec.columns:
            if column.kind == "category":
                allowed = [*column.categories]
                bad = con.execute(
                    f'SELECT count(*) FROM adult WHERE "{column.name}" IS NOT NULL '
                    f'AND NOT list_contains(?, "{column.name}")',
                    [allowed],
                ).fetchone()
            else:
                lo, hi = column.bounds
                bad = con.execute(
                    f'SELECT count(*) FROM adult WHERE "{column.name}" < ? OR "{column.name}" > ?',
                    [lo, hi],
                ).fetchone()
            assert bad == (0,), column.name
        nulls = con.execute("SELECT count(*) FROM adult WHERE income IS NULL").fetchone()
        assert nulls == (0,)  # income declares no missing value

    second = release(spec, home=str(home.home))
    assert second.version == 2 and charges(home) == 2
    with duckdb.connect(str(home.release), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM adult").fetchone() == (second.rows,)
        versions = con.execute("SELECT version FROM catalog ORDER BY version").fetchall()
        assert versions == [(1,), (2,)]

    before = catalog(home)
    with pytest.raises(BudgetExhaustedError, match="is left"):
        release(spec, home=str(home.home))
    assert charges(home) == 2
    assert catalog(home) == before


@pytest.mark.parametrize(
    "changes,error,message",
    [
        ({"source__table": "raw.nope"}, SourceNotFoundError, "raw.nope does not exist"),
        (
            {"columns__salary": {"type": "integer", "bounds": [0, 10], "bin_width": 1}},
            SchemaDriftError,
            "raw.adult has no column salary",
        ),
        (
            {"columns__age": {"type": "float", "bounds": [0, 1], "bin_width": 0.5}},
            None,
            None,
        ),
    ],
)
def test_bad_input_is_refused_before_any_charge(
    home: WarehousePaths,
    tmp_path: Path,
    changes: dict[str, object],
    error: type[Exception] | None,
    message: str | None,
) -> None:
    spec = write_spec(tmp_path, **changes)
    if error is None:  # an empty source table
        with duckdb.connect(str(home.warehouse)) as con:
            con.execute("CREATE TABLE raw.adult_empty AS SELECT * FROM raw.adult LIMIT 0")
        spec = write_spec(tmp_path, source__table="raw.adult_empty")
        register_spec(home, spec)
        error, message = EmptySourceError, "raw.adult_empty has no rows"
    with pytest.raises(error) as info:
        release(spec, home=str(home.home))
    assert message in str(info.value)
    assert charges(home) == 0
    assert catalog(home) == []


def test_resume_after_a_failed_publish_reuses_the_charge(
    home: WarehousePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write_spec(tmp_path)
    import tasks.utility

    real = tasks.utility.check_utility

    def failing(*args: object, **kwargs: object) -> object:
        report = real(*args, **kwargs)  # type: ignore[arg-type]
        return type(report)(**{**report.__dict__, "success": False})

    monkeypatch.setattr(tasks.utility, "check_utility", failing)
    with pytest.raises(UtilityCheckFailedError, match="--resume") as info:
        release(spec, home=str(home.home))
    run_id = str(info.value).split("--resume ")[1].split("`")[0]
    assert charges(home) == 1 and catalog(home) == []
    record = get_run(home.warehouse, run_id)
    assert record is not None and record.status == "failed"
    stored = load_measurements(home.warehouse, run_id)
    assert stored is not None and all(m.private for m in stored)  # secure noise only

    monkeypatch.setattr(tasks.utility, "check_utility", real)
    outcome = release(spec, resume_run_id=run_id, home=str(home.home))
    assert outcome.resumed and outcome.version == 1
    assert charges(home) == 1  # no second charge
    again = load_measurements(home.warehouse, run_id)
    assert again is not None
    assert all((a.values == b.values).all() for a, b in zip(stored, again, strict=True))
    record = get_run(home.warehouse, run_id)
    assert record is not None and record.status == "published"

    with pytest.raises(ResumeError, match="no run"):
        release(spec, resume_run_id="not-a-run", home=str(home.home))


def test_a_publish_that_fails_once_is_retried_without_a_second_charge(
    home: WarehousePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.publish

    real = tasks.publish.publish
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk hiccup")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tasks.publish, "publish", flaky)
    outcome = release(write_spec(tmp_path), home=str(home.home))
    assert calls["n"] == 2
    assert outcome.version == 1 and charges(home) == 1 and len(catalog(home)) == 1


MARKER = "ZZSECRETMARKER"


def test_no_source_value_reaches_logs_errors_artifacts_or_the_release(
    home: WarehousePaths, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A table full of marker strings: in an unlisted column, as out-of-domain categories,
    and as a missing-token look-alike. None may appear anywhere a release writes."""
    spec = marker_release(home, tmp_path, MARKER)
    caplog.set_level(logging.DEBUG)
    outcome = release(str(spec), home=str(home.home))
    assert outcome.version == 1
    assert MARKER not in caplog.text
    assert MARKER.encode() not in home.release.read_bytes()
    record = get_run(home.warehouse, outcome.run_id)
    assert record is not None and MARKER not in repr(record)

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    assert artifacts, "the flow publishes artifacts"
    assert all(MARKER not in str(a.data) for a in artifacts)

    # Numbers stored as text, some of them markers: cast in SQL, the markers dropped unseen.
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("ALTER TABLE raw.people ALTER score TYPE VARCHAR")
        con.execute(f"UPDATE raw.people SET score = '{MARKER}' WHERE score = '3'")
    caplog.clear()
    assert release(str(spec), home=str(home.home)).version == 2
    assert MARKER not in caplog.text
    assert MARKER.encode() not in home.release.read_bytes()

    # A failure while private rows are in play keeps the database's text out of the error.
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("ALTER TABLE raw.people ALTER score TYPE BLOB")
    caplog.clear()
    with pytest.raises(SchemaDriftError) as info:
        release(str(spec), home=str(home.home))
    assert MARKER not in str(info.value) and MARKER not in caplog.text
