"""End to end through the Prefect UI: `dprelease serve`, the run form in a browser, the pages.

``dprelease serve`` runs on a seeded home with no ``PREFECT_API_URL``, so it starts the
home's own local Prefect server (as any first command does). In headless Chromium (driven by
Playwright, using Debian's ``/usr/bin/chromium``) the test opens the ``release/adult``
deployment, clicks "Run" → "Custom run", fills the typed form (rows to generate) and submits
it; the run must publish, its page must list the release artifact with the headline figures,
and the artifact's link must open the HTML report, which ``serve`` serves over HTTP
(screenshots of the report's top and of a 2-way section). A second run, submitted through
the same form with an unknown ``resume_run_id``, must end Failed, and its page must show our
one-paragraph message and no traceback. The form offers no ``home``; the server refuses an
epsilon above the spec's. Screenshots are saved under ``tests/e2e/output/`` and their paths
printed.

Skipped, with the reason, only where Chromium or Playwright is not installed
(``.ci/run`` installs both).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.local_api import ServerFiles, read_record, stop_server
from flows.report_server import read_record as read_report_record
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

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
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
    """`dprelease serve` on a seeded home, and the local Prefect server it starts there."""
    chromium = chromium_path()
    home = WarehousePaths.from_env(tmp_path / "home")
    seed_adult(home.warehouse)
    register_adult(home.warehouse, (4.0, 1e-6))  # the officer's registration (as the demo)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect-client"),  # no profile URL either
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DPRELEASE_HOME": str(home.home),
        }
    )
    env.pop("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", None)
    env.pop("DPRELEASE_REPORTS_URL", None)  # the served reports, at serve's own address
    log = (tmp_path / "serve.log").open("wb")
    serving = subprocess.Popen(
        [str(BIN / "dprelease"), "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        files = ServerFiles.for_home(home.home)
        record = wait_until(
            "the home's local Prefect server",
            lambda: read_record(files) if "Prefect UI" in _read(tmp_path / "serve.log") else None,
            150,
            serving,
        )
        yield {
            "api": record.url,
            "ui": record.ui,
            "home": home,
            "chromium": chromium,
            "serve": serving,
            "logs": tmp_path,
            "server_log": files.log,
        }
    finally:
        stop(serving)
        stop_server(home.home)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


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
    paths = [*sorted(Path(stack["logs"]).glob("*.log")), stack["server_log"]]
    return "\n".join(f"--- {p.name}\n{_read(p)[-3000:]}" for p in paths)


def _wait(api: str, run_id: str, timeout: float) -> dict[str, Any]:
    """The flow run (as the API's JSON) once it is final; plain HTTP, since Playwright's
    sync API keeps an event loop running in this thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{api}/flow_runs/{run_id}", timeout=10) as response:
            run: dict[str, Any] = json.load(response)
        if run["state"] and run["state"]["type"] in FINAL:
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} did not finish in {timeout:.0f} s")


def submit_custom_run(page: Any, ui: str, deployment_id: Any, fill: Any) -> str:
    """Open the deployment, click Run → Custom run, ``fill(page)`` the form, submit it, and
    follow "View run"; returns the new flow run's id."""
    page.goto(f"{ui}/deployments/deployment/{deployment_id}", wait_until="networkidle")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_text("Custom run", exact=True).click()
    page.wait_for_load_state("networkidle")
    fill(page)
    page.get_by_role("button", name="Submit", exact=True).click()
    # The toast's button, exactly (a looser match can hit the deployment's "Runs" tab).
    view = page.get_by_role("button", name="View run", exact=True).last
    view.wait_for(state="visible", timeout=30_000)
    view.click()
    page.wait_for_url(re.compile(r"/runs/flow-run/[0-9a-f-]+"), timeout=30_000)
    found = re.search(r"/runs/flow-run/([0-9a-f-]+)", page.url)
    assert found, page.url
    return found.group(1)


def rows_4000(page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_text("Release spec", exact=True)).to_be_visible(timeout=30_000)
    assert page.get_by_text("home", exact=True).count() == 0  # the form offers no storage
    page.get_by_role("button", name="ReleaseOverrides", exact=True).click()
    expect(page.get_by_text("at most 1 for adult")).to_be_visible()  # the spec's epsilon: max
    page.get_by_role("button", name="int", exact=True).click()
    page.locator("input[type=number]").first.fill("4000")
    shot = OUTPUT / "run-form.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of the run form: {shot}")


def unknown_resume(page: Any) -> None:
    page.get_by_role("button", name="str", exact=True).click()
    page.locator("textarea").first.fill("no-such-run")


