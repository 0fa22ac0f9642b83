"""A plain (not editable) ``pip install .`` works from any directory: package data, names.

The project is copied to a temporary folder and installed, without its dependencies, into a
fresh virtualenv whose only link to the development one is a ``.pth`` line putting the
development site-packages *after* its own (so Prefect, DuckDB ... are found, offline, in
seconds, while dprelease itself is the copy just installed, not the editable checkout).
Then, from an unrelated directory, the installed ``dprelease`` loads the bundled Adult data,
registers its cap and plans the bundled demo spec, and ``dprelease demo`` publishes a
release: nothing may be read from the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flows.packaged import TOP_LEVEL

pytestmark = [pytest.mark.slow, pytest.mark.install]

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", *TOP_LEVEL, "deployments")


@dataclass(frozen=True)
class Installed:
    """A virtualenv holding a non-editable install, and a directory outside the repo."""

    venv: Path
    cwd: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a program of the virtualenv from the outside directory."""
        result = subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return result


def _copy_sources(target: Path) -> None:
    """The files a build reads (symlinks kept: the packaged spec links to deployments/)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "output")
    target.mkdir(parents=True)
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("install")
    source, venv, cwd = base / "src", base / "venv", base / "elsewhere"
    _copy_sources(source)
    cwd.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "_dprelease_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    env["DPRELEASE_HOME"] = str(base / "home")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(
        [*pip, "--no-deps", "--no-build-isolation", "--no-index", str(source)],
        check=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )
    yield Installed(venv, cwd, env)


def test_the_installed_packages_are_the_copy_not_the_checkout(installed: Installed) -> None:
    code = "import " + ", ".join(TOP_LEVEL) + "; print('\\n'.join(m.__file__ for m in ["
    code += ", ".join(TOP_LEVEL) + "]))"
    where = installed.run("python", "-c", code).stdout.split()
    assert len(where) == len(TOP_LEVEL)
    for path in where:
        assert Path(path).resolve().is_relative_to(installed.venv.resolve()), path
    spec = installed.run("python", "-c", "from flows.packaged import demo_spec; print(demo_spec())")
    packaged = Path(spec.stdout.strip())
    assert packaged.is_file() and not packaged.is_symlink()
    assert packaged.resolve().is_relative_to(installed.venv.resolve())


def test_plan_of_the_bundled_spec_from_another_directory(installed: Installed) -> None:
    """Package data only: the Adult data (``warehouse/data``) and spec (``flows/specs``)."""
    seed = "from warehouse.seed import seed_adult; from warehouse.paths import WarehousePaths\n"
    seed += "assert seed_adult(WarehousePaths.from_env(None).warehouse)"
    installed.run("python", "-c", seed)
    installed.run(
        "dprelease", "budget", "register", "raw.adult", "--epsilon", "4", "--delta", "1e-6"
    )
    spec = installed.run("python", "-c", "from flows.packaged import demo_spec; print(demo_spec())")
    out = installed.run("dprelease", "plan", spec.stdout.strip()).stdout
    assert "4.8% of the lifetime cap" in out, out


def test_a_collision_is_named_not_a_traceback_deep_inside(installed: Installed) -> None:
    """A folder ``tasks/`` in the current directory shadows ours under ``python -m``."""
    shadow = installed.cwd / "tasks"
    shadow.mkdir(exist_ok=True)
    (shadow / "__init__.py").write_text("")
    try:
        result = subprocess.run(
            [str(installed.venv / "bin" / "python"), "-m", "flows.cli", "--help"],
            cwd=installed.cwd,
            env=installed.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(shadow)
    assert result.returncode != 0
    assert "PackageCollisionError" in result.stderr and "'tasks' from" in result.stderr


def test_demo_from_another_directory(
    installed: Installed, tmp_path: Path, prefect_harness: None
) -> None:
    """The README's one command, installed: seeds, registers, runs the flow, publishes.

    It reports to the test harness's Prefect API (``PREFECT_API_URL``, as a configured
    deployment would), so no server of its own is started: starting and reusing the local
    server is ``tests/flows/test_local_api.py``'s subject, and costs ~25 s here.
    """
    import prefect.settings

    env = {
        **installed.env,
        "DPRELEASE_HOME": str(tmp_path / "demo-home"),
        "PREFECT_API_URL": str(prefect.settings.PREFECT_API_URL.value()),
    }
    demo = Installed(installed.venv, installed.cwd, env)
    out = demo.run("dprelease", "demo", timeout=600).stdout
    assert "published release.adult -> adult_v1" in out, out
    assert "Prefect UI: http://127.0.0.1:" in out  # the configured API's UI
    assert (tmp_path / "demo-home" / "release.duckdb").is_file()
    assert not (tmp_path / "demo-home" / "prefect").exists(), "a server was started"
    assert not list(installed.cwd.iterdir()), "the demo wrote into the current directory"
