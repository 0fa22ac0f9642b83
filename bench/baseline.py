"""A baseline checkout for side-by-side benchmarks: a detached git worktree of a ref."""

from __future__ import annotations

import atexit
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkout(ref: str, workdir: Path) -> Path:
    """A detached git worktree of ``ref`` (e.g. ``main``) under ``workdir``, created once: the
    code whose runs go beside this checkout's, in the same process setup and machine load.
    A worktree created here is removed when the process exits, so benchmarks leave no
    worktree registered in the repository."""
    target = workdir / f"baseline-{ref.replace('/', '-')}"
    if not target.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), ref],
            check=True,
            capture_output=True,
        )
        atexit.register(remove_checkout, target)
    return target


def remove_checkout(target: Path) -> None:
    """Unregister and delete a worktree made by :func:`checkout` (best effort)."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(target)],
        check=False,
        capture_output=True,
    )


def run_script(code: Path, script: str) -> str:
    """Run ``script`` with this interpreter in a fresh process inside the checkout ``code``;
    its standard output, or exit with its output's tail when it fails."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=code
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-4000:])
        raise SystemExit(f"the run with the code at {code} failed")
    return done.stdout
