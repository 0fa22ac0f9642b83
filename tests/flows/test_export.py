"""`dprelease export`: a release version to Parquet or CSV, newest by default."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from flows.cli import main
from warehouse.paths import WarehousePaths
from warehouse.publish import ReleaseMetadata, publish


def publish_versions(home: Path, sizes: list[int]) -> None:
    paths = WarehousePaths.from_env(home)
    for i, n in enumerate(sizes):
        frame = pd.DataFrame({"kind": ["a", "b"] * (n // 2), "score": range(n)})
        meta = ReleaseMetadata(
            name="toy", run_id=f"run-{i}", source="raw.toy", spec_hash="h", description="Toy.",
            method="independent", epsilon=1.0, delta=1e-9, rho=0.01, cumulative_epsilon=1.0,
            cumulative_delta=1e-6, cap_epsilon=4.0, cap_delta=1e-6, utility_passed=True,
            utility={}, column_comments={},
        )  # fmt: skip
        publish(paths, frame, meta, private=True)


def test_export_newest_as_parquet_and_a_version_as_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    publish_versions(home, [10, 20])
    monkeypatch.chdir(tmp_path)
    assert main(["--home", str(home), "export", "toy"]) == 0
    assert "exported toy_v2 (20 rows)" in capsys.readouterr().out
    with duckdb.connect() as con:
        rows = con.execute("SELECT count(*), max(score) FROM 'toy_v2.parquet'").fetchone()
    assert rows == (20, 19)

    out = tmp_path / "sub" / "v1.csv"
    argv = ["--home", str(home), "export", "toy", "--version", "1", "--format", "csv"]
    assert main([*argv, "--output", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "kind,score" and len(lines) == 11
    assert not list(out.parent.glob(".*partial"))


def test_exports_carry_their_metadata_and_never_overwrite_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that travels alone still says it is synthetic, DP, what it cost and where it
    came from; an existing file is kept unless --force is given."""
    home = tmp_path / "home"
    publish_versions(home, [10, 20])
    monkeypatch.chdir(tmp_path)
    assert main(["--home", str(home), "export", "toy"]) == 0
    with duckdb.connect() as con:
        kv = dict(
            con.execute(
                "SELECT decode(key), decode(value) FROM parquet_kv_metadata('toy_v2.parquet')"
            ).fetchall()
        )
    assert kv["synthetic"] == "true" and kv["differentially_private"] == "true"
    assert (kv["name"], kv["version"], kv["run_id"]) == ("toy", "2", "run-1")
    assert (kv["epsilon"], kv["delta"], kv["cap_epsilon"]) == ("1.0", "1e-09", "4.0")
    argv = ["--home", str(home), "export", "toy", "--format", "csv"]
    assert main(argv) == 0
    meta = json.loads((tmp_path / "toy_v2.csv.metadata.json").read_text())
    assert meta["synthetic"] == "true" and meta["version"] == "2"
    capsys.readouterr()
    before = (tmp_path / "toy_v2.csv").read_text()
    assert main(["--home", str(home), "export", "toy", "--version", "1", "--format", "csv",
                 "--output", "toy_v2.csv"]) == 2  # fmt: skip
    _, err = capsys.readouterr()
    assert "toy_v2.csv already exists; pass --force" in err
    assert (tmp_path / "toy_v2.csv").read_text() == before
    assert main([*argv, "--version", "1", "--output", "toy_v2.csv", "--force"]) == 0
    assert len((tmp_path / "toy_v2.csv").read_text().splitlines()) == 11


@pytest.mark.parametrize(
    "argv,message",
    [
        (["export", "nope"], "there is no release named 'nope'"),
        (["export", "toy", "--version", "9"], "has no version 9; its versions are 1"),
    ],
)
def test_export_errors_say_what_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    home = tmp_path / "home"
    publish_versions(home, [4])
    assert main(["--home", str(home), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and "Traceback" not in err


def test_export_before_any_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path / "h"), "export", "toy"]) == 2
    assert "nothing is published" in capsys.readouterr().err