def check_refused_page(page: Any, url: str) -> None:
    """The refused run's page shows our message, and no traceback anywhere on it."""
    from playwright.sync_api import expect

    page.goto(url, wait_until="networkidle")
    expect(page.get_by_text("there is no run no-such-run").first).to_be_visible(timeout=30_000)
    text = page.inner_text("body")
    assert "Traceback" not in text and "unexpected exception" not in text, text[-3000:]
    shot = OUTPUT / "refused-run.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot of the refused run: {shot}")


def check_page(page: Any, url: str, report_address: str) -> None:
    """The flow run page lists the release artifact, which carries the headline figures and
    links the report over HTTP."""
    from playwright.sync_api import expect

    page.goto(url, wait_until="networkidle")
    page.get_by_text("Artifacts", exact=True).first.click()
    card = page.get_by_text("release-adult").first
    expect(card).to_be_visible(timeout=30_000)
    shot = OUTPUT / "flow-run-artifacts.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot of the flow run's artifacts: {shot}")

    card.click()
    link = page.locator(f'a[href="{report_address}"]').first
    expect(link).to_be_visible(timeout=30_000)
    body = page.inner_text("body")
    assert "of raw.adult's lifetime cap" in body and "mean TVD" in body, body[-3000:]
    shot = OUTPUT / "release-artifact.png"
    page.screenshot(path=str(shot))  # the viewport: a full-page shot of it renders blank
    print(f"screenshot of the release artifact: {shot}")
    open_report(page, link)


def open_report(page: Any, link: Any) -> None:
    """Click the artifact's report link (a new tab or this one, as the UI renders it): the
    report opens and leads with its summary. Screenshots of its top and a 2-way section."""
    from playwright.sync_api import expect

    if link.get_attribute("target") == "_blank":
        with page.context.expect_page(timeout=30_000) as opened:
            link.click()
        report = opened.value
    else:
        link.click()
        report = page
    report.wait_for_load_state("load")
    summary = report.locator("#summary")
    expect(summary).to_be_visible(timeout=30_000)
    text = summary.inner_text()
    assert "synthetic rows" in text and "lifetime cap" in text and "mean TVD" in text, text
    shot = OUTPUT / "report-top.png"
    report.screenshot(path=str(shot))
    print(f"screenshot of the report's top: {shot}")
    two_way = report.locator("#two-way")
    two_way.scroll_into_view_if_needed()
    shot = OUTPUT / "report-two-way.png"
    report.screenshot(path=str(shot))
    print(f"screenshot of the report's 2-way section: {shot}")
    if report is not page:
        report.close()


def test_runs_from_the_ui_form_publish_or_fail_with_our_message(
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
    assert "home" not in schema["properties"] and "home" not in deployment.parameters
    assert deployment.paused is False
    with pytest.raises(Exception, match=r"(?i)validation|maximum|less than"):
        asyncio.run(_run(api, deployment.id, {"overrides": {"epsilon": 50.0}}, 30))

    from playwright.sync_api import sync_playwright

    OUTPUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=stack["chromium"], headless=True, args=CHROMIUM_FLAGS[1:]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                run_id = submit_custom_run(page, stack["ui"], deployment.id, rows_4000)
                run = _wait(api, run_id, 180)
                assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{_logs(stack)}"
                assert run["parameters"]["overrides"]["rows"] == 4000
                report = stack["home"].reports / "adult_v1.html"
                assert report.exists()
                served = read_report_record(stack["home"].home)
                assert served is not None  # `dprelease serve` serves the home's reports
                address = f"{served.url}/{report.name}"
                check_page(page, f"{stack['ui']}/runs/flow-run/{run_id}", address)

                refused_id = submit_custom_run(page, stack["ui"], deployment.id, unknown_resume)
                refused = _wait(api, refused_id, 90)
                assert refused["state"]["type"] == "FAILED", refused["state"]
                message = refused["state"]["message"] or ""
                assert message.startswith("there is no run no-such-run"), message
                check_refused_page(page, f"{stack['ui']}/runs/flow-run/{refused_id}")
            except Exception:
                page.screenshot(path=str(OUTPUT / "failure.png"), full_page=True)
                (OUTPUT / "failure.txt").write_text(page.inner_text("body"))
                print(f"\nfailure screenshot: {OUTPUT / 'failure.png'}")
                raise
        finally:
            browser.close()

    stop(stack["serve"])  # deployments must stay active when serving stops
    assert asyncio.run(_deployment(api)).paused is False
    assert time.monotonic() - started < 240
