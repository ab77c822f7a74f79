"""Fixtures for the status page's browser tests: the real `ridgeline demo` (POS simulator, a
store per POS dialect, the server with its in-process worker) as a subprocess, one per module,
and Debian's Chromium driven by Playwright. Playwright never downloads a browser here."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from ridgeline.config import Environment, Settings
from ridgeline.db.engine import Database
from tests.conftest import empty_all_tables
from tests.net import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_READY_TIMEOUT_S = 180.0
# Environment of the demo server: components judged every second (the default is 15 s).
DEMO_ENV = {
    "RIDGELINE_ENV": "test",
    "RIDGELINE_LOG_FORMAT": "json",
    "RIDGELINE_STATUS_EVALUATE_INTERVAL_S": "1",
    "RIDGELINE_JOB_POLL_INTERVAL_S": "0.2",
    # The fleet test sets up 496 stores through the API at full speed; every other budget keeps
    # its default, so the console is driven under the limits a deployment has.
    "RIDGELINE_API_RATE_LIMIT_OPERATOR_WRITE": "100000/60s burst 10000",
}


@dataclass
class Demo:
    base_url: str
    info: dict[str, Any]
    settings: Settings
    log_path: Path

    def store(self, provider: str) -> dict[str, Any]:
        return next(s for s in self.info["stores"] if s["pos_provider"] == provider)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def demo(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`ridgeline demo` on free ports against the test database, until the module ends."""
    workdir = tmp_path_factory.mktemp("demo")
    port, simulator_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RIDGELINE_") or key.startswith("RIDGELINE_TEST")
    }
    env.update(
        DEMO_ENV,
        RIDGELINE_DATABASE_URL=database_url,
        RIDGELINE_HOST="127.0.0.1",
        RIDGELINE_PORT=str(port),
        RIDGELINE_SIMULATOR_PORT=str(simulator_port),
    )
    log_path = workdir / "demo.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "ridgeline", "demo", "--products", "20"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + DEMO_READY_TIMEOUT_S
            while True:
                assert process.poll() is None, "ridgeline demo exited:\n" + log_path.read_text()
                try:
                    if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "demo not ready:\n" + log_path.read_text()
                time.sleep(0.2)
            info = json.loads((workdir / "var" / "demo.json").read_text())
            settings = Settings(env=Environment.TEST, database_url=database_url)
            yield Demo(base_url, info, settings, log_path)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            asyncio.run(_empty(database_url))
            keep = os.environ.get("RIDGELINE_KEEP_DEMO_LOG")
            if keep:  # for a look at what the demo did (the tmp dirs are removed later)
                Path(keep).write_bytes(log_path.read_bytes())


async def _empty(database_url: str) -> None:
    database = Database(database_url)
    try:
        await empty_all_tables(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make install-browser` installs it")
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (its own context) in a zone other than UTC, so local times show."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="America/Denver", locale="en-US"
    )
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def create_user(
    demo: Demo, email: str, password: str, role: str, *, organization_id: str | None = None
) -> dict[str, str]:
    """An operator made with `ridgeline users create` against the demo's database, as support
    would; its email and password."""
    env = {
        **os.environ,
        "RIDGELINE_DATABASE_URL": demo.settings.database_url,
        "RIDGELINE_ENV": "test",
    }
    command = [sys.executable, "-m", "ridgeline", "users", "create", "--email", email]
    command += ["--role", role, "--password", password]
    if organization_id is not None:
        command += ["--organization", organization_id]
    created = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    assert created.returncode == 0, created.stderr.decode()
    return {"email": email, "password": password}


def sign_in_to_console(page: Page, demo: Demo, email: str, password: str) -> None:
    """Signs in through the console's form and waits for the signed-in shell."""
    page.goto(demo.base_url + "/dashboard")
    expect(page.locator("#sign-in-title")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#account-who")).not_to_be_empty()
    # The first view rendered (the router marks it busy while it renders): a test that clicks
    # or navigates now never races it.
    expect(page.locator("#view")).to_have_attribute("aria-busy", "false")


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
