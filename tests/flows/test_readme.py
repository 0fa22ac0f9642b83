"""The README's walkthrough, command by command: every command in it runs here or is named
with the test that runs it, so the README cannot drift from the code."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest

from flows.cli import main

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

# Commands the README shows that other tests run (or that are CI itself).
COVERED_ELSEWHERE = {
    "bash .ci/run": "CI itself",
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/dprelease demo": (
        ".ci/run (venv + install) and the demo below"
    ),
    "dprelease serve": "tests/e2e/test_prefect_ui.py and tests/flows/test_deployments.py",
    "pip install -e '.[postgres]'": ".ci/run (the postgres extra)",
    "export DPRELEASE_DATABASE_URL=postgresql://dprelease@db.internal:5432/dprelease": (
        "tests/warehouse (store_home: the ledger and run log suites with it set)"
    ),
    "dask scheduler --host 10.0.0.5 --port 8786 --scheduler-file /shared/dask/scheduler.json": (
        "tests/flows/test_dask_release.py (the same on loopback, tests/dask_processes.py)"
    ),
    "dask worker tcp://10.0.0.5:8786 --nthreads 1 --nanny": (
        "tests/flows/test_dask_release.py (two workers, tests/dask_processes.py)"
    ),
    "export DPRELEASE_DASK_ADDRESS=tcp://10.0.0.5:8786": (
        "tests/flows/test_dask_release.py (the process cluster's address)"
    ),
}


def blocks(language: str) -> list[str]:
    """The README's fenced code blocks of one language."""
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def commands() -> list[str]:
    """Every command line in the README's bash blocks, without trailing comments."""
    lines = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                lines.append(line)
    return lines


def statements(block: str) -> list[str]:
    """SQL statements of a block, without comments."""
    text = re.sub(r"--[^\n]*", "", block)
    return [s.strip() for s in text.split(";") if s.strip()]


def test_every_readme_command_is_exercised(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    prefect_harness: None,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deployments").symlink_to(ROOT / "deployments")
    monkeypatch.setenv("DPRELEASE_HOME", str(tmp_path / ".dprelease"))
    ran = []
    for line in commands():
        if line in COVERED_ELSEWHERE:
            continue
        argv = shlex.split(line)
        assert argv[0] == "dprelease", f"README command not exercised by any test: {line}"
        assert main(argv[1:]) == 0, line
        out, err = capsys.readouterr()
        ran.append((line, out, err))
    by_command = {line: (out, err) for line, out, err in ran}

    out, err = by_command["dprelease demo"]
    assert "measuring marginals" in err and "publishing" in err  # progress lines
    check_demo_output(out)
    assert "Finished in state" not in err  # ... instead of Prefect's console chatter
    assert "reports/adult_v1.html" in out
    assert "Prefect UI: http://127.0.0.1:" in out and "/runs/flow-run/" in out
    # the harness's API is configured (as PREFECT_API_URL would be): used, none started
    assert "commands use it and start no server" in by_command["dprelease server status"][0]
    report = (tmp_path / ".dprelease" / "reports" / "adult_v1.html").read_text()
    assert report.count('data-plot="1-way') >= 4 and 'data-plot="budget over time"' in report
    docs = re.search(r'<a href="(data-docs/[^"]+/index.html)">', report)  # GX's, linked
    assert docs and (tmp_path / ".dprelease" / "reports" / docs[1]).is_file()
    out, _ = by_command["dprelease run deployments/specs/adult.yaml --epsilon 0.5 --rows 10000"]
    assert "adult_v2: 10,000 rows" in out
    out, _ = by_command["dprelease refresh adult --rows 10000"]
    assert "adult_v3: 10,000 rows" in out and "no privacy cost" in out
    out, _ = by_command['dprelease plan deployments/specs/adult.yaml --schedule "0 3 1 * *"']
    assert "schedule '0 3 1 * *': the budget pays for" in out and "runs out on" in out
    assert "[#" in by_command["dprelease budget"][0]
    assert "eps=1 " in by_command["dprelease budget --history raw.adult"][0]  # the demo's charge
    assert (tmp_path / "adult_v3.parquet").exists()  # the newest: the refresh
    assert len((tmp_path / "adult_v1.csv").read_text().splitlines()) > 30_000  # v1: noisy total

    check_the_home_after_the_walkthrough(capsys)

    sql = blocks("sql")
    assert len(sql) == 2
    with duckdb.connect(str(tmp_path / ".dprelease" / "release.duckdb"), read_only=True) as con:
        for statement in statements(sql[0]):
            assert con.execute(statement).fetchall(), statement
        # The spec's declared education <-> education_num mapping holds in every version.
        for version in (1, 2, 3):
            pairs = con.execute(
                f"SELECT DISTINCT education, education_num FROM adult_v{version}"
            ).fetchall()
            assert len(pairs) == len({e for e, _ in pairs}) == len({n for _, n in pairs}), pairs
    with duckdb.connect() as con:
        for statement in statements(sql[1]):
            con.execute(statement).fetchall()
        assert con.execute("SELECT count(*) FROM release.adult").fetchone() == (10_000,)


def test_readme_documents_every_catalog_column() -> None:
    from warehouse.publish import CATALOG_COLUMNS

    section = README[README.index("`catalog` columns") :]
    for column in CATALOG_COLUMNS:
        assert f"`{column}`" in section, column


def check_demo_output(out: str) -> None:
    """The demo says what it loaded and published, and how to query and open it; its query
    hint works with what pip installed (the duckdb module, not its CLI)."""
    assert "loaded the bundled UCI Adult data" in out
    assert "published release.adult -> adult_v1" in out
    assert "SELECT * FROM adult" in out and "duckdb -readonly" not in out
    hint = next(line for line in out.splitlines() if line.startswith("query it:"))
    queried = subprocess.run(
        hint.split(":", 1)[1], shell=True, capture_output=True, text=True, timeout=60
    )
    assert queried.returncode == 0 and "workclass" in queried.stdout, queried.stderr
    assert "open it:   dprelease report adult --open" in out


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main([*argv, "--json"]) == 0, argv
    return json.loads(capsys.readouterr().out)


def check_the_home_after_the_walkthrough(capsys: pytest.CaptureFixture[str]) -> None:
    """After demo (v1), run (v2) and refresh (v3): budget, history, releases and runs as JSON,
    and the demo's flow run named and tagged as served runs are."""
    budgets = cli_json(capsys, "budget")
    assert [b["dataset"] for b in budgets] == ["raw.adult"]
    assert 0 < float(budgets[0]["spent_rho"]) < float(budgets[0]["cap_rho"])
    rows = cli_json(capsys, "budget", "--history", "raw.adult")
    assert len(rows) >= 2 and {r["outcome"] for r in rows} == {"published"}  # refresh: free
    assert rows[0]["cumulative_rho"] == rows[0]["rho"]
    releases = cli_json(capsys, "releases")
    assert sorted(r["version"] for r in releases if r["name"] == "adult") == [1, 2, 3]
    assert all(isinstance(r["utility"]["checks"], list) for r in releases)  # not JSON strings
    runs = cli_json(capsys, "runs")
    assert {r["status"] for r in runs} == {"published"}
    (demo_run,) = [r for r in runs if r["release"] == "adult" and r["version"] == 1]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(demo_run["run_id"]))
    assert run.name == "adult v1 ε=1"
    assert {"dprelease", "release:adult", "dataset:raw.adult"} <= set(run.tags)
