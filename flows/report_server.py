"""Release reports over HTTP, so that the Prefect UI can link them.

Browsers refuse ``file://`` links on pages served over ``http://``, so the ``release-<name>``
artifact links a report at an HTTP address instead. ``dprelease serve`` runs this server in
a thread of its own process: stdlib ``http.server``, bound to 127.0.0.1, read-only (GET and
HEAD), serving only the home's release reports (``reports/<name>_v<N>.html``, built from DP
outputs only), an index of them, and the Great Expectations Data Docs the reports link
(``reports/data-docs/<run_id>/...``: static pages GX rendered from synthetic rows and noisy
measurements only). Any other path, a traversal included, is a 404 without touching the file
system beyond those folders; operator-only input reports are never served.

The address the artifacts link is ``$DPRELEASE_REPORTS_URL`` if set (e.g. a tunnel or proxy
in front of the server), else the running server's own ``http://127.0.0.1:<port>``. A
running server records itself in ``<home>/report-server.json``, so that runs from the
command line link it too while it runs; with no server, artifacts say how to open the
report instead (``dprelease report NAME --open``). Each home keeps its port across
restarts when it is free, so links in older artifacts keep working.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from warehouse.paths import DATA_DOCS

REPORTS_URL_ENV = "DPRELEASE_REPORTS_URL"
REPORTS_PORT_ENV = "DPRELEASE_REPORTS_PORT"
SERVER_NAME = "dprelease-reports"
RECORD_NAME = "report-server.json"
HOST = "127.0.0.1"
HOME_HEADER = "X-Dprelease-Home"
REPORT_FILE = re.compile(r"^(?P<name>[a-z0-9_]+)_v(?P<version>[0-9]+)\.html$")
SECURITY_HEADERS = {
    # The report is self-contained: inline styles and data: images, nothing else.
    "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
# GX's Data Docs pages load Bootstrap, jQuery, Vega and fonts from public CDNs and run inline
# scripts; nothing on them is private, so those are allowed there (and only there).
DATA_DOCS_HEADERS = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' https:; "
        "style-src 'self' 'unsafe-inline' https:; img-src 'self' data: https:; "
        "font-src 'self' data: https:; connect-src 'self' https:"
    ),
}
DATA_DOCS_SUFFIXES = {".html", ".css", ".js", ".png", ".gif", ".svg", ".ico", ".otf", ".ttf"}


def report_files(reports: Path) -> list[Path]:
    """The release reports in ``reports``, newest version of each release first."""
    if not reports.is_dir():
        return []
    found = [p for p in reports.iterdir() if REPORT_FILE.match(p.name) and _inside(p, reports)]
    return sorted(found, key=_sort_key)


def _inside(path: Path, reports: Path) -> bool:
    """Whether ``path`` is a regular file directly in ``reports`` (a symlink out is not)."""
    try:
        resolved = path.resolve(strict=True)
    except OSError:
        return False
    return resolved.parent == reports.resolve() and resolved.is_file()


def _sort_key(path: Path) -> tuple[str, int]:
    match = REPORT_FILE.match(path.name)
    assert match is not None
    return match["name"], -int(match["version"])


def report_for_path(reports: Path, url_path: str) -> Path | None:
    """The report file a request path names, or None (anything else, traversal included).

    Only ``/<name>_v<N>.html``, after percent-decoding, names a file: the name cannot hold a
    slash or a dot before its suffix, so it cannot leave ``reports``; a symlink that points
    elsewhere is refused too.
    """
    path = unquote(urlsplit(url_path).path)
    if not path.startswith("/") or not REPORT_FILE.match(path[1:]):
        return None
    candidate = reports / path[1:]
    return candidate.resolve() if _inside(candidate, reports) else None


def data_docs_file(reports: Path, url_path: str) -> Path | None:
    """The Data Docs file a request path names (``/data-docs/<run_id>/<path>``), or None.

    Only a regular file of a served kind (pages, styles, images, fonts) inside
    ``reports/data-docs`` after resolving every link and ``..``; a folder means its
    ``index.html``."""
    path = unquote(urlsplit(url_path).path)
    prefix = f"/{DATA_DOCS}/"
    if not path.startswith(prefix) or "\x00" in path:
        return None
    root = (reports / DATA_DOCS).resolve()
    try:
        candidate = (root / path[len(prefix) :]).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if candidate.is_dir():
        candidate = candidate / "index.html"
    if root not in candidate.parents or not candidate.is_file():
        return None
    return candidate if candidate.suffix.lower() in DATA_DOCS_SUFFIXES else None


def index_page(reports: Path) -> str:
    """A plain list of the reports served, newest version of each release first."""
    items = "".join(
        f'<li><a href="/{escape(p.name)}">{escape(p.stem)}</a></li>' for p in report_files(reports)
    )
    body = f"<ul>{items}</ul>" if items else "<p>No release report has been written yet.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Release reports</title></head><body><h1>Release reports</h1>{body}</body></html>"
    )


class ReportHandler(BaseHTTPRequestHandler):
    """GET/HEAD of ``/`` (the index), ``/<name>_v<N>.html`` and ``/data-docs/...``;
    everything else is refused."""

    server_version = SERVER_NAME
    sys_version = ""
    reports: Path  # set on the subclass made by :func:`handler_for`

    def do_GET(self) -> None:  # the name http.server dispatches to
        """Send the index or a report; 404 for anything else."""
        self._respond(head_only=False)

    def do_HEAD(self) -> None:
        """As GET, without the body."""
        self._respond(head_only=True)

    def _respond(self, *, head_only: bool) -> None:
        content_type, headers = "text/html; charset=utf-8", SECURITY_HEADERS
        if urlsplit(self.path).path == "/":
            body = index_page(self.reports).encode("utf-8")
        elif (docs := data_docs_file(self.reports, self.path)) is not None:
            body = docs.read_bytes()
            content_type = mimetypes.guess_type(docs.name)[0] or "application/octet-stream"
            if content_type.startswith("text/"):
                content_type += "; charset=utf-8"
            headers = DATA_DOCS_HEADERS
        else:
            report = report_for_path(self.reports, self.path)
            if report is None:
                self.send_error(HTTPStatus.NOT_FOUND, "no such report")
                return
            body = report.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header(HOME_HEADER, home_id(self.reports.parent))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # the base class names it
        """Quiet: request lines would only repeat report names into the serve log."""


def home_id(home: Path) -> str:
    """A short, stable id of a home (not its path), sent with every answer, so that a
    server of another home that took this one's old port is not taken for this home's."""
    return hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:16]


def handler_for(reports: Path) -> type[ReportHandler]:
    """A handler class bound to one reports directory."""
    return type("BoundReportHandler", (ReportHandler,), {"reports": reports.resolve()})


@dataclass(frozen=True)
class ServerRecord:
    """What a running report server writes to ``<home>/report-server.json``."""

    pid: int
    port: int
    url: str


def record_path(home: Path) -> Path:
    """Where a home's running report server records itself."""
    return home / RECORD_NAME


