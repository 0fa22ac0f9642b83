"""``dprelease init`` (issue 15): a spec drafted from public metadata only (catalog, codebook,
registered cap), placeholders that ``plan`` refuses by name, and never a value from the rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from flows.cli import main
from flows.codebook import CodebookError, load_codebook
from flows.release import release
from flows.spec import load_spec
from tests.flows.conftest import SPECS, marker_release
from tests.registration import register_spec
from warehouse.paths import WarehousePaths

ADULT_CODEBOOK = SPECS.parent / "codebooks" / "adult.json"
MARKER = "MARKER_INIT_7f3a"

TINY_CODEBOOK = """column,type,values,low,high,edges,bin_width,missing,special,omit,note
region,category,north|south|east,,,,,?,,,where the household lives
age,integer,,0,80,0|18|40|65|80,,,,,
score,float,,0,1,,0.25,,,,
"""


def cli(capsys: pytest.CaptureFixture[str], home: WarehousePaths, *argv: str) -> tuple[int, str]:
    """Run a command on ``home``; its exit code and everything it printed."""
    code = main(["--home", str(home.home), *argv])
    out, err = capsys.readouterr()
    return code, out + err


def tiny_table(home: WarehousePaths, name: str = "tiny") -> None:
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            f"CREATE TABLE raw.{name} AS SELECT "
            "CASE i % 3 WHEN 0 THEN 'north' WHEN 1 THEN 'south' ELSE 'east' END AS region, "
            "(i % 81)::INTEGER AS age, (i % 100) / 100.0 AS score FROM range(600) t(i)"
        )


def test_init_drafts_the_adult_spec_from_its_shipped_codebook(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "adult.yaml"
    code, said = cli(
        capsys, home, "init", "raw.adult", "--codebook", str(ADULT_CODEBOOK), "--out", str(out)
    )
    assert code == 0, said
    assert "0 placeholder(s)" in said
    drafted, shipped = load_spec(out), load_spec(SPECS / "adult.yaml")
    assert drafted.codec() == shipped.codec()  # every domain, in order; fnlwgt omitted
    assert drafted.constraints == shipped.constraints
    assert drafted.privacy.cap == shipped.privacy.cap  # the registered cap
    code, said = cli(capsys, home, "plan", str(out))
    assert code == 0, said


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_a_draft_from_a_csv_codebook_plans_and_runs(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_table(home)
    book = tmp_path / "tiny.csv"
    book.write_text(TINY_CODEBOOK)
    main(["--home", str(home.home), "budget", "register", "raw.tiny", "--epsilon", "8",
          "--delta", "1e-6"])  # fmt: skip
    out = tmp_path / "tiny.yaml"
    code, said = cli(capsys, home, "init", "raw.tiny", "--codebook", str(book), "--out", str(out))
    assert code == 0, said
    spec = load_spec(out)
    assert spec.columns["region"].missing == "?"
    assert spec.codec().column("age").edges == (0, 18, 40, 65, 81)
    assert cli(capsys, home, "plan", str(out))[0] == 0
    # The draft runs as drafted but for its method: the fast one here, as write_spec does
    # (AIM's own tests live in tests/dpcore/synth).
    text = out.read_text()
    out.write_text(text.replace("{method: aim,", "{method: independent,"))
    outcome = release(str(out), home=str(home.home))
    assert outcome.rows > 0


def test_placeholders_are_refused_by_plan_naming_the_column_and_what_to_declare(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_table(home)
    out = tmp_path / "draft.yaml"
    code, said = cli(capsys, home, "init", "raw.tiny", "--out", str(out))
    assert code == 0, said
    assert "4 placeholder(s)" in said  # three columns, and the unregistered cap
    code, said = cli(capsys, home, "plan", str(out))
    assert code == 2
    assert "columns.region: catalog type VARCHAR: declare type category with its values" in said
    assert "columns.age: catalog type INTEGER: declare type integer with bounds" in said
    assert "privacy.cap: raw.tiny has no registered cap" in said
    assert "--learn region" in said


def test_a_codebook_for_another_table_or_a_bad_one_is_refused(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_table(home)
    code, said = cli(capsys, home, "init", "raw.tiny", "--codebook", str(ADULT_CODEBOOK))
    assert code == 2 and "which raw.tiny does not have" in said
    bad = tmp_path / "bad.json"
    bad.write_text('{"columns": {"age": {"type": "integer"}}}')
    with pytest.raises(CodebookError, match=r"columns\.age: .*needs its bounds"):
        load_codebook(bad)
    (tmp_path / "book.txt").write_text("age integer")
    with pytest.raises(CodebookError, match=r"\.json or \.csv"):
        load_codebook(tmp_path / "book.txt")


def test_init_never_reads_a_row(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Marker values in every kind of column never reach the draft or the terminal, and a
    table whose every SELECT fails (a view raising on read) still drafts: init asks the
    catalog only."""
    register_spec(home, marker_release(home, tmp_path, MARKER))  # raw.people, marked rows
    book = tmp_path / "people.json"
    book.write_text('{"columns": {"kind": {"type": "category", "values": ["a", "b"]}}}')
    for extra in ([], ["--codebook", str(book)]):
        out = tmp_path / "people_draft.yaml"
        code, said = cli(capsys, home, "init", "raw.people", "--out", str(out), "--force", *extra)
        assert code == 0, said
        assert MARKER not in out.read_text() and MARKER not in said
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute(
            "CREATE VIEW raw.trap AS SELECT CAST(error('a row was read') AS INTEGER) AS n, 'x' AS t"
        )
        with pytest.raises(duckdb.Error, match="a row was read"):
            con.execute("SELECT n FROM raw.trap").fetchall()
    code, said = cli(capsys, home, "init", "raw.trap")
    assert code == 0, said
    assert "n: {fill_in: 'catalog type INTEGER" in said


def test_a_source_name_no_release_may_take_is_drafted_with_source_column(
    home: WarehousePaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute('CREATE TABLE raw.jobs AS SELECT 40 AS "Hours Worked", 1 AS "code"')
    book = tmp_path / "jobs.json"
    book.write_text(
        '{"columns": {"Hours Worked": {"type": "integer", "bounds": [0, 99]},'
        ' "code": {"type": "category", "values": [1, 2]}}}'
    )
    out = tmp_path / "jobs.yaml"
    code, said = cli(capsys, home, "init", "raw.jobs", "--codebook", str(book), "--out", str(out))
    assert code == 0, said
    text = out.read_text()
    assert "hours_worked: {source_column: Hours Worked, type: integer" in text
    # the cap is still a placeholder (raw.jobs has none registered): fill it in, then it parses
    text = text.replace(text[text.index("  cap: ") : text.index("\n", text.index("  cap: "))],
                        "  cap: {epsilon: 4.0, delta: 1.0e-06}")  # fmt: skip
    out.write_text(text)
    spec = load_spec(out)
    assert spec.columns["hours_worked"].source_column == "Hours Worked"
    assert spec.columns["code"].values == ["1", "2"]  # type: ignore[union-attr]
