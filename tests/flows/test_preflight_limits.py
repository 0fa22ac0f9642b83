"""Pre-flight limits: a domain too large, or a cost too small or too large to account for,
is refused before anything is charged, with the file and field named where it is a spec's.

The domain check counts cells by arithmetic from the spec: integer bounds [0, 1e9] with
``bin_width: 1`` are refused in a fraction of a second and a few tens of MB, measured here in
a fresh process (``resource.getrusage``), rather than after building a billion bins.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dpcore.noise.validation import MAX_SCALE
from dpcore.synth.limits import CostTooSmallError
from flows.overrides import ReleaseOverrides
from flows.spec import SpecError, load_spec
from tests.flows.conftest import write_spec
from tests.flows.test_bad_input import privacy_rows, refused
from warehouse.paths import WarehousePaths
from warehouse.publish import catalog

HUGE = {"columns__age": {"type": "integer", "bounds": [0, 1_000_000_000], "bin_width": 1}}

MEASURE = """
import json, resource, sys, time
start = time.perf_counter()
from flows.spec import SpecError, load_spec
try:
    load_spec(sys.argv[1]).to_request(sys.argv[1])
    outcome = "accepted"
except SpecError as error:
    outcome = str(error)
print(json.dumps({
    "outcome": outcome,
    "seconds": time.perf_counter() - start,
    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


# Linux carries a process's peak RSS across exec (``ru_maxrss`` of the pytest process that
# spawned it, hundreds of MB); a child started by a small launcher starts from the launcher's.
LAUNCH = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def test_a_billion_bins_are_refused_at_once_in_little_memory(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, **HUGE)
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, sys.executable, "-c", textwrap.dedent(MEASURE), spec],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    measured = json.loads(result.stdout)
    assert measured["outcome"].startswith(f"invalid release spec {spec}:"), measured
    assert "columns.age has 1,000,000,001 codes" in measured["outcome"]
    assert "synthesizer.max_marginal_cells=1,000,000" in measured["outcome"]
    # About a second at rest (bench/cli.py times refusals); the bound only catches building
    # the billion bins (minutes), which the memory bound below also catches.
    assert measured["seconds"] < 20, measured
    assert measured["max_rss_mb"] < 200, measured


# Runs a command and reports its exit code, stderr, wall time and peak RSS (the launcher's
# only child, so RUSAGE_CHILDREN's peak is the command's own).
COMMAND = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({
    "code": done.returncode,
    "stderr": done.stderr,
    "seconds": time.perf_counter() - start,
    "max_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


@pytest.mark.parametrize("command", ["run", "plan"])
def test_the_cli_refuses_a_billion_bins_before_starting_prefect(
    tmp_path: Path, command: str
) -> None:
    spec = write_spec(tmp_path, **HUGE)
    home = WarehousePaths.from_env(tmp_path / "home")
    cli = [sys.executable, "-m", "flows.cli", "--home", str(home.home), command, spec]
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, sys.executable, "-c", textwrap.dedent(COMMAND), *cli],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    measured = json.loads(result.stdout)
    assert measured["code"] == 2, measured
    assert measured["stderr"].startswith(f"dprelease: invalid release spec {spec}:"), measured
    assert "columns.age has 1,000,000,001 codes" in measured["stderr"]
    assert "Traceback" not in measured["stderr"]
    assert measured["seconds"] < 20, measured  # about a second at rest (bench/cli.py)
    assert measured["max_rss_mb"] < 200, measured
    assert not home.warehouse.exists() and not home.release.exists()


@pytest.mark.parametrize(
    ("column", "codes"),
    [
        ({"type": "integer", "bounds": [0, 9], "bin_width": 3}, 4),  # 0-2, 3-5, 6-8, 9
        ({"type": "integer", "bounds": [0, 9], "bin_width": 3, "missing": "?"}, 5),
        ({"type": "integer", "bounds": [1, 16], "bin_width": 1}, 16),
        ({"type": "float", "bounds": [0.0, 1.0], "bin_width": 0.1}, 10),
        ({"type": "float", "bounds": [0.0, 1.0], "bin_width": 0.3}, 4),
        ({"type": "integer", "bounds": [0, 100], "edges": [0, 10, 100]}, 2),
    ],
)
def test_the_arithmetic_count_matches_the_codec(
    tmp_path: Path, column: dict[str, object], codes: int
) -> None:
    spec = load_spec(write_spec(tmp_path, columns__age=column))
    assert spec.columns["age"].code_count() == codes  # type: ignore[union-attr]
    assert spec.codec().column("age").size == codes


@pytest.mark.parametrize("field", ["privacy.epsilon", "privacy.cap.epsilon"])
def test_an_epsilon_beyond_accounting_names_file_and_field(tmp_path: Path, field: str) -> None:
    """Before: ``rho must be a finite number``, naming neither file nor field."""
    spec = write_spec(tmp_path, **{field.replace(".", "__"): 1e308})
    with pytest.raises(SpecError) as info:
        load_spec(spec)
    assert str(info.value).startswith(f"invalid release spec {spec}:\n  - {field}: ")
    assert "epsilon must be at most 1e+06 (got 1e+308)" in str(info.value)


@pytest.mark.usefixtures("prefect_harness")
def test_a_huge_domain_through_the_flow(home: WarehousePaths, tmp_path: Path) -> None:
    spec = write_spec(tmp_path, **HUGE)
    refused(home, spec, SpecError, spec, "columns.age has 1,000,000,001 codes")


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("method", ["aim", "independent"])
def test_an_epsilon_too_small_to_measure_is_refused_before_the_charge(
    home: WarehousePaths, tmp_path: Path, method: str
) -> None:
    """Before: charged, then ``sigma must be at most 67108864`` and unresumable."""
    spec = write_spec(tmp_path, privacy__epsilon=1e-300, synthesizer__method=method)
    refused(
        home,
        spec,
        CostTooSmallError,
        "epsilon=1e-300 is too small to release anything: a marginal would need noise of "
        "scale sigma=",
        f"above the largest noise scale the samplers support ({MAX_SCALE:,.0f})",
        "Nothing was charged. Raise privacy.epsilon",
    )


@pytest.mark.usefixtures("prefect_harness")
def test_an_epsilon_override_too_small_is_refused_before_the_charge(
    home: WarehousePaths, tmp_path: Path
) -> None:
    from flows.release import release

    before = privacy_rows(home)
    with pytest.raises(CostTooSmallError, match="is too small to release anything"):
        release(
            write_spec(tmp_path),
            home=str(home.home),
            overrides=ReleaseOverrides(epsilon=1e-320),
        )
    assert privacy_rows(home) == before
    assert catalog(home) == [] and not home.release.exists()
