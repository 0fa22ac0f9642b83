"""End to end through the Prefect UI: server, `dprelease serve`, a run from the API, the page.

Starts ``prefect server`` on a free local port and ``dprelease serve`` against it, triggers
a run of the Adult deployment through the API exactly as the UI's "Run" button does
(``create_flow_run_from_deployment``), waits for it, then opens the flow run's page in
headless Chromium (driven by Playwright, using Debian's ``/usr/bin/chromium``) and checks
that the release artifact is listed and that it links to the HTML report. Screenshots are
saved under ``tests/e2e/output/`` and their paths printed. A run whose epsilon override is
higher than the spec's must end Failed with a message saying why and what to do.

Skipped, with the reason, only where Chromium or Playwright is not installed
(``.ci/run`` installs both).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from warehouse.paths import WarehousePaths
from warehouse.seed import register_adult, seed_adult

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(__file__).resolve().parent / "output"
BIN = Path(sys.executable).parent
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def chromium_path() -> str:
    """Debian's Chromium, or skip the test saying how to get it."""
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[e2e]'; .ci/run does it)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, check: Any, timeout: float, proc: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        try:
            value = check()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what}: not ready after {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process group we started (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Prefect server and `dprelease serve` on a seeded home; logs under tmp_path."""
    chromium = chromium_path()
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    home = WarehousePaths.from_env(tmp_path / "home")
    seed_adult(home.warehouse)
    register_adult(home.warehouse, (4.0, 1e-6))  # the officer's registration (as the demo)
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "DPRELEASE_HOME": str(home.home),
    }
    env.pop("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", None)
    env.pop("PREFECT_API_URL", None)  # set below in the profile, as the README does
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, *argv: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        procs.append(proc)
        return proc

    try:
        # As the README: the profile's API URL serves the UI (which calls it) and `serve`.
        subprocess.run(
            [str(BIN / "prefect"), "config", "set", f"PREFECT_API_URL={api}"],
            env=env,
            check=True,
            capture_output=True,
        )
        server = start(
            "server",
            str(BIN / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        )
        wait_until(
            "prefect server",
            lambda: urllib.request.urlopen(f"{api}/health", timeout=2).status == 200,
            90,
            server,
        )
        serving = start("serve", str(BIN / "dprelease"), "serve")  # home: $DPRELEASE_HOME
        yield {
            "api": api,
            "ui": f"http://127.0.0.1:{port}",
            "home": home,
            "chromium": chromium,
            "serve": serving,
            "logs": tmp_path,
        }
    finally:
        for proc in reversed(procs):
            stop(proc)


async def _deployment(api: str) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}):
        async with get_client() as client:
            return await client.read_deployment_by_name("release/adult")


async def _run(api: str, deployment_id: Any, parameters: dict[str, Any], timeout: float) -> Any:
    """Create a flow run from the deployment as the UI's Run button does, then await it."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}):
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                run = await client.read_flow_run(run.id)
                if run.state is not None and run.state.is_final():
                    return run
                await asyncio.sleep(1)
    raise AssertionError(f"flow run {run.id} did not finish in {timeout:.0f} s")


def _logs(stack: dict[str, Any]) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
        for p in sorted(Path(stack["logs"]).glob("*.log"))
    )


def check_page(page: Any, url: str, report: Path) -> None:
    """The flow run page lists the release artifact, and the artifact links to the report."""
    from playwright.sync_api import expect

    page.goto(url, wait_until="networkidle")
    page.get_by_text("Artifacts", exact=True).first.click()
    card = page.get_by_text("release-adult").first
    expect(card).to_be_visible(timeout=30_000)
    shot = OUTPUT / "flow-run-artifacts.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of the flow run's artifacts: {shot}")

    card.click()
    link = page.locator(f'a[href="{report.resolve().as_uri()}"]').first
    expect(link).to_be_visible(timeout=30_000)
    shot = OUTPUT / "release-artifact.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot of the release artifact: {shot}")


def test_a_run_from_the_ui_publishes_and_its_page_links_the_report(
    stack: dict[str, Any],
) -> None:
    started = time.monotonic()
    api = stack["api"]
    deployment = wait_until(
        "deployment release/adult",
        lambda: asyncio.run(_deployment(api)),
        90,
        stack["serve"],
    )
    schema = deployment.parameter_openapi_schema
    spec_field = schema["properties"]["spec_path"]
    assert spec_field["enum"] == [str(ROOT / "deployments" / "specs" / "adult.yaml")]
    assert "overrides" in schema["properties"]  # the typed override form
    assert deployment.paused is False

    run = asyncio.run(_run(api, deployment.id, {"overrides": {"rows": 4000}}, 150))
    assert run.state.is_completed(), f"{run.state}\n{_logs(stack)}"
    report = stack["home"].reports / "adult_v1.html"
    assert report.exists()

    refused = asyncio.run(_run(api, deployment.id, {"overrides": {"epsilon": 50.0}}, 90))
    assert refused.state.is_failed()
    message = refused.state.message or ""
    assert "higher than the spec's epsilon" in message and "Leave epsilon empty" in message

    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=stack["chromium"], headless=True, args=CHROMIUM_FLAGS[1:]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                check_page(page, f"{stack['ui']}/runs/flow-run/{run.id}", report)
            except Exception:
                page.screenshot(path=str(OUTPUT / "failure.png"), full_page=True)
                (OUTPUT / "failure.txt").write_text(page.inner_text("body"))
                print(f"\nfailure screenshot: {OUTPUT / 'failure.png'}")
                raise
        finally:
            browser.close()

    stop(stack["serve"])  # deployments must stay active when serving stops
    assert asyncio.run(_deployment(api)).paused is False
    assert time.monotonic() - started < 180
