"""Through the command line: a full disk during a publish, a read-only home and a home
that is a file each end in one paragraph and exit code 2, never a traceback; a full disk
after the charge leaves the run resumable at no new cost."""

from __future__ import annotations

import errno
from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from tests.flows.conftest import write_spec
from tests.flows.test_bad_input import privacy_rows
from warehouse import publish as publish_module
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog
from warehouse.runs import list_runs


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The exit code and the error paragraph: the last line of stderr (progress lines, one
    per finished step, come before it)."""
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "Traceback" not in err and lines, err
    assert [line.startswith("dprelease: ") for line in lines].count(True) == 1, err
    return code, lines[-1]


@pytest.mark.parametrize("command", [["budget"], ["runs"], ["releases"], ["plan", "SPEC"]])
def test_a_home_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    home = tmp_path / "home"
    home.write_text("not a directory")
    argv = [write_spec(tmp_path) if a == "SPEC" else a for a in command]
    code, err = run_cli(capsys, "--home", str(home), *argv)
    assert code == 2
    assert err.startswith(f"dprelease: the warehouse home {home} is not a directory")


def _read_only(home: WarehousePaths, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root, chmod does not stop writes: the refusal is injected at the first write any
    command makes, the warehouse file's gate (before: ``OSError ... .gate``, a traceback)."""
    real_open = Path.open

    def read_only(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if self.name.endswith(".gate") and self.parent == home.home:
            raise PermissionError(errno.EROFS, "Read-only file system", str(self))
        return real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", read_only)


def _assert_permission_paragraph(home: WarehousePaths, code: int, err: str) -> None:
    assert code == 2
    assert err.startswith(
        f"dprelease: permission denied: this user may not write {home.warehouse}.gate"
    )
    assert "--home or $DPRELEASE_HOME" in err


@pytest.mark.parametrize("command", ["budget", "runs"])
def test_a_read_only_home(
    home: WarehousePaths,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    _read_only(home, monkeypatch)
    _assert_permission_paragraph(home, *run_cli(capsys, "--home", str(home.home), command))


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_in_a_read_only_home(
    home: WarehousePaths,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = write_spec(tmp_path)
    before = privacy_rows(home)
    _read_only(home, monkeypatch)
    _assert_permission_paragraph(home, *run_cli(capsys, "--home", str(home.home), "run", spec))
    monkeypatch.undo()
    assert privacy_rows(home) == before
    assert catalog(home) == [] and not home.release.exists()


@pytest.mark.usefixtures("prefect_harness")
def test_a_full_disk_during_the_publish(
    home: WarehousePaths,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: 'a transaction kept conflicting with concurrent writers for 120 s'."""
    spec = write_spec(tmp_path)

    def full(*args: object, **kwargs: object) -> None:
        raise duckdb.IOException('IO Error: Could not write file "x": No space left on device')

    monkeypatch.setattr(publish_module, "_write_rows", full)
    code, err = run_cli(capsys, "--home", str(home.home), "run", spec)
    assert code == 2
    assert err.startswith(
        f"dprelease: the disk is full: there was no space left to write {home.home}. "
    )
    assert "conflict" not in err and "--resume RUN_ID" in err
    assert catalog(home) == [] and not home.release.exists()
    charges = privacy_rows(home)[1]
    assert len(charges) == 1  # charged before the publish: knowable only then
    run = list_runs(home.warehouse)[0]
    assert run.status == "failed" and run.error is not None and "disk is full" in run.error

    monkeypatch.undo()  # space freed
    assert main(["--home", str(home.home), "run", spec, "--resume", run.run_id]) == 0
    assert [r["run_id"] for r in catalog(home)] == [run.run_id]
    assert privacy_rows(home)[1] == charges  # no second charge