def read_record(home: Path) -> ServerRecord | None:
    """The recorded server of ``home``, or None (none, or an unreadable record)."""
    try:
        data = json.loads(record_path(home).read_text())
        return ServerRecord(int(data["pid"]), int(data["port"]), str(data["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def answers(url: str, home: Path, timeout: float = 1.0) -> bool:
    """Whether ``home``'s report server answers at ``url``."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/", timeout=timeout) as response:
            return bool(response.headers.get(HOME_HEADER) == home_id(home))
    except OSError:
        return False


def serving_url(home: Path) -> str | None:
    """The address reports of ``home`` are served at now, or None if nothing serves them:
    ``$DPRELEASE_REPORTS_URL`` if set, else the home's recorded server if it answers."""
    configured = os.environ.get(REPORTS_URL_ENV, "").strip()
    if configured:
        return configured.rstrip("/")
    record = read_record(home)
    if record is None or not answers(f"http://{HOST}:{record.port}", home):
        return None
    return record.url


def report_url(base: str, report: Path) -> str:
    """The address of ``report`` under a server's base address."""
    return f"{base.rstrip('/')}/{report.name}"


def _bind(reports: Path, port: int | None, home: Path) -> ThreadingHTTPServer:
    """A server on ``port``; without one, the home's last port if free, else any free one."""
    handler = handler_for(reports)
    if port is not None:
        return ThreadingHTTPServer((HOST, port), handler)
    previous = read_record(home)
    if previous is not None:
        try:
            return ThreadingHTTPServer((HOST, previous.port), handler)
        except OSError:  # taken (by another process, or a server of this home still up)
            pass
    return ThreadingHTTPServer((HOST, 0), handler)


@contextmanager
def reports_served(home: Path, port: int | None = None) -> Iterator[str]:
    """Serve ``home``'s reports in a daemon thread while the block runs; yields the address
    artifacts should link (``$DPRELEASE_REPORTS_URL`` if set, else the server's own).

    ``port`` defaults to ``$DPRELEASE_REPORTS_PORT``, else the home's previous port when
    free, else a free one. The record file is removed when the block ends.
    """
    reports = home / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    if port is None and os.environ.get(REPORTS_PORT_ENV, "").strip():
        port = int(os.environ[REPORTS_PORT_ENV])
    server = _bind(reports, port, home)
    bound = int(server.server_address[1])
    own = f"http://{HOST}:{bound}"
    url = os.environ.get(REPORTS_URL_ENV, "").strip().rstrip("/") or own
    record = record_path(home)
    partial = record.with_suffix(".json.partial")
    partial.write_text(json.dumps({"pid": os.getpid(), "port": bound, "url": url}))
    partial.replace(record)
    thread = threading.Thread(target=server.serve_forever, name=SERVER_NAME, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        if read_record(home) == ServerRecord(os.getpid(), bound, url):
            record.unlink(missing_ok=True)
