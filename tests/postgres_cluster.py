"""A throwaway PostgreSQL cluster on a loopback port, for tests and the ledger benchmark.

Uses Debian's server binaries (``apt-get install postgresql``; ``.ci/run`` installs them when
it runs as root): ``initdb`` into a temporary directory, ``pg_ctl`` on 127.0.0.1 and a free
port, trust authentication for local connections only. PostgreSQL refuses to run as root,
so as root the cluster runs as the ``postgres`` user (or ``nobody``) through ``runuser``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def server_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (newest installed version), if any."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3])
    )
    return versions[-1].parent if versions else None


def missing_reason() -> str | None:
    """Why a cluster cannot be started here (None if it can)."""
    if server_bin() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
            "`apt-get install postgresql` (.ci/run does so as root)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed; pip install -e '.[postgres]'"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> list[str]:
    """The command prefix running a server binary as a non-root user when we are root."""
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return ["runuser", "-u", user, "--"]
    raise RuntimeError("running as root with neither a postgres nor a nobody user")


@dataclass(frozen=True)
class Cluster:
    """A running temporary cluster."""

    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        """A connection URL for ``database``."""
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@contextmanager
def temporary_cluster() -> Iterator[Cluster]:
    """Start a cluster in a temporary directory; stop it and delete everything on exit."""
    bindir = server_bin()
    if bindir is None:
        raise RuntimeError(missing_reason())
    prefix = _run_as()
    user = prefix[2] if prefix else pwd.getpwuid(os.geteuid()).pw_name
    root = Path(tempfile.mkdtemp(prefix="dprelease-pg-"))
    data = root / "data"
    if prefix:
        shutil.chown(root, user)
    port = _free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8"],
        **quiet,  # type: ignore[call-overload]
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "60",
         "-l", str(root / "log"), "start"],
        **quiet,  # type: ignore[call-overload]
    )  # fmt: skip
    try:
        yield Cluster(port, user)
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
