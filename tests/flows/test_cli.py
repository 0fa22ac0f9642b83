"""The ``dprelease`` command line, as the README uses it."""

from __future__ import annotations

import json
import webbrowser
from pathlib import Path

import pytest

from flows.cli import main
from tests.flows.conftest import SPECS, write_spec
from warehouse.paths import WarehousePaths


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_reads_no_rows_and_shows_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The warehouse here has no source table at all: plan must still answer, once a privacy
    officer has registered the dataset's cap (before, it says how to)."""
    home = str(tmp_path / "empty-home")
    code, out, err = run_cli(capsys, "--home", home, "plan", str(SPECS / "adult.yaml"))
    assert code == 2 and out == "" and "Traceback" not in err
    assert "raw.adult has no registered lifetime cap" in err
    assert "dprelease budget register raw.adult --epsilon E --delta D" in err
    register = ["--home", home, "budget", "register", "raw.adult", "--epsilon", "4"]
    code, out, _ = run_cli(capsys, *register, "--delta", "1e-6", "--unit", "row")
    assert code == 0
    assert "raw.adult: lifetime cap epsilon=4, delta=1e-06" in out and "privacy unit: row" in out
    code, _, err = run_cli(capsys, *register[:-1], "5", "--delta", "1e-6")
    assert code == 2 and "a lifetime cap cannot be changed" in err
    code, out, _ = run_cli(capsys, "--home", home, "plan", str(SPECS / "adult.yaml"), "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["dataset"] == "raw.adult" and plan["affordable"] is True
    assert len(plan["measurements"]) >= 14
    assert all(m["sigma"] > 0 for m in plan["measurements"])
    assert plan["runs_left"] >= 1
    assert plan["schedule"]["cron"] == "0 3 * * 1"
    assert plan["schedule"]["budget_runs_out"] > plan["schedule"]["last_paid_run"]
    code, out, _ = run_cli(capsys, "--home", home, "plan", str(SPECS / "adult.yaml"))
    assert "runs of this spec left" in out and "sigma=" in out


def test_bad_spec_is_one_paragraph_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_spec(tmp_path, privacy__epsilon=-1)
    code, out, err = run_cli(capsys, "--home", str(tmp_path / "h"), "plan", spec)
    assert code == 2 and out == ""
    assert "privacy.epsilon" in err and "Traceback" not in err
    with pytest.raises(Exception, match=r"privacy\.epsilon"):
        main(["--debug", "--home", str(tmp_path / "h"), "plan", spec])


def test_empty_budget_and_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "h")
    Path(home).mkdir()  # an existing, empty home (a missing one is refused, see below)
    assert run_cli(capsys, "--home", home, "budget")[1].startswith("no dataset")
    assert json.loads(run_cli(capsys, "--home", home, "budget", "--json")[1]) == []
    assert run_cli(capsys, "--home", home, "releases")[1].startswith("nothing published")
    assert json.loads(run_cli(capsys, "--home", home, "releases", "--json")[1]) == []


# `dprelease demo`, then budget, history, releases and runs on its home: checked in
# tests/flows/test_readme.py, which runs the README's demo (a second AIM demo here would only
# repeat it, at ~30 s of the suite).


@pytest.mark.usefixtures("prefect_harness")
def test_the_cli_names_what_it_does_not_know_and_takes_home_anywhere(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No silent empty answers: a release name where a dataset is expected, a misspelt
    release, a misspelt --home; --home after the subcommand; --version; table headers."""
    from flows.release import release

    release(write_spec(tmp_path), home=str(home.home))
    h = str(home.home)
    code, out, _ = run_cli(capsys, "budget", "--home", h)  # --home after the subcommand
    assert code == 0 and "raw.adult" in out
    code, _, err = run_cli(capsys, "budget", "--home", h, "--history", "adult")
    assert code == 2 and "adult is a release, not a dataset; its dataset is raw.adult" in err
    code, _, err = run_cli(capsys, "--home", h, "budget", "--history", "raw.adulte")
    assert code == 2 and "did you mean raw.adult?" in err
    code, _, err = run_cli(capsys, "--home", h, "releases", "adulte")
    assert code == 2 and "there is no release named adulte; did you mean adult?" in err
    code, _, err = run_cli(capsys, "--home", h, "runs", "adulte")
    assert code == 2 and "did you mean adult?" in err
    missing = str(tmp_path / "hoem")
    code, _, err = run_cli(capsys, "--home", missing, "releases")
    assert code == 2 and "there is no dprelease home at" in err
    assert not Path(missing).exists()  # not created by a read
    code, out, _ = run_cli(capsys, "--home", h, "releases")
    assert out.splitlines()[0].split()[:3] == ["version", "rows", "method"]
    assert " UTC" in out and "of the cap used" in out
    code, out, _ = run_cli(capsys, "--home", h, "runs")
    assert out.splitlines()[0].split()[:3] == ["run", "release", "status"]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("dprelease ")


def test_report_shows_opens_the_newest_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dprelease report NAME [--open]`: the newest report, at its served address if a
    server serves it, else the file; unknown names get the close matches."""
    from flows.report_server import REPORTS_URL_ENV, reports_served

    monkeypatch.delenv(REPORTS_URL_ENV, raising=False)
    home = tmp_path / "h"
    (home / "reports").mkdir(parents=True)
    for version in (1, 2, 10):
        (home / "reports" / f"adult_v{version}.html").write_text("<p>report</p>")
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)

    code, out, _ = run_cli(capsys, "--home", str(home), "report", "adult")
    assert code == 0 and f"report: {home / 'reports' / 'adult_v10.html'}" in out
    assert "nothing serves reports now" in out and not opened
    code, out, _ = run_cli(capsys, "report", "adult", "--open", "--home", str(home))
    assert opened == [(home / "reports" / "adult_v10.html").as_uri()]  # the file itself
    with reports_served(home, port=0) as url:
        code, out, _ = run_cli(capsys, "--home", str(home), "report", "adult", "--version", "2")
        assert f"served at: {url}/adult_v2.html" in out
        run_cli(capsys, "--home", str(home), "report", "adult", "--open")
        assert opened[-1] == f"{url}/adult_v10.html"  # over HTTP while a server serves it
    code, _, err = run_cli(capsys, "--home", str(home), "report", "adulte")
    assert code == 2 and "did you mean adult?" in err
    code, _, err = run_cli(capsys, "--home", str(home), "report", "adult", "--version", "3")
    assert code == 2 and "no report of version 3" in err
