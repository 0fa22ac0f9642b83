"""The Great Expectations child process: same outcomes as in process, typed failures, no hang."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pandas as pd
import pytest

from expectations import child
from expectations.child import GXProcessError, validate
from expectations.errors import ExpectationRunError
from expectations.validation import ExpectationSpec, Validation
from tests.expectations.test_utility_suite import Scenario, _run, scenario

__all__ = ["scenario"]  # the fixture, shared with the utility suite's tests

MARKER = "SECRET_MARKER_123"


@pytest.fixture
def in_child() -> Iterator[None]:
    """Validations in a child process, as in a release run (the session default is inline)."""
    child.set_inline(False)
    yield
    child.set_inline(True)


def _validations() -> list[Validation]:
    """Two suites over frames of the dtypes the utility suite sends (nullable floats, text
    with None, int64, float64)."""
    table = pd.DataFrame(
        {
            "c": pd.Series(["a", "b", None, "b"], dtype=object),
            "x": pd.Series([1.5, None, 3.0, 2.0], dtype="Float64"),
            "n": pd.Series([0, 1, 2, 9], dtype="int64"),
        }
    )
    checks = {
        "set": ExpectationSpec.of("ExpectColumnValuesToBeInSet", column="c", value_set=["a"]),
        "range": ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween", column="x", min_value=0.0, max_value=2.5
        ),
        "codes": ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween", column="n", min_value=0, max_value=3
        ),
        "nulls": ExpectationSpec.of("ExpectColumnValuesToNotBeNull", column="c"),
    }
    sums = pd.DataFrame({"t": [0.1, 0.2, 0.30000000000000004]}, dtype="float64")
    tvd = {
        "sum": ExpectationSpec.of(
            "ExpectColumnSumToBeBetween", column="t", min_value=0.0, max_value=1.0
        )
    }
    return [
        Validation("test-table", table, checks),
        Validation("test-sum", sums, tvd, keep_observed=True),
    ]


def test_child_gives_the_outcomes_of_an_inline_run(in_child: None) -> None:
    in_child_outcomes = validate(_validations())
    child.set_inline(True)
    inline = validate(_validations())
    assert in_child_outcomes == inline
    assert inline[1]["sum"].observed == 0.1 + 0.2 + 0.30000000000000004  # exactly, via JSON
    assert not inline[0]["set"].success and inline[0]["codes"].unexpected_count == 1


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _maybe_warm(warm: bool) -> AbstractContextManager[None]:
    return child.warm_child() if warm else nullcontext()


def test_a_warm_child_gives_the_outcomes_of_an_inline_run(in_child: None) -> None:
    with child.warm_child():
        waiting = child._warm
        assert waiting is not None and waiting.process.poll() is None
        time.sleep(0.5)  # it imports GX meanwhile
        from_warm = validate(_validations())
        assert child._warm is None and waiting.process.returncode == 0  # used, done
        assert (waiting.folder / "result.json").is_file()
    assert not waiting.folder.exists()
    child.set_inline(True)
    assert from_warm == validate(_validations())


def test_an_unused_warm_child_is_stopped_on_exit(in_child: None) -> None:
    with child.warm_child():
        waiting = child._warm
        assert waiting is not None
        with child.warm_child():  # one per process: the inner one starts nothing
            assert child._warm is waiting
        assert waiting.process.poll() is None
    assert child._warm is None and waiting.process.returncode is not None
    assert _gone(waiting.process.pid) and not waiting.folder.exists()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="no process priorities here")
def test_a_warm_child_imports_at_a_lower_priority(in_child: None) -> None:
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    with child.warm_child():
        waiting = child._warm
        assert waiting is not None
        theirs = os.getpriority(os.PRIO_PROCESS, waiting.process.pid)
    assert theirs == min(19, ours + child.WARM_NICENESS)


def test_inline_validation_starts_no_warm_child() -> None:
    child.set_inline(True)
    with child.warm_child():
        assert child._warm is None


def test_a_warm_child_whose_input_ends_without_go_exits_by_itself(tmp_path: Path) -> None:
    waiting = subprocess.Popen(
        [*child.child_command(tmp_path), child.WAIT_FLAG],
        env=child._child_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = waiting.communicate(input=b"", timeout=300)  # closes stdin, says nothing
    assert waiting.returncode == 0, output[-2000:]
    assert b"Traceback" not in output and not (tmp_path / "result.json").exists()


@pytest.mark.parametrize("warm", [False, True])
def test_an_errored_expectation_is_the_same_typed_error(in_child: None, warm: bool) -> None:
    with _maybe_warm(warm):
        _raise_an_errored_expectation()


def _raise_an_errored_expectation() -> None:
    frame = pd.DataFrame({"text": [MARKER, "b"]})
    broken = {
        "broken": ExpectationSpec.of(
            "ExpectColumnValuesToBeBetween", column="text", min_value=0, max_value=5
        )
    }
    with pytest.raises(ExpectationRunError) as info:
        validate([Validation("test-errored", frame, broken)])
    assert type(info.value) is ExpectationRunError
    assert "expect_column_values_to_be_between on 'text'" in str(info.value)
    assert MARKER not in str(info.value)


def _fake_child(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setattr(child, "child_command", lambda folder: [sys.executable, "-c", code])


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("import os; os.kill(os.getpid(), 9)", "killed by signal SIGKILL"),
        ("raise SystemExit(1)", "exited without a result"),
        (f"raise RuntimeError('{MARKER}')", "failed with RuntimeError"),
    ],
)
def test_a_crashed_child_is_a_clear_error(
    in_child: None, monkeypatch: pytest.MonkeyPatch, code: str, says: str, warm: bool
) -> None:
    """Warm, the child may be gone before it is told to go: the same errors."""
    monkeypatch.delenv("DPRELEASE_DEBUG", raising=False)  # --debug would show the message
    _fake_child(monkeypatch, code)
    with _maybe_warm(warm), pytest.raises(GXProcessError) as info:
        validate(_validations())
    assert says in str(info.value) and MARKER not in str(info.value)


@pytest.mark.parametrize("warm", [False, True])
def test_a_child_that_hangs_is_stopped(
    in_child: None, monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    _fake_child(monkeypatch, "import time; time.sleep(60)")
    started = time.monotonic()
    with _maybe_warm(warm), pytest.raises(GXProcessError, match="did not finish within 1 s"):
        validate(_validations(), timeout_s=1.0)
    assert time.monotonic() - started < 10


def test_the_child_exits_when_its_parent_is_gone(tmp_path: Path) -> None:
    """A child whose recorded parent is not its parent (it died) stops at once."""
    child.write_request(tmp_path, _validations())
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "expectations.child_main", str(tmp_path), "1"],
        env=child._child_environment(),
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 3 and time.monotonic() - started < 30
    assert not (tmp_path / "result.json").exists()


def test_a_warm_child_exits_when_its_parent_is_gone(tmp_path: Path) -> None:
    """Even while it waits for ``go`` with its input still open."""
    waiting = subprocess.Popen(
        [*child.child_command(tmp_path)[:-1], "1", child.WAIT_FLAG],
        env=child._child_environment(),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert waiting.wait(timeout=60) == 3
    finally:
        waiting.kill()
        waiting.communicate()


def test_the_utility_report_is_the_same_from_the_child(
    in_child: None, scenario: Scenario, tmp_path: Path
) -> None:
    """The child validates the synthetic rows and renders the Data Docs itself."""
    from_child = _run(scenario, docs_dir=str(tmp_path / "docs"))
    assert (tmp_path / "docs" / "index.html").is_file()
    child.set_inline(True)
    assert from_child == _run(scenario, docs_dir=str(tmp_path / "docs"))


def test_validating_in_the_child_leaves_gx_out_of_this_process() -> None:
    script = (
        "import sys\n"
        "from expectations.child import validate\n"
        "from tests.expectations.test_gx_child import _validations\n"
        "validate(_validations())\n"
        "print('GX' if 'great_expectations' in sys.modules else 'NO-GX')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "NO-GX"


def test_the_child_validates_each_batch_as_it_is_written(in_child: None) -> None:
    """The (warm) child reads, validates and deletes the first frame before the second
    validation is even produced: producing and validating overlap."""
    first, second = _validations()
    with child.warm_child():
        waiting = child._warm
        assert waiting is not None

        def stream() -> Iterator[Validation]:
            yield first
            frame = waiting.folder / "frame-0.pkl"
            deadline = time.monotonic() + 120  # GX's import on a loaded machine
            while frame.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not frame.exists(), "the child did not take the first batch alone"
            yield second

        outcomes = validate(stream())
    child.set_inline(True)
    assert outcomes == validate(_validations())


def _started(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """The cold children :func:`validate` starts, as they start."""
    started: list[subprocess.Popen[bytes]] = []
    real = child._start_child

    def start(folder: Path, *, wait: bool = False) -> subprocess.Popen[bytes]:
        started.append(real(folder, wait=wait))
        return started[-1]

    monkeypatch.setattr(child, "_start_child", start)
    return started


def test_a_failure_while_producing_batches_stops_the_child(
    in_child: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. the table re-sampled differently: the error is the caller's, no child is left."""
    started = _started(monkeypatch)

    def stream() -> Iterator[Validation]:
        yield _validations()[0]
        raise RuntimeError("re-sampled differently")

    with pytest.raises(RuntimeError, match="re-sampled differently"):
        validate(stream())
    (process,) = started
    assert process.returncode is not None and _gone(process.pid)


