"""The report server: serves the home's release reports read-only, nothing else.

A real server on a free loopback port, requests with ``http.client`` (which sends the path
as given, so traversal attempts reach the handler unnormalised).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from flows.report_server import (
    REPORTS_URL_ENV,
    read_record,
    record_path,
    report_files,
    report_url,
    reports_served,
    serving_url,
)

REPORT = "<!DOCTYPE html><html><body><p id='summary'>1,000 synthetic rows</p></body></html>"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with two versions of a report, a private file beside them and one outside."""
    monkeypatch.delenv(REPORTS_URL_ENV, raising=False)
    root = tmp_path / "home"
    reports = root / "reports"
    reports.mkdir(parents=True)
    (reports / "adult_v1.html").write_text(REPORT.replace("1,000", "900"))
    (reports / "adult_v2.html").write_text(REPORT)
    (reports / "adult_v3.html.partial").write_text("half written")
    (reports / "notes.txt").write_text("not a report")
    (root / "warehouse.duckdb").write_text("PRIVATE ROWS")
    (tmp_path / "outside_v1.html").write_text("PRIVATE ELSEWHERE")
    (reports / "link_v1.html").symlink_to(tmp_path / "outside_v1.html")
    docs = reports / "data-docs" / "run-1"
    (docs / "static" / "styles").mkdir(parents=True)
    (docs / "index.html").write_text("<html>GX DATA DOCS</html>")
    (docs / "static" / "styles" / "docs.css").write_text("body { color: #222 }")
    (docs / "notes.json").write_text("{}")
    (docs / "escape.html").symlink_to(tmp_path / "outside_v1.html")
    (reports / "run-1_input.json").write_text("PRIVATE COUNTS")
    return root


@pytest.fixture
def served(home: Path) -> Iterator[str]:
    with reports_served(home, port=0) as url:
        yield url


def get(url: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    """One raw request: the path is sent exactly as given."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_serves_a_report_read_only_on_loopback(served: str, home: Path) -> None:
    assert served.startswith("http://127.0.0.1:")
    status, headers, body = get(served, "/adult_v2.html")
    assert status == 200 and body == REPORT
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert get(served, "/adult_v2.html", "HEAD")[:2][0] == 200
    assert get(served, "/adult_v2.html?x=1#top")[2] == REPORT  # query and fragment ignored
    status, _, index = get(served, "/")
    assert status == 200 and index.index("adult_v2") < index.index("adult_v1")  # newest first
    assert "notes" not in index and "partial" not in index and "link_v1" not in index
    for method in ("POST", "PUT", "DELETE"):
        assert get(served, "/adult_v2.html", method)[0] == 501  # read-only


def test_serves_the_data_docs_a_report_links(served: str) -> None:
    status, headers, body = get(served, "/data-docs/run-1/index.html")
    assert status == 200 and body == "<html>GX DATA DOCS</html>"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "https:" in headers["Content-Security-Policy"]  # GX's pages load CDN assets
    assert get(served, "/data-docs/run-1/")[2] == body  # a folder is its index
    status, headers, css = get(served, "/data-docs/run-1/static/styles/docs.css")
    assert status == 200 and headers["Content-Type"] == "text/css; charset=utf-8"
    assert css == "body { color: #222 }"
    assert "default-src 'none'" in get(served, "/adult_v2.html")[1]["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/data-docs/run-1/../../warehouse.duckdb",
        "/data-docs/%2e%2e/%2e%2e/warehouse.duckdb",
        "/data-docs/run-1/escape.html",  # a symlink out of the Data Docs
        "/data-docs/run-1/notes.json",  # not a kind of file Data Docs are made of
        "/data-docs/../run-1_input.json",
        "/data-docs/run-2/index.html",
        "/data-docs",
        "/run-1_input.json",
        "/../warehouse.duckdb",
        "/%2e%2e/warehouse.duckdb",
        "/..%2fwarehouse.duckdb",
        "/reports/../warehouse.duckdb",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/adult_v2.html/../../warehouse.duckdb",
        "/../outside_v1.html",
        "/link_v1.html",  # a symlink out of the reports directory
        "/notes.txt",  # a file in reports/ that is not a report
        "/adult_v3.html.partial",
        "/adult_v3.html",  # a report that does not exist
        "/ADULT_V2.HTML",
        "/adult_v2.htm",
        "/adult",
    ],
)
def test_refuses_traversal_other_files_and_missing_reports(served: str, path: str) -> None:
    status, _, body = get(served, path)
    assert status == 404, path
    assert "PRIVATE" not in body and "not a report" not in body


def test_the_record_tells_other_processes_where_reports_are_served(home: Path) -> None:
    assert serving_url(home) is None  # nothing serves them yet
    with reports_served(home, port=0) as url:
        record = read_record(home)
        assert record is not None and record.pid == os.getpid() and record.url == url
        assert serving_url(home) == url
        port = record.port
    assert not record_path(home).exists()  # removed when serving stops
    assert serving_url(home) is None

    # A stale record (a killed server) is not taken for a running one.
    record_path(home).write_text(json.dumps({"pid": 1, "port": port, "url": url}))
    assert serving_url(home) is None
    # ... and the next server of the home takes the same port again when it is free.
    with reports_served(home) as again:
        assert again == url
        # A server of another home on the recorded port is not this home's.
        other = home.parent / "other"
        record_path(other).parent.mkdir(parents=True, exist_ok=True)
        record_path(other).write_text(json.dumps({"pid": 1, "port": port, "url": url}))
        assert serving_url(other) is None


def test_the_address_is_configurable(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REPORTS_URL_ENV, "https://reports.example.org/dp/")
    assert serving_url(home) == "https://reports.example.org/dp"
    with reports_served(home, port=0) as url:
        assert url == "https://reports.example.org/dp"
    newest = report_files(home / "reports")[0]
    assert newest.name == "adult_v2.html"
    assert report_url(url, newest) == "https://reports.example.org/dp/adult_v2.html"
