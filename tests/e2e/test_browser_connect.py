"""The connect flow as a person does it: ``gateway serve`` (embedded mode, zero setup), a
connect link from the API, headless Chromium through the gateway's start page, the sandbox's
consent page (Approve), the success page; then the connection through the API. The denied
flow ends on the failure page. Screenshots go to ``test-artifacts/`` (not committed).

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` package; without
either the test fails: a skipped browser test proves nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.sandbox.live import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class Served:
    base_url: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``uv run gateway serve`` as the quickstart runs it: a fresh data dir, nothing else but
    the public URL (so the OAuth redirect comes back to this port)."""
    data = tmp_path_factory.mktemp("browser")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DATA_DIR=str(data), GATEWAY_PUBLIC_BASE_URL=base_url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--port", str(port)],
        env=env,
        cwd=data,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        api_key = ""
        deadline = time.monotonic() + 60
        while not api_key and time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline().decode().strip()
            if line.startswith("gwk_"):
                api_key = line
        assert api_key, "gateway serve printed no API key"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("gateway serve did not become healthy")
        yield Served(base_url, api_key)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
        proc.stdout.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert CHROMIUM.exists(), "Debian chromium is missing: apt-get install -y chromium"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _open_connect_link(served: Served, browser: Browser) -> Page:
    link = httpx.post(
        f"{served.base_url}/v1/connections/sandbox/authorize",
        json={"label": "browser test"},
        headers=served.headers,
        timeout=10,
    )
    assert link.is_success, link.text
    page = await (await browser.new_context()).new_page()
    await page.goto(link.json()["authorization_url"])
    await expect(page).to_have_title("Authorize access to your sandbox workspace")
    return page


async def test_connect_flow_in_chromium_ends_connected(served: Served, browser: Browser) -> None:
    page = await _open_connect_link(served, browser)
    assert page.url.startswith(f"{served.base_url}/sandbox/oauth/authorize?")
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    await expect(page.get_by_text("messages:write")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "connect-consent.png"), full_page=True)
    await page.get_by_role("button", name="Approve").click()

    await expect(page).to_have_title("Account connected")
    assert page.url.startswith(f"{served.base_url}/oauth/sandbox/callback?")
    shown_id = (await page.locator("code").first.inner_text()).strip()
    await page.screenshot(path=str(ARTIFACTS / "connect-success.png"), full_page=True)
    await page.context.close()

    listed = httpx.get(f"{served.base_url}/v1/connections", headers=served.headers, timeout=10)
    connections = listed.json()["data"]
    assert [(c["id"], c["provider"], c["status"], c["label"]) for c in connections] == [
        (shown_id, "sandbox", "active", "browser test")
    ]
    assert connections[0]["scopes"] == ["messages:read", "messages:write"]


async def test_denying_in_chromium_ends_on_the_failure_page(
    served: Served, browser: Browser
) -> None:
    page = await _open_connect_link(served, browser)
    await page.get_by_role("button", name="Deny").click()
    await expect(page).to_have_title("Account not connected")
    await expect(page.get_by_role("alert")).to_contain_text("declined")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "connect-denied.png"), full_page=True)
    await page.context.close()