def test_nothing_to_validate_gives_no_outcomes(
    in_child: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _started(monkeypatch)
    assert validate([]) == []
    assert all(p.returncode is not None for p in started)


def test_bad_rows_in_later_batches_fail_the_table_in_the_child(
    in_child: None, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three batches streamed to the child: a value outside the domain or a NULL where none
    is allowed, in the second or last batch, is found and counted."""
    from expectations import synthetic_suite

    monkeypatch.setattr(synthetic_suite, "BATCH_ROWS", 2000)
    synthetic = scenario.synthetic.copy()
    last = len(synthetic) - 1
    synthetic["workclass"] = synthetic["workclass"].cat.add_categories(["Never-worked"])
    synthetic.loc[last, "age"] = 91  # integer bins are half-open: the top value is 90
    synthetic.loc[last, "workclass"] = "Never-worked"
    synthetic.loc[2500, "sex"] = None  # sex has no missing code
    synthetic.loc[2600, "hours"] = 250.0  # hours lie in [0, 100]
    report = _run(scenario, synthetic=synthetic)
    assert len([o for o in report.expectations if o.check == "domain:age"]) == 3
    assert {(c.name, c.column): c.observed for c in report.failed()} == {
        ("domain", "age"): 1.0,
        ("domain", "workclass"): 1.0,
        ("domain", "hours"): 1.0,
        ("not_null", "sex"): 1.0,
    }


def test_a_child_that_reads_nothing_stops_a_long_stream(
    in_child: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More batches than may wait unread, and a child that never reads: stopped, not a hang
    (the producer waits for room at most the timeout)."""
    _fake_child(monkeypatch, "import time; time.sleep(60)")
    batches = [_validations()[0]] * (child.AHEAD + 2)
    started = time.monotonic()
    with pytest.raises(GXProcessError, match="did not finish within 1 s"):
        validate(batches, timeout_s=1.0)
    assert time.monotonic() - started < 10


def test_no_more_than_a_few_frames_wait_unread(
    in_child: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The producer never runs more than :data:`~expectations.child.AHEAD` frames ahead."""
    written: list[int] = []
    real = pd.DataFrame.to_pickle

    def to_pickle(frame: pd.DataFrame, path: Path, *args: object, **kwargs: object) -> None:
        written.append(len(list(Path(path).parent.glob("frame-*.pkl"))))
        real(frame, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pd.DataFrame, "to_pickle", to_pickle)
    outcomes = validate([_validations()[0]] * (child.AHEAD + 3))
    assert len(outcomes) == child.AHEAD + 3
    assert max(written) < child.AHEAD
