"""Pre-flight: what can be refused without reading a source row is refused by the CLI before
any flow or Prefect server starts: one paragraph, exit code 2, the ledger unchanged."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from flows.local_api import ServerFiles, stop_server
from flows.spec import load_spec
from tests.flows.conftest import write_spec
from tests.flows.test_bad_input import privacy_rows
from tests.registration import charge_request, register_spec
from warehouse.paths import WarehousePaths


@pytest.fixture
def no_api(monkeypatch: pytest.MonkeyPatch, home: WarehousePaths) -> Iterator[WarehousePaths]:
    """No PREFECT_API_URL: a run that got past the pre-flight would start the home's server
    (stopped afterwards, so a failing test leaves nothing running)."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    yield home
    stop_server(home.home)


def refused_by_cli(home: WarehousePaths, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run the CLI; it must exit 2 with one paragraph, spend nothing and start no server."""
    before = privacy_rows(home)
    started = time.monotonic()
    code = main(["--home", str(home.home), *argv])
    seconds = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("dprelease: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    assert privacy_rows(home) == before
    assert not ServerFiles.for_home(home.home).record.exists()
    assert seconds < 15, seconds  # about a second at rest; generous for a loaded machine
    return err


def test_an_epsilon_above_the_specs_is_refused_before_prefect(
    no_api: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path)
    err = refused_by_cli(no_api, capsys, "run", spec, "--epsilon", "3")
    assert "higher than the spec's epsilon 1" in err and "Leave epsilon empty" in err


def test_an_unregistered_cap_is_refused_before_prefect(
    bare_home: WarehousePaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    err = refused_by_cli(bare_home, capsys, "run", write_spec(tmp_path))
    assert "raw.adult has no registered lifetime cap" in err


def test_an_exhausted_budget_is_refused_before_prefect(
    bare_home: WarehousePaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    spec = write_spec(tmp_path, privacy__cap={"epsilon": 1.0, "delta": 1.0e-6})
    register_spec(bare_home, spec)
    request = load_spec(spec).to_request(spec)
    charge_request(bare_home, request, "earlier-run")
    err = refused_by_cli(bare_home, capsys, "run", spec)
    assert "raw.adult" in err and "is left" in err


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("DROP TABLE raw.adult", "source table raw.adult does not exist"),
        ("ALTER TABLE raw.adult DROP COLUMN age", "raw.adult has no column age"),
        ("ALTER TABLE raw.adult ALTER age TYPE BOOLEAN", "age is BOOLEAN"),
    ],
)
def test_a_missing_or_drifted_source_is_refused_before_prefect(
    no_api: WarehousePaths,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    statement: str,
    message: str,
) -> None:
    with duckdb.connect(str(no_api.warehouse)) as con:
        con.execute(statement)
    err = refused_by_cli(no_api, capsys, "run", write_spec(tmp_path))
    assert message in err


def test_an_unknown_resume_is_refused_before_prefect(
    no_api: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused_by_cli(no_api, capsys, "run", write_spec(tmp_path), "--resume", "nope")
    assert "there is no run nope" in err


def test_a_refresh_with_nothing_stored_is_refused_before_prefect(
    no_api: WarehousePaths, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused_by_cli(no_api, capsys, "refresh", "adult")
    assert "release adult has no stored measurements to refresh from" in err


def test_plan_budget_and_releases_import_no_prefect_gx_or_matplotlib(tmp_path: Path) -> None:
    """The light commands stay light: checked in a fresh interpreter."""
    import subprocess

    spec = write_spec(tmp_path)
    code = (
        "import sys; from flows.cli import main; "
        f"[main(['--home', {str(tmp_path / 'h')!r}, *a]) for a in "
        f"(['plan', {spec!r}], ['budget'], ['releases'])]; "
        "heavy = [m for m in ('prefect', 'great_expectations', 'matplotlib', 'dask', 'pandas') "
        "if m in sys.modules]; print('HEAVY', heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr
