"""The ``sandbox`` provider module: registry entry, normaliser, reply target, tool, OAuth spec."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gateway.catalogue.service import oauth_spec, provider_base_url, resolve_provider
from gateway.kit.settings import Settings
from gateway.providers.events import NormaliseContext
from gateway.providers.registry import BUILTIN_TOOLS, get_provider
from gateway.providers.reply import EventNotReplyable, reply_target
from gateway.providers.sandbox import PROVIDER
from gateway.providers.sandbox.oauth import parse_sandbox_token_response
from gateway.providers.sandbox.tools import SendMessage
from gateway.providers.tools import (
    ProviderPermanentError,
    ProviderRateLimited,
    ProviderTokenExpired,
    ProviderUnavailable,
    ToolCredentials,
)

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "sandbox"


def _sample(name: str) -> dict[str, Any]:
    return dict(json.loads((SAMPLES / f"{name}.json").read_text()))


def test_registered_like_every_platform() -> None:
    assert get_provider("sandbox") is PROVIDER
    assert PROVIDER.verifier is not None
    assert PROVIDER.oauth is not None
    assert "sandbox.send_message" in BUILTIN_TOOLS
    assert PROVIDER.oauth.pkce is True


def test_message_created_becomes_message_received() -> None:
    event = PROVIDER.normaliser.normalise("message.created", _sample("message"), NormaliseContext())
    assert event.type == "message.received"
    assert event.occurred_at == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    data = event.data
    assert data.conversation is not None
    assert data.conversation.id == "general"
    assert data.sender is not None
    assert (data.sender.id, data.sender.name) == ("u_ada", "Ada")
    assert data.text is not None
    assert data.text.startswith("Hello from the sandbox!")
    assert data.message_id == "sbm_sample_1"
    assert data.mentions == ["u_bob"]
    assert data.is_bot_echo is False


def test_the_apps_own_message_is_flagged_as_an_echo() -> None:
    payload = _sample("message")
    payload["message"]["user"] = {"id": "app_123", "name": "Integration Gateway"}
    event = PROVIDER.normaliser.normalise(None, payload, NormaliseContext(bot_user_id="app_123"))
    assert event.data.is_bot_echo is True


def test_reactions_joins_and_unknown_types() -> None:
    reaction = PROVIDER.normaliser.normalise(None, _sample("reaction"), NormaliseContext())
    assert reaction.type == "reaction.added"
    assert (reaction.data.reaction, reaction.data.message_id) == ("thumbsup", "sbm_sample_1")
    joined = PROVIDER.normaliser.normalise(None, _sample("member_joined"), NormaliseContext())
    assert joined.type == "member.joined"
    assert joined.data.sender is not None
    assert joined.data.sender.id == "u_cleo"
    other = PROVIDER.normaliser.normalise(None, {"type": "channel.archived"}, NormaliseContext())
    assert other.type == "webhook.received"
    broken = PROVIDER.normaliser.normalise(
        None, {"type": "message.created", "message": "oops"}, NormaliseContext()
    )
    assert broken.type == "webhook.received"


def test_reply_goes_to_the_conversation_and_threads_under_the_message() -> None:
    data = {"conversation": {"id": "general", "type": "channel"}, "message_id": "sbm_1"}
    assert reply_target("sandbox", data, {}) == (
        "sandbox.send_message",
        {"conversation": "general", "thread_id": "sbm_1"},
    )
    threaded = data | {"thread_id": "sbm_0"}
    assert reply_target("sandbox", threaded, {})[1]["thread_id"] == "sbm_0"
    with pytest.raises(EventNotReplyable):
        reply_target("sandbox", {"message_id": "sbm_1"}, {})


def test_the_tool_calls_the_api_base_the_connection_came_from() -> None:
    tool = SendMessage()
    creds = ToolCredentials(
        SecretStr("sbx_at_abc"), extra={"api_base": "http://127.0.0.1:9000/sandbox/api"}
    )
    request = tool.build_request({"conversation": "general", "text": "hi"}, creds)
    assert str(request.url) == "http://127.0.0.1:9000/sandbox/api/messages"
    assert request.headers["authorization"] == "Bearer sbx_at_abc"
    assert json.loads(request.content) == {"conversation": "general", "text": "hi"}


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, {"code": "token_expired"}, ProviderTokenExpired),
        (403, {"code": "insufficient_scope"}, ProviderPermanentError),
        (422, {"code": "validation_failed"}, ProviderPermanentError),
        (429, {"code": "rate_limited"}, ProviderRateLimited),
        (503, {"code": "database_unavailable"}, ProviderUnavailable),
    ],
)
def test_the_tool_classifies_sandbox_errors(
    status: int, body: dict[str, str], error: type[Exception]
) -> None:
    response = httpx.Response(status, json=body, headers={"Retry-After": "2"})
    with pytest.raises(error) as raised:
        SendMessage().parse_response(response, response.content)
    if isinstance(raised.value, ProviderPermanentError):
        assert raised.value.platform_code == body["code"]


def test_token_response_yields_workspace_bot_user_and_api_base() -> None:
    request = httpx.Request("POST", "http://127.0.0.1:8123/sandbox/oauth/token")
    body = {
        "access_token": "sbx_at_1",
        "refresh_token": "sbx_rt_1",
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "messages:read messages:write",
        "workspace": {"id": "ten_1", "name": "default"},
        "bot_user_id": "app_1",
    }
    tokens = parse_sandbox_token_response(
        httpx.Response(200, json=body, request=request), now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert tokens.scopes == ("messages:read", "messages:write")
    assert tokens.account == {
        "workspace_id": "ten_1",
        "workspace_name": "default",
        "bot_user_id": "app_1",
        "api_base": "http://127.0.0.1:8123/sandbox/api",
    }


async def test_the_sandbox_is_served_by_this_gateway_unless_overridden() -> None:
    settings = Settings(public_base_url="https://gw.example.com")
    assert provider_base_url(settings, "sandbox") == "https://gw.example.com"
    overridden = Settings(provider_base_urls={"sandbox": "http://127.0.0.1:9"})
    assert provider_base_url(overridden, "sandbox") == "http://127.0.0.1:9"
    provider = await resolve_provider(None, "ten_x", "sandbox")  # type: ignore[arg-type]
    spec = oauth_spec(settings, provider)
    assert spec.authorization_url == "https://gw.example.com/sandbox/oauth/authorize"
    assert spec.token_url == "https://gw.example.com/sandbox/oauth/token"


def test_endpoint_config_generates_a_secret_when_none_is_given() -> None:
    verifier = PROVIDER.verifier
    assert verifier is not None
    first, second = verifier.parse_config({}), verifier.parse_config({})
    secret = first.secret.get_secret_value()  # type: ignore[attr-defined]
    assert secret.startswith("whsec_")
    assert secret != second.secret.get_secret_value()  # type: ignore[attr-defined]
    assert "secret" in verifier.secret_fields
