"""Token response parsing per provider (samples from providers.md) and error mapping."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gateway.providers.dingtalk.oauth import DINGTALK_OAUTH
from gateway.providers.discord.oauth import DISCORD_OAUTH
from gateway.providers.lark.oauth import LARK_OAUTH
from gateway.providers.oauth import (
    InvalidClient,
    InvalidGrant,
    OAuthSpec,
    OAuthTokenError,
    TokenEndpointUnavailable,
    TokenRequestRejected,
    TokenResponseInvalid,
    custom_spec,
    parse_rfc6749_token_response,
    parse_token_response,
)
from gateway.providers.slack.oauth import SLACK_OAUTH
from tests.providers.oauth.samples import (
    DINGTALK_SUCCESS,
    DISCORD_SUCCESS,
    LARK_SUCCESS,
    NOW,
    SLACK_ERROR,
    SLACK_SUCCESS,
)

GENERIC = custom_spec(authorization_url="https://i.example/a", token_url="https://i.example/t")


def _response(
    status: int, body: Any = None, *, text: str | None = None, **headers: str
) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def _parse(spec: OAuthSpec, response: httpx.Response) -> Any:
    return parse_token_response(spec, response, now=NOW)


# ------------------------------------------------------------------ Slack


def test_slack_official_success_sample() -> None:
    tokens = _parse(SLACK_OAUTH, _response(200, SLACK_SUCCESS))
    assert tokens.access_token.get_secret_value() == SLACK_SUCCESS["access_token"]
    assert tokens.token_type == "bot"
    assert tokens.scopes == ("commands", "incoming-webhook")
    assert tokens.refresh_token is None
    assert tokens.expires_at is None
    assert tokens.account == {
        "bot_user_id": "U0KRQLJ9H",
        "app_id": "A0KRD7HC3",
        "team_id": "T9TK3CUKW",
        "team_name": "Slack Softball Team",
        "enterprise_id": "E12345678",
        "enterprise_name": "slack-sports",
        "authed_user_id": "U1234",
        "user_scope": "chat:write",
    }
    assert set(tokens.extra_secrets) == {"user_access_token"}
    assert tokens.extra_secrets["user_access_token"].get_secret_value() == "xoxp-1234"


def test_slack_rotation_refresh_response() -> None:
    body = {
        "ok": True,
        "access_token": "xoxe.xoxb-1-new",
        "token_type": "bot",
        "expires_in": 43200,
        "refresh_token": "xoxe-1-new-refresh",
    }
    tokens = _parse(SLACK_OAUTH, _response(200, body))
    assert tokens.expires_at == NOW + timedelta(hours=12)
    assert tokens.refresh_token == SecretStr("xoxe-1-new-refresh")


def test_slack_incoming_webhook_url_is_a_secret() -> None:
    body = SLACK_SUCCESS | {
        "incoming_webhook": {
            "channel": "#general",
            "channel_id": "C123",
            "configuration_url": "https://teamname.slack.com/services/B123",
            "url": "https://hooks.slack.com/services/T9TK3CUKW/B123/secretpart",
        }
    }
    tokens = _parse(SLACK_OAUTH, _response(200, body))
    assert "secretpart" not in str(tokens.account)
    assert tokens.account["incoming_webhook_channel_id"] == "C123"
    webhook = tokens.extra_secrets["incoming_webhook_url"].get_secret_value()
    assert webhook.endswith("/secretpart")


def test_slack_user_only_install_makes_the_user_token_primary() -> None:
    body = {
        "ok": True,
        "team": {"id": "T1", "name": "t"},
        "authed_user": {"id": "U9", "scope": "search:read", "access_token": "xoxp-9"},
    }
    tokens = _parse(SLACK_OAUTH, _response(200, body))
    assert tokens.access_token == SecretStr("xoxp-9")
    assert tokens.token_type == "user"
    assert tokens.scopes == ("search:read",)
    assert tokens.extra_secrets == {}


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("invalid_client_id", InvalidClient),
        ("bad_client_secret", InvalidClient),
        ("invalid_code", InvalidGrant),
        ("invalid_grant", InvalidGrant),
        ("invalid_refresh_token", InvalidGrant),
        ("bad_redirect_uri", InvalidGrant),
        ("ratelimited", TokenEndpointUnavailable),
        ("invalid_grant_type", TokenRequestRejected),
    ],
)
def test_slack_ok_false_maps_on_the_error_field(
    error: str, expected: type[OAuthTokenError]
) -> None:
    with pytest.raises(expected) as caught:
        _parse(SLACK_OAUTH, _response(200, {"ok": False, "error": error}))
    assert caught.value.provider_error == error
    assert caught.value.http_status == 200


def test_slack_spec_error_sample_is_invalid_client() -> None:
    with pytest.raises(InvalidClient, match="invalid_client_id"):
        _parse(SLACK_OAUTH, _response(200, SLACK_ERROR))


def test_slack_5xx_is_unavailable() -> None:
    with pytest.raises(TokenEndpointUnavailable):
        _parse(SLACK_OAUTH, _response(503, text="upstream down", **{"Retry-After": "7"}))


# ------------------------------------------------------------------ Discord


def test_discord_official_sample() -> None:
    tokens = _parse(DISCORD_OAUTH, _response(200, DISCORD_SUCCESS))
    assert tokens.access_token == SecretStr("6qrZcUqja7812RVdnEKjpzOL4CvHBFG")
    assert tokens.refresh_token == SecretStr("D43f5y0ahjqew82jZ4NViEr2YafMKhue")
    assert tokens.expires_at == NOW + timedelta(days=7)
    assert tokens.scopes == ("identify",)
    assert tokens.token_type == "Bearer"


def test_discord_guild_and_webhook_objects() -> None:
    body = DISCORD_SUCCESS | {
        "scope": "bot webhook.incoming",
        "guild": {"id": "2909267986263572999", "name": "SomeTest"},
        "webhook": {
            "id": "347114750880120863",
            "token": "kKDdjXa1g9tKNs0-_yOwLyALC9gydEWP6gr9sHcxs8DjT9V7nE9Kx_DdH3GnCn_oTCw",
            "channel_id": "345626669224982402",
            "url": "https://discord.com/api/webhooks/347114750880120863/kKDdjXa1g9tKNs0",
        },
    }
    tokens = _parse(DISCORD_OAUTH, _response(200, body))
    assert tokens.account == {
        "guild_id": "2909267986263572999",
        "guild_name": "SomeTest",
        "webhook_id": "347114750880120863",
        "webhook_channel_id": "345626669224982402",
    }
    assert tokens.extra_secrets["webhook_token"].get_secret_value().startswith("kKDdjXa1g9")
    assert "webhook_url" in tokens.extra_secrets


def test_discord_rate_limit_reads_retry_after_from_the_body() -> None:
    body = {"message": "You are being rate limited.", "retry_after": 64.57, "global": False}
    with pytest.raises(TokenEndpointUnavailable) as caught:
        _parse(DISCORD_OAUTH, _response(429, body))
    assert caught.value.retry_after == pytest.approx(64.57)


# ------------------------------------------------------------------ Lark / DingTalk


def test_lark_sample_with_refresh_lifetime() -> None:
    tokens = _parse(LARK_OAUTH, _response(200, LARK_SUCCESS))
    assert tokens.access_token.get_secret_value() == LARK_SUCCESS["access_token"]
    assert tokens.expires_at == NOW + timedelta(seconds=7200)
    assert tokens.refresh_expires_at == NOW + timedelta(seconds=604800)
    assert tokens.scopes == ("auth:user.id:read", "offline_access")


def test_lark_without_offline_access_has_no_refresh_token() -> None:
    body = {k: v for k, v in LARK_SUCCESS.items() if not k.startswith("refresh_token")}
    tokens = _parse(LARK_OAUTH, _response(200, body))
    assert tokens.refresh_token is None
    assert tokens.refresh_expires_at is None


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"code": 20003, "error": "invalid_grant", "error_description": "x"}, InvalidGrant),
        (401, {"code": 20002, "error": "invalid_client"}, InvalidClient),
        (500, {"code": 20050, "error": "server_error"}, TokenEndpointUnavailable),
        (200, {"code": 99991663, "msg": "token invalid"}, TokenRequestRejected),
    ],
)
def test_lark_errors(status: int, body: dict[str, Any], expected: type[OAuthTokenError]) -> None:
    with pytest.raises(expected):
        _parse(LARK_OAUTH, _response(status, body))


def test_dingtalk_camel_case_sample() -> None:
    tokens = _parse(DINGTALK_OAUTH, _response(200, DINGTALK_SUCCESS))
    assert tokens.access_token == SecretStr("dt-user-access-token-abc")
    assert tokens.refresh_token == SecretStr("dt-user-refresh-token-def")
    assert tokens.expires_at == NOW + timedelta(hours=2)
    assert tokens.account == {"corp_id": "ding6ccabc44d2c8d38b"}


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalidAuthCode", InvalidGrant),
        (400, "invalidParameter.refreshToken.expired", InvalidGrant),
        (400, "invalidClientSecret", InvalidClient),
        (401, None, InvalidClient),
        (400, "Forbidden.AccessDenied", TokenRequestRejected),
        (504, "gatewayTimeout", TokenEndpointUnavailable),
    ],
)
def test_dingtalk_error_heuristic(
    status: int, code: str | None, expected: type[OAuthTokenError]
) -> None:
    body = {"code": code, "message": "m", "requestid": "r"} if code else {"message": "m"}
    with pytest.raises(expected):
        _parse(DINGTALK_OAUTH, _response(status, body))


# ------------------------------------------------------------------ RFC 6749 generic


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"error": "invalid_grant"}, InvalidGrant),
        (401, {"error": "invalid_client"}, InvalidClient),
        (400, {"error": "unauthorized_client"}, InvalidClient),
        (200, {"error": "invalid_client"}, InvalidClient),  # error in a 200 still wins
        (400, {"error": "invalid_scope"}, TokenRequestRejected),
        (503, {"error": "temporarily_unavailable"}, TokenEndpointUnavailable),
        (400, {"error": "temporarily_unavailable"}, TokenEndpointUnavailable),
        (200, {"token_type": "Bearer"}, TokenResponseInvalid),
        (200, ["not", "an", "object"], TokenResponseInvalid),
        (403, {"message": "nope"}, TokenResponseInvalid),
    ],
)
def test_rfc6749_error_mapping(status: int, body: Any, expected: type[OAuthTokenError]) -> None:
    with pytest.raises(expected):
        _parse(GENERIC, _response(status, body))


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (503, "Service Unavailable", TokenEndpointUnavailable),
        (502, "<html>bad gateway</html>", TokenEndpointUnavailable),
        (429, "slow down", TokenEndpointUnavailable),
        (401, "Unauthorized", InvalidClient),
        (200, "<html>login</html>", TokenResponseInvalid),
    ],
)
def test_rfc6749_non_json_bodies(status: int, text: str, expected: type[OAuthTokenError]) -> None:
    with pytest.raises(expected):
        _parse(GENERIC, _response(status, text=text))


def test_503_retry_after_is_kept() -> None:
    with pytest.raises(TokenEndpointUnavailable) as caught:
        _parse(GENERIC, _response(503, text="down", **{"Retry-After": "30"}))
    assert caught.value.retry_after == 30
    assert caught.value.status_code == 503


def test_rotated_response_without_refresh_token_keeps_the_old_one() -> None:
    tokens = _parse(GENERIC, _response(200, {"access_token": "a2", "expires_in": "3600"}))
    assert tokens.refresh_token is None
    assert tokens.expires_at == NOW + timedelta(hours=1)  # numeric strings are accepted
    kept = tokens.keeping_refresh_token(SecretStr("old-refresh"))
    assert kept.refresh_token == SecretStr("old-refresh")
    assert kept.access_token == SecretStr("a2")
    newer = _parse(GENERIC, _response(200, {"access_token": "a3", "refresh_token": "r3"}))
    assert newer.keeping_refresh_token(SecretStr("old")).refresh_token == SecretStr("r3")


def test_custom_separator_is_used_for_scopes() -> None:
    spec = custom_spec(
        authorization_url="https://i.example/a",
        token_url="https://i.example/t",
        scope_separator=",",
    )
    tokens = _parse(spec, _response(200, {"access_token": "a", "scope": "read,write"}))
    assert tokens.scopes == ("read", "write")


def test_a_parser_can_be_passed_directly_and_now_must_be_aware() -> None:
    response = _response(200, {"access_token": "a", "expires_in": 60})
    tokens = parse_token_response(parse_rfc6749_token_response, response, now=NOW)
    assert tokens.expires_at == NOW + timedelta(seconds=60)
    with pytest.raises(ValueError, match="timezone"):
        parse_token_response(GENERIC, response, now=datetime(2026, 1, 1))
