"""A baseline checkout for side-by-side benchmarks: a detached git worktree of a ref."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def checkout(ref: str, workdir: Path) -> Path:
    """A detached git worktree of ``ref`` (e.g. ``main``) under ``workdir``, created once: the
    code whose runs go beside this checkout's, in the same process setup and machine load."""
    target = workdir / f"baseline-{ref.replace('/', '-')}"
    if not target.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), ref],
            check=True,
            capture_output=True,
        )
    return target
