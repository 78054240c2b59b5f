"""Shared helpers for the receive tests: the nine signing schemes as platforms use them, endpoint
creation through the API, delivery over HTTP, and settling the group-commit batcher."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.kit.runtime import Runtime
from gateway.webhooks.ingest import IngestState, ingest_state
from tests.conftest import JobRunner, TenantCtx
from tests.providers.webhooks import signing
from tests.providers.webhooks.cases import DINGTALK_CURRENT, RFC8032_SEED, WECOM_CURRENT
from tests.providers.webhooks.signing import SignedDelivery, json_bytes

GOLDEN = Path(__file__).resolve().parents[1] / "providers" / "normalise" / "golden"

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TELEGRAM_TOKEN = "tg-Secret_1"
LARK_TOKEN = "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV"  # header.token of the golden Lark payloads
LARK_ENCRYPT_KEY = "lark encrypt key"
DINGTALK_ROBOT_SECRET = "SECtest-robot-secret"
GITHUB_SECRET = "github-webhook-secret"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-key!").decode()
GENERIC_SECRET = "generic-hmac-secret"

Deliver = Callable[[bytes, int], SignedDelivery]


def golden(name: str) -> dict[str, Any]:
    """The ``payload`` of a normaliser golden case (``slack/message_im``)."""
    document: dict[str, Any] = json.loads((GOLDEN / f"{name}.input.json").read_text("utf-8"))
    payload: dict[str, Any] = document["payload"]
    return payload


WECOM_TEXT_XML = (
    "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>"
    "<FromUserName><![CDATA[ChenJiaShun]]></FromUserName><CreateTime>1476422779</CreateTime>"
    "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content>"
    "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
).encode()


@dataclass(frozen=True)
class Scheme:
    """One signing scheme end to end: endpoint config, a realistic event, how it is signed."""

    name: str
    provider: str
    config: dict[str, Any]
    body: bytes
    deliver: Deliver
    expected_type: str
    ack_status: int = 200
    ack_body: bytes | None = b'{"ok":true}'  # None: platform-specific, checked separately
    secret_values: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.name


SCHEMES: tuple[Scheme, ...] = (
    Scheme(
        "slack",
        "slack",
        {"signing_secret": SLACK_SECRET},
        json_bytes(golden("slack/message_im")),
        lambda body, now: signing.sign_slack(SLACK_SECRET, body, now),
        "message.received",
        secret_values=(SLACK_SECRET,),
    ),
    Scheme(
        "discord",
        "discord",
        {"public_key": signing.discord_public_key(RFC8032_SEED)},
        json_bytes(golden("discord/command_in_guild")),
        lambda body, now: signing.sign_discord(RFC8032_SEED, body, str(now)),
        "interaction.received",
        ack_body=b'{"type":5}',  # deferred channel message: the worker follows up
    ),
    Scheme(
        "telegram",
        "telegram",
        {"secret_token": TELEGRAM_TOKEN},
        json_bytes(golden("telegram/message_private")),
        lambda body, now: signing.telegram_delivery(TELEGRAM_TOKEN, body),
        "message.received",
        secret_values=(TELEGRAM_TOKEN,),
    ),
    Scheme(
        "lark",
        "lark",
        {"verification_token": LARK_TOKEN, "encrypt_key": LARK_ENCRYPT_KEY},
        json_bytes(golden("lark/message_receive_group_text")),
        lambda body, now: signing.lark_encrypted_delivery(LARK_ENCRYPT_KEY, body, now),
        "message.received",
        secret_values=(LARK_TOKEN, LARK_ENCRYPT_KEY),
    ),
    Scheme(
        "dingtalk-event",
        "dingtalk",
        dict(zip(("token", "aes_key", "app_key"), DINGTALK_CURRENT, strict=True)),
        json_bytes({**golden("dingtalk/event_user_add_org"), "EventId": "evt-e2e-1"}),
        lambda body, now: signing.encrypt_dingtalk(*DINGTALK_CURRENT, body, now * 1000),
        "webhook.received",  # contact changes are not modelled as a unified type
        ack_body=None,  # the encrypted "success" envelope
        secret_values=DINGTALK_CURRENT[:2],
    ),
    Scheme(
        "dingtalk-robot",
        "dingtalk",
        {"mode": "robot", "app_secret": DINGTALK_ROBOT_SECRET},
        json_bytes({**golden("dingtalk/robot_text_group"), "msgId": "msg-e2e-1"}),
        lambda body, now: signing.sign_dingtalk_robot(DINGTALK_ROBOT_SECRET, body, now * 1000),
        "message.received",
        secret_values=(DINGTALK_ROBOT_SECRET,),
    ),
    Scheme(
        "wecom",
        "wecom",
        dict(zip(("token", "encoding_aes_key", "corp_id"), WECOM_CURRENT, strict=True)),
        WECOM_TEXT_XML,
        lambda body, now: signing.encrypt_wecom(*WECOM_CURRENT, body, now, mode="xml"),
        "message.received",
        ack_body=b"",
        secret_values=WECOM_CURRENT[:2],
    ),
    Scheme(
        "github",
        "github",
        {"secret": GITHUB_SECRET},
        json_bytes(golden("github/issue_comment_created")),
        lambda body, now: signing.sign_github(
            GITHUB_SECRET, body, event="issue_comment", delivery=str(uuid.uuid4())
        ),
        "webhook.received",  # GitHub activity has no unified chat type
        secret_values=(GITHUB_SECRET,),
    ),
    Scheme(
        "standard",
        "standard",
        {"secret": STANDARD_SECRET},
        json_bytes(golden("standard/forwarded_message_received")),
        lambda body, now: signing.sign_standard(
            STANDARD_SECRET, f"msg_{uuid.uuid4().hex}", now, body
        ),
        "message.received",
        secret_values=(STANDARD_SECRET,),
    ),
    Scheme(
        "generic",
        "generic",
        {
            "secret": GENERIC_SECRET,
            "signature_header": "X-Signature",
            "prefix": "sha256=",
            "timestamp_header": "X-Timestamp",
            "event_id_path": "meta.id",
            "event_type_path": "meta.event",
        },
        json_bytes(golden("generic/unified_type_via_event_type_path")),
        lambda body, now: signing.sign_generic(
            GENERIC_SECRET,
            body,
            signature_header="X-Signature",
            prefix="sha256=",
            timestamp_header="X-Timestamp",
            timestamp=now,
        ),
        "message.received",
        secret_values=(GENERIC_SECRET,),
    ),
)

SCHEMES_BY_NAME = {scheme.name: scheme for scheme in SCHEMES}


def now() -> int:
    return int(time.time())


async def create_endpoint(
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    provider: str,
    config: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhook-endpoints",
        json={"provider": provider, "config": config, **extra},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


def receiver_path(endpoint: dict[str, Any], provider: str | None = None) -> str:
    """The path of the endpoint's public URL (optionally addressed with another provider id)."""
    path = httpx.URL(endpoint["url"]).path
    if provider is not None:
        path = f"/webhooks/{provider}/{endpoint['id']}"
    return path


async def send(client: httpx.AsyncClient, path: str, delivery: SignedDelivery) -> httpx.Response:
    """Put a delivery on the wire exactly as built (raw bytes, headers, query)."""
    return await client.request(
        delivery.method,
        path,
        content=delivery.body if delivery.method != "GET" else None,
        headers=delivery.headers,
        params=delivery.query,
    )


def state_of(runtime: Runtime) -> IngestState:
    state = ingest_state(runtime)
    assert state is not None, "the receiver lifespan did not run"
    return state


async def settle(runtime: Runtime, job_runner: JobRunner) -> None:
    """Let batches finish their post-commit enqueue, then run every queued job."""
    await state_of(runtime).wait_idle()
    await job_runner.drain()


async def endpoint_events(
    client: httpx.AsyncClient, tenant: TenantCtx, endpoint_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        "/v1/events", params={"endpoint_id": endpoint_id, "limit": 200}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]
    return events


class FakeClock:
    """The receiver's verification clock, frozen and movable (unix seconds)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
