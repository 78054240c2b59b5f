"""A Python SDK generated from the live ``/openapi.json`` with openapi-python-client does a
round trip against the sandbox: create an endpoint, send a sandbox webhook, list events, invoke
``message.reply``, see the reply. And the document itself keeps the rules SDKs rely on."""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.conftest import TenantCtx
from tests.e2e.openapi_rules import operations, violations
from tests.sandbox.live import LiveGateway
from tests.sandbox.support import connect

GENERATOR = "openapi-python-client"
GENERATOR_PIN = "openapi-python-client==0.29.1"
PACKAGE = "gateway_sdk"


def _generator_command() -> list[str]:
    """The generator from PATH, the venv or ``uv tool install``; else run it pinned via uvx."""
    candidates = [
        shutil.which(GENERATOR),
        str(Path(sys.executable).parent / GENERATOR),
        str(Path.home() / ".local" / "bin" / GENERATOR),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return [candidate]
    uvx = shutil.which("uvx") or str(Path.home() / ".local" / "bin" / "uvx")
    assert Path(uvx).is_file(), f"{GENERATOR} is not installed (uv tool install {GENERATOR_PIN})"
    return [uvx, "--from", GENERATOR_PIN, GENERATOR]


@pytest.fixture(scope="module")
def openapi_document(live_gateway: LiveGateway) -> dict[str, Any]:
    answer = httpx.get(f"{live_gateway.base_url}/openapi.json", timeout=10)
    assert answer.status_code == 200
    return dict(answer.json())


@pytest.fixture(scope="module")
def sdk(
    openapi_document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The generated package, imported (generation takes about a second)."""
    work = tmp_path_factory.mktemp("sdk")
    spec = work / "openapi.json"
    spec.write_text(json.dumps(openapi_document))
    config = work / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    started = time.monotonic()
    generated = subprocess.run(
        [
            *_generator_command(),
            "generate",
            "--path",
            str(spec),
            "--config",
            str(config),
            "--meta",
            "none",
            "--output-path",
            str(work / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout  # nothing was skipped
    assert time.monotonic() - started < 120
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_openapi_document_keeps_the_sdk_rules(openapi_document: dict[str, Any]) -> None:
    found = violations(openapi_document)
    assert found == set(), "\n".join(sorted(found))
    ids = [op["operationId"] for _, _, op in operations(openapi_document)]
    assert len(ids) == len(set(ids))
    for name in ("sandbox_simulate", "sandbox_list_messages", "invoke_tool", "list_events"):
        assert name in ids


def _module(sdk: ModuleType, path: str) -> Any:
    return importlib.import_module(f"{sdk.__name__}.{path}")


async def test_generated_sdk_round_trip(
    sdk: ModuleType, live_gateway: LiveGateway, tenant: TenantCtx
) -> None:
    async with httpx.AsyncClient(base_url=live_gateway.base_url, timeout=30) as browser:
        connection_id = await connect(browser, tenant)  # the browser legs: not an SDK call
    models = _module(sdk, "models")
    async with sdk.AuthenticatedClient(
        base_url=live_gateway.base_url, token=tenant.api_key
    ) as client:
        await _round_trip(sdk, models, client, connection_id)
    async with sdk.AuthenticatedClient(
        base_url=live_gateway.base_url, token="sbx_at_nope"
    ) as stranger:
        list_messages = _module(sdk, "api.sandbox.sandbox_list_messages")
        refused = await list_messages.asyncio(client=stranger)
    assert isinstance(refused, models.Problem)  # errors arrive typed
    assert refused.code == "invalid_token"


async def _round_trip(sdk: ModuleType, models: Any, client: Any, connection_id: str) -> None:
    create_endpoint = _module(sdk, "api.webhook_endpoints.create_webhook_endpoint")
    simulate = _module(sdk, "api.sandbox.sandbox_simulate")
    list_events = _module(sdk, "api.events.list_events")
    invoke_tool = _module(sdk, "api.tools.invoke_tool")
    list_messages = _module(sdk, "api.sandbox.sandbox_list_messages")

    endpoint = await create_endpoint.asyncio(
        client=client,
        body=models.WebhookEndpointCreate(
            provider="sandbox",
            config=models.WebhookEndpointCreateConfig.from_dict({}),
            connection_id=connection_id,
        ),
    )
    assert isinstance(endpoint, models.WebhookEndpointOut), endpoint
    sent = await simulate.asyncio(
        client=client,
        body=models.SimulateRequest(
            endpoint_id=endpoint.id, conversation="general", text="Hi from the SDK"
        ),
    )
    assert isinstance(sent, models.SimulateResult), sent
    assert sent.delivered is True

    event = None
    deadline = time.monotonic() + 20
    while event is None and time.monotonic() < deadline:
        page = await list_events.asyncio(client=client, endpoint_id=endpoint.id)
        assert isinstance(page, models.PageEventSummary), page
        event = next(
            (
                e
                for e in page.data
                if e.provider_event_id == sent.webhook_id and e.status == "processed"
            ),
            None,
        )
        if event is None:
            await asyncio.sleep(0.05)
    assert event is not None, "the simulated message was not processed"
    assert sent.event_id == event.id
    assert event.type_ == "message.received"

    result = await invoke_tool.asyncio(
        "message.reply",
        client=client,
        body=models.InvokeRequest(
            parameters=models.InvokeRequestParameters.from_dict(
                {"event_id": event.id, "text": "Hello back from the SDK"}
            )
        ),
    )
    assert isinstance(result, models.InvokeResult), result
    assert result.ok is True

    messages = await list_messages.asyncio(client=client, conversation="general")
    assert isinstance(messages, models.PageSandboxMessageOut), messages
    texts = [(m.sender.kind, m.text) for m in messages.data]
    assert texts[:2] == [("app", "Hello back from the SDK"), ("user", "Hi from the SDK")]
