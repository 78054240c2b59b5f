"""Async wrappers (transport errors mapped once) and revocation shapes / classification."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from pydantic import SecretStr

from gateway.providers.dingtalk.oauth import DINGTALK_OAUTH
from gateway.providers.discord.oauth import DISCORD_OAUTH
from gateway.providers.lark.oauth import LARK_OAUTH
from gateway.providers.oauth import (
    OAuthSpec,
    RevocationOutcome,
    TokenEndpointUnavailable,
    build_revocation_request,
    classify_revocation_response,
    custom_spec,
    exchange_code,
    refresh,
    revoke,
)
from gateway.providers.slack.oauth import SLACK_OAUTH
from tests.providers.oauth.samples import DISCORD_SUCCESS, NOW

DISCORD_TOKEN = "https://discord.com/api/oauth2/token"
REDIRECT = "https://gw.example.com/oauth/discord/callback"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


async def test_exchange_code_sends_through_the_client_and_parses(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    route = respx_mock.post(DISCORD_TOKEN).respond(200, json=DISCORD_SUCCESS)
    tokens = await exchange_code(
        client,
        DISCORD_OAUTH,
        client_id="cid",
        client_secret=SecretStr("sec"),
        code="the-code",
        redirect_uri=REDIRECT,
        now=NOW,
    )
    assert tokens.refresh_token == SecretStr(DISCORD_SUCCESS["refresh_token"])
    sent = route.calls.last.request
    assert dict(parse_qsl(sent.content.decode())) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT,
    }


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectTimeout("timed out"),
        httpx.ReadTimeout("timed out"),
        httpx.ConnectError("refused"),
        httpx.RemoteProtocolError("peer closed"),
    ],
)
async def test_transport_failures_become_unavailable(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient, error: Exception
) -> None:
    respx_mock.post(DISCORD_TOKEN).mock(side_effect=error)
    with pytest.raises(TokenEndpointUnavailable) as caught:
        await refresh(
            client,
            DISCORD_OAUTH,
            client_id="cid",
            client_secret="sec",
            refresh_token=SecretStr("refresh-value-xyz"),
        )
    assert type(error).__name__ in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # the httpx error (and its URL) is not chained
    assert "refresh-value-xyz" not in repr(caught.value)


async def test_503_from_the_token_endpoint_is_unavailable(
    respx_mock: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    respx_mock.post(DISCORD_TOKEN).respond(503, text="busy", headers={"Retry-After": "12"})
    with pytest.raises(TokenEndpointUnavailable) as caught:
        await refresh(client, DISCORD_OAUTH, client_id="c", client_secret="s", refresh_token="r")
    assert caught.value.retry_after == 12


# ------------------------------------------------------------------ revocation shapes


def test_discord_revocation_is_rfc7009_form_with_basic_auth() -> None:
    request = build_revocation_request(
        DISCORD_OAUTH,
        client_id="cid",
        client_secret="sec",
        token=SecretStr("tok"),
        token_type_hint="refresh_token",
    )
    assert request is not None
    assert str(request.url) == "https://discord.com/api/oauth2/token/revoke"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"cid:sec").decode()
    assert dict(parse_qsl(request.content.decode())) == {
        "token": "tok",
        "token_type_hint": "refresh_token",
    }


def test_client_secret_post_revocation_puts_credentials_in_the_body() -> None:
    spec = custom_spec(
        authorization_url="https://i.example/a",
        token_url="https://i.example/t",
        revocation_url="https://i.example/revoke",
        token_auth_method="client_secret_post",
    )
    request = build_revocation_request(spec, client_id="cid", client_secret="sec", token="tok")
    assert request is not None
    assert "authorization" not in request.headers
    assert dict(parse_qsl(request.content.decode())) == {
        "token": "tok",
        "client_id": "cid",
        "client_secret": "sec",
    }


def test_slack_revocation_is_auth_revoke_with_the_bearer_token() -> None:
    request = build_revocation_request(
        SLACK_OAUTH, client_id="cid", client_secret="sec", token=SecretStr("xoxb-1")
    )
    assert request is not None
    assert request.method == "POST"
    assert str(request.url) == "https://slack.com/api/auth.revoke"
    assert request.headers["authorization"] == "Bearer xoxb-1"
    assert b"sec" not in request.content


@pytest.mark.parametrize("spec", [LARK_OAUTH, DINGTALK_OAUTH])
def test_providers_without_revocation_build_nothing(spec: OAuthSpec) -> None:
    assert build_revocation_request(spec, client_id="c", client_secret="s", token="t") is None


# ------------------------------------------------------------------ classification (O8)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, None, RevocationOutcome.REVOKED),
        (200, {}, RevocationOutcome.REVOKED),  # also for an invalid token (RFC 7009 §2.2)
        (503, None, RevocationOutcome.RETRY),
        (500, None, RevocationOutcome.RETRY),
        (429, None, RevocationOutcome.RETRY),
        (400, {"error": "unsupported_token_type"}, RevocationOutcome.FAILED),
        (401, {"error": "invalid_client"}, RevocationOutcome.FAILED),
    ],
)
def test_rfc7009_classification(status: int, body: object, outcome: RevocationOutcome) -> None:
    response = httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    assert classify_revocation_response(response) is outcome


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"ok": True, "revoked": True}, RevocationOutcome.REVOKED),
        (200, {"ok": False, "error": "invalid_auth"}, RevocationOutcome.REVOKED),
        (200, {"ok": False, "error": "token_revoked"}, RevocationOutcome.REVOKED),
        (200, {"ok": False, "error": "ratelimited"}, RevocationOutcome.RETRY),
        (429, {"ok": False, "error": "ratelimited"}, RevocationOutcome.RETRY),
        (503, None, RevocationOutcome.RETRY),
        (200, {"ok": False, "error": "invalid_arg_name"}, RevocationOutcome.FAILED),
    ],
)
def test_slack_classification(status: int, body: object, outcome: RevocationOutcome) -> None:
    response = httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    assert classify_revocation_response(response, "slack") is outcome


async def test_revoke_wrapper(respx_mock: respx.MockRouter, client: httpx.AsyncClient) -> None:
    route = respx_mock.post("https://discord.com/api/oauth2/token/revoke")
    route.side_effect = [httpx.Response(200), httpx.Response(503), httpx.ConnectError("down")]
    kwargs = {"client_id": "c", "client_secret": "s", "token": "t"}
    assert await revoke(client, DISCORD_OAUTH, **kwargs) is RevocationOutcome.REVOKED
    assert await revoke(client, DISCORD_OAUTH, **kwargs) is RevocationOutcome.RETRY
    with pytest.raises(TokenEndpointUnavailable):
        await revoke(client, DISCORD_OAUTH, **kwargs)
    assert await revoke(client, LARK_OAUTH, **kwargs) is RevocationOutcome.UNSUPPORTED
