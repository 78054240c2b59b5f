"""One description per verifier of how to build a valid delivery, for the shared contract tests.

Each :class:`Case` knows its verifier, how to make a config from key material (current,
previous = rotated-out, and an empty secret), how to sign a plaintext event body at a given
time, which headers/query parameters carry the authentication, and what the event should yield.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, SecretStr

from gateway.providers.dingtalk.webhook import VERIFIER as DINGTALK
from gateway.providers.dingtalk.webhook import DingTalkWebhookConfig
from gateway.providers.discord.webhook import VERIFIER as DISCORD
from gateway.providers.discord.webhook import DiscordWebhookConfig
from gateway.providers.generic.webhook import VERIFIER as GENERIC
from gateway.providers.generic.webhook import GenericWebhookConfig
from gateway.providers.github.webhook import VERIFIER as GITHUB
from gateway.providers.github.webhook import GitHubWebhookConfig
from gateway.providers.lark.webhook import VERIFIER as LARK
from gateway.providers.lark.webhook import LarkWebhookConfig
from gateway.providers.slack.webhook import VERIFIER as SLACK
from gateway.providers.slack.webhook import SlackWebhookConfig
from gateway.providers.standard.webhook import VERIFIER as STANDARD
from gateway.providers.standard.webhook import StandardWebhookConfig
from gateway.providers.telegram.webhook import VERIFIER as TELEGRAM
from gateway.providers.telegram.webhook import TelegramWebhookConfig
from gateway.providers.webhooks import SIGNATURE_MISSING, TOKEN_INVALID, WebhookVerifier
from gateway.providers.wecom.webhook import VERIFIER as WECOM
from gateway.providers.wecom.webhook import WeComWebhookConfig
from tests.providers.webhooks import signing
from tests.providers.webhooks.signing import SignedDelivery, json_bytes

NOW = 1_700_000_000
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
OTHER_SEED = bytes(range(32))
OTHER_AES_KEY = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")

Material = Any
Sign = Callable[[Material, bytes, int], SignedDelivery]


@dataclass(frozen=True)
class Case:
    """How to exercise one verifier (see module docstring)."""

    name: str
    verifier: WebhookVerifier[Any]
    make_config: Callable[[Material], BaseModel]
    sign: Sign  # (material, plaintext body, unix seconds) -> delivery
    current: Material
    previous: Material
    empty_config: BaseModel
    event: dict[str, Any]
    expected_id: str | None  # "<digest>" = sha256 of the raw body
    expected_type: str | None
    tolerance: float | None = None  # seconds; None = nothing signed carries a timestamp
    auth_headers: tuple[str, ...] = ()
    auth_query: tuple[str, ...] = ()
    missing_code: str = SIGNATURE_MISSING
    body_authenticated: bool = True
    token_in_body: bool = False  # Lark: the verification token is checked inside the payload
    signature_header: str | None = None
    signature_query: str | None = None
    signature_prefix: str = ""
    signature_encoding: str = "hex"  # or "base64", "token"
    empty_material: Material | None = None  # signs the empty-secret delivery (else current)

    def __str__(self) -> str:
        return self.name

    @property
    def config(self) -> BaseModel:
        return self.make_config(self.current)

    @property
    def previous_config(self) -> BaseModel:
        return self.make_config(self.previous)


def noncanonical_json(document: Any) -> bytes:
    """Same data, different bytes: reversed key order, extra spaces, ``\\uXXXX`` escapes."""

    def reorder(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: reorder(value[key]) for key in reversed(list(value))}
        if isinstance(value, list):
            return [reorder(item) for item in value]
        return value

    return json.dumps(reorder(document), separators=(" , ", " :  "), ensure_ascii=True).encode()


# --- per-provider signing adapters ---------------------------------------------------------


def _slack(secret: str, body: bytes, ts: int) -> SignedDelivery:
    return signing.sign_slack(secret, body, ts)


def _discord(seed: bytes, body: bytes, ts: int) -> SignedDelivery:
    return signing.sign_discord(seed, body, str(ts))


def _telegram(token: str, body: bytes, ts: int) -> SignedDelivery:
    return signing.telegram_delivery(token, body)


def _lark(key: str, body: bytes, ts: int) -> SignedDelivery:
    return signing.lark_encrypted_delivery(key, body, ts)


def _lark_plain(token: str, body: bytes, ts: int) -> SignedDelivery:
    return SignedDelivery(body=body, headers={"Content-Type": "application/json"})


def _dingtalk(material: tuple[str, str, str], body: bytes, ts: int) -> SignedDelivery:
    token, aes_key, app_key = material
    return signing.encrypt_dingtalk(token, aes_key, app_key, body, ts * 1000)


def _dingtalk_robot(secret: str, body: bytes, ts: int) -> SignedDelivery:
    return signing.sign_dingtalk_robot(secret, body, ts * 1000)


def _wecom(material: tuple[str, str, str], body: bytes, ts: int) -> SignedDelivery:
    token, aes_key, corp_id = material
    return signing.encrypt_wecom(token, aes_key, corp_id, body, ts, mode="json")


def _github(secret: str, body: bytes, ts: int) -> SignedDelivery:
    return signing.sign_github(secret, body, event="push", delivery="72d3162e-cc78-11e3-81ab")


def _standard(secret: str, body: bytes, ts: int) -> SignedDelivery:
    return signing.sign_standard(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)


def _generic(secret: str, body: bytes, ts: int) -> SignedDelivery:
    return signing.sign_generic(
        secret,
        body,
        signature_header="X-Signature",
        prefix="sha256=",
        timestamp_header="X-Timestamp",
        timestamp=ts,
    )


def _generic_config(secret: str) -> GenericWebhookConfig:
    return GenericWebhookConfig(
        secret=SecretStr(secret),
        signature_header="X-Signature",
        prefix="sha256=",
        timestamp_header="X-Timestamp",
        event_id_path="id",
        event_type_path="type",
    )


LARK_TOKEN = "vtok123"
DINGTALK_CURRENT = ("mryue", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "ding6ccabc44d2c8d38b")
DINGTALK_PREVIOUS = ("oldtoken", OTHER_AES_KEY, "ding6ccabc44d2c8d38b")
WECOM_CURRENT = (
    "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "ww1436e0e65a779aee",
)
WECOM_PREVIOUS = ("oldtoken", OTHER_AES_KEY, "ww1436e0e65a779aee")

CASES: tuple[Case, ...] = (
    Case(
        name="slack",
        verifier=SLACK,
        make_config=lambda s: SlackWebhookConfig(signing_secret=SecretStr(s)),
        sign=_slack,
        current="8f742231b10e8888abcd99yyyzzz85a5",
        previous="previous-signing-secret",
        empty_config=SlackWebhookConfig.model_construct(signing_secret=SecretStr("")),
        empty_material="",
        event={
            "token": "x",
            "team_id": "T1",
            "api_app_id": "A1",
            "event": {"type": "message", "text": "héllo", "channel": "C1", "ts": "1.2"},
            "type": "event_callback",
            "event_id": "Ev0PV52K21",
            "event_time": NOW,
        },
        expected_id="Ev0PV52K21",
        expected_type="message",
        tolerance=300,
        auth_headers=("x-slack-request-timestamp", "x-slack-signature"),
        signature_header="x-slack-signature",
        signature_prefix="v0=",
    ),
    Case(
        name="discord",
        verifier=DISCORD,
        make_config=lambda seed: DiscordWebhookConfig(public_key=signing.discord_public_key(seed)),
        sign=_discord,
        current=RFC8032_SEED,
        previous=OTHER_SEED,
        empty_config=DiscordWebhookConfig.model_construct(public_key=""),
        event={
            "version": 1,
            "application_id": "1234567890",
            "type": 1,
            "event": {
                "type": "APPLICATION_AUTHORIZED",
                "timestamp": "2024-10-18T14:42:53.064834",
                "data": {"user": {"id": "42", "username": "José"}},
            },
        },
        expected_id="<digest>",
        expected_type="APPLICATION_AUTHORIZED",
        tolerance=300,
        auth_headers=("x-signature-ed25519", "x-signature-timestamp"),
        signature_header="x-signature-ed25519",
    ),
    Case(
        name="telegram",
        verifier=TELEGRAM,
        make_config=lambda t: TelegramWebhookConfig(secret_token=SecretStr(t)),
        sign=_telegram,
        current="tg-Secret_1",
        previous="tg-previous",
        empty_config=TelegramWebhookConfig.model_construct(secret_token=SecretStr("")),
        empty_material="",
        event={
            "update_id": 10000,
            "message": {"message_id": 1, "text": "héllo", "chat": {"id": 7, "type": "private"}},
        },
        expected_id="10000",
        expected_type="message",
        auth_headers=("x-telegram-bot-api-secret-token",),
        missing_code=TOKEN_INVALID,
        body_authenticated=False,
        signature_header="x-telegram-bot-api-secret-token",
        signature_encoding="token",
    ),
    Case(
        name="lark",
        verifier=LARK,
        make_config=lambda k: LarkWebhookConfig(
            verification_token=SecretStr(LARK_TOKEN), encrypt_key=SecretStr(k)
        ),
        sign=_lark,
        current="test key",
        previous="previous encrypt key",
        empty_config=LarkWebhookConfig.model_construct(
            verification_token=SecretStr(""), encrypt_key=SecretStr("")
        ),
        event={
            "schema": "2.0",
            "header": {
                "event_id": "5e3702a84e847582be8db7fb73283c02",
                "event_type": "im.message.receive_v1",
                "create_time": "1608725989000",
                "token": LARK_TOKEN,
                "app_id": "cli_a1",
                "tenant_key": "t1",
            },
            "event": {"message": {"message_id": "om_1", "content": '{"text":"héllo"}'}},
        },
        expected_id="5e3702a84e847582be8db7fb73283c02",
        expected_type="im.message.receive_v1",
        auth_headers=("x-lark-request-timestamp", "x-lark-request-nonce", "x-lark-signature"),
        signature_header="x-lark-signature",
        token_in_body=True,
    ),
    Case(
        name="lark-token-only",
        verifier=LARK,
        make_config=lambda t: LarkWebhookConfig(verification_token=SecretStr(t)),
        sign=_lark_plain,
        current=LARK_TOKEN,
        previous=LARK_TOKEN,
        empty_config=LarkWebhookConfig.model_construct(verification_token=SecretStr("")),
        event={
            "uuid": "41b5f371157e3d5341b38b20396e77a2",
            "token": LARK_TOKEN,
            "ts": "1550038209.428520",
            "type": "event_callback",
            "event": {"type": "message", "text": "héllo"},
        },
        expected_id="41b5f371157e3d5341b38b20396e77a2",
        expected_type="message",
        missing_code=TOKEN_INVALID,
        body_authenticated=False,
        token_in_body=True,
    ),
    Case(
        name="dingtalk-event",
        verifier=DINGTALK,
        make_config=lambda m: DingTalkWebhookConfig(
            token=SecretStr(m[0]), aes_key=SecretStr(m[1]), app_key=m[2]
        ),
        sign=_dingtalk,
        current=DINGTALK_CURRENT,
        previous=DINGTALK_PREVIOUS,
        empty_config=DingTalkWebhookConfig.model_construct(
            mode="event", token=SecretStr(""), aes_key=SecretStr(""), app_key=""
        ),
        event={
            "EventType": "user_add_org",
            "EventId": "evt-1",
            "UserId": ["u1"],
            "CorpId": "ding1",
            "Name": "José",
        },
        expected_id="evt-1",
        expected_type="user_add_org",
        tolerance=3600,
        auth_query=("signature", "timestamp", "nonce"),
        signature_query="signature",
    ),
    Case(
        name="dingtalk-robot",
        verifier=DINGTALK,
        make_config=lambda s: DingTalkWebhookConfig(mode="robot", app_secret=SecretStr(s)),
        sign=_dingtalk_robot,
        current="SECtest",
        previous="SECprevious",
        empty_config=DingTalkWebhookConfig.model_construct(mode="robot", app_secret=SecretStr("")),
        empty_material="",
        event={
            "msgtype": "text",
            "text": {"content": "héllo"},
            "msgId": "msgABC123",
            "conversationId": "cid1",
            "senderId": "s1",
        },
        expected_id="msgABC123",
        expected_type="text",
        tolerance=3600,
        auth_headers=("timestamp", "sign"),
        body_authenticated=False,
        signature_header="sign",
        signature_encoding="base64",
    ),
    Case(
        name="wecom-json",
        verifier=WECOM,
        make_config=lambda m: WeComWebhookConfig(
            token=SecretStr(m[0]), encoding_aes_key=SecretStr(m[1]), corp_id=m[2]
        ),
        sign=_wecom,
        current=WECOM_CURRENT,
        previous=WECOM_PREVIOUS,
        empty_config=WeComWebhookConfig.model_construct(
            token=SecretStr(""), encoding_aes_key=SecretStr(""), corp_id=""
        ),
        event={
            "ToUserName": "ww1436e0e65a779aee",
            "FromUserName": "José",
            "CreateTime": NOW,
            "MsgType": "text",
            "Content": "héllo",
            "MsgId": "4561255354251345929",
            "AgentID": 218,
        },
        expected_id="4561255354251345929",
        expected_type="text",
        tolerance=3600,
        auth_query=("msg_signature", "timestamp", "nonce"),
        signature_query="msg_signature",
    ),
    Case(
        name="github",
        verifier=GITHUB,
        make_config=lambda s: GitHubWebhookConfig(secret=SecretStr(s)),
        sign=_github,
        current="It's a Secret to Everybody",
        previous="previous secret",
        empty_config=GitHubWebhookConfig.model_construct(secret=SecretStr("")),
        empty_material="",
        event={"zen": "héllo", "hook_id": 1, "repository": {"full_name": "o/r"}},
        expected_id="72d3162e-cc78-11e3-81ab",
        expected_type="push",
        auth_headers=("x-hub-signature-256",),
        signature_header="x-hub-signature-256",
        signature_prefix="sha256=",
    ),
    Case(
        name="standard",
        verifier=STANDARD,
        make_config=lambda s: StandardWebhookConfig(secret=SecretStr(s)),
        sign=_standard,
        current="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        previous="whsec_" + base64.b64encode(b"previous-secret-key-0123").decode(),
        empty_config=StandardWebhookConfig.model_construct(secret=SecretStr("whsec_")),
        empty_material="whsec_",
        event={"type": "invoice.paid", "data": {"id": "in_1", "name": "José"}},
        expected_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        expected_type="invoice.paid",
        tolerance=300,
        auth_headers=("webhook-id", "webhook-timestamp", "webhook-signature"),
        signature_header="webhook-signature",
        signature_prefix="v1,",
        signature_encoding="base64",
    ),
    Case(
        name="generic",
        verifier=GENERIC,
        make_config=_generic_config,
        sign=_generic,
        current="generic-secret",
        previous="previous-generic-secret",
        empty_config=_generic_config("x").model_copy(update={"secret": SecretStr("")}),
        empty_material="",
        event={"id": "evt_1", "type": "order.created", "data": {"name": "José"}},
        expected_id="evt_1",
        expected_type="order.created",
        tolerance=300,
        auth_headers=("x-signature", "x-timestamp"),
        signature_header="x-signature",
        signature_prefix="sha256=",
    ),
)


def deliver(case: Case, body: bytes | None = None, *, at: int = NOW) -> SignedDelivery:
    """A delivery of ``body`` (default: the case's event) signed with the current material."""
    return case.sign(case.current, body if body is not None else json_bytes(case.event), at)
