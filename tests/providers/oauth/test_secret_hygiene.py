"""No token or secret in any repr/str of token sets and errors (O9)."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from gateway.providers.discord.oauth import DISCORD_OAUTH
from gateway.providers.oauth import (
    InvalidCredentials,
    OAuthTokenError,
    TokenSet,
    custom_spec,
    parse_token_response,
    platform_reason,
)
from gateway.providers.slack.oauth import SLACK_OAUTH
from tests.providers.oauth.samples import NOW, SLACK_SUCCESS

SECRETS = ["ACCESS-s3cr3t-1", "REFRESH-s3cr3t-2", "USER-s3cr3t-3", "HOOK-s3cr3t-4"]


def _assert_clean(obj: object) -> None:
    rendered = [repr(obj), str(obj)]
    if isinstance(obj, OAuthTokenError | InvalidCredentials):
        rendered += [repr(obj.extra), obj.message, repr(obj.args)]
    for text in rendered:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {text!r}"


def test_token_set_repr_masks_every_secret() -> None:
    tokens = TokenSet(
        access_token=SecretStr(SECRETS[0]),
        refresh_token=SecretStr(SECRETS[1]),
        scopes=("a",),
        account={"team_id": "T1"},
        extra_secrets={"user_access_token": SecretStr(SECRETS[2])},
    )
    _assert_clean(tokens)
    assert "T1" in repr(tokens)  # non-secret metadata stays visible for debugging


def test_parsed_slack_tokens_do_not_leak() -> None:
    body = SLACK_SUCCESS | {
        "access_token": SECRETS[0],
        "refresh_token": SECRETS[1],
        "authed_user": {"id": "U1", "access_token": SECRETS[2]},
        "incoming_webhook": {"url": f"https://hooks.slack.com/services/{SECRETS[3]}"},
    }
    tokens = parse_token_response(SLACK_OAUTH, httpx.Response(200, json=body), now=NOW)
    _assert_clean(tokens)
    _assert_clean(tokens.account)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": "invalid_grant", "error_description": f"token {SECRETS[1]} revoked"}),
        (400, {"error": f"bad {SECRETS[1]}"}),  # a malformed "code" is dropped, not echoed
        (200, {"token_type": "Bearer", "refresh_token": SECRETS[1]}),  # no access token
        (401, {"error": "invalid_client", "client_secret": SECRETS[0]}),
        (503, {"error": "temporarily_unavailable", "detail": SECRETS[0]}),
    ],
)
def test_errors_never_carry_tokens_or_descriptions(status: int, body: dict[str, str]) -> None:
    spec = custom_spec(authorization_url="https://i.example/a", token_url="https://i.example/t")
    with pytest.raises(OAuthTokenError) as caught:
        parse_token_response(spec, httpx.Response(status, json=body), now=NOW)
    _assert_clean(caught.value)


def test_slack_error_with_a_token_like_code_is_not_echoed() -> None:
    body = {"ok": False, "error": SECRETS[0] + " and more"}
    with pytest.raises(OAuthTokenError) as caught:
        parse_token_response(SLACK_OAUTH, httpx.Response(200, json=body), now=NOW)
    assert caught.value.provider_error is None
    _assert_clean(caught.value)


def test_discord_webhook_token_is_only_in_extra_secrets() -> None:
    body = {
        "access_token": SECRETS[0],
        "token_type": "Bearer",
        "webhook": {
            "id": "1",
            "token": SECRETS[3],
            "url": f"https://d/api/webhooks/1/{SECRETS[3]}",
        },
    }
    tokens = parse_token_response(DISCORD_OAUTH, httpx.Response(200, json=body), now=NOW)
    _assert_clean(tokens)
    assert tokens.extra_secrets["webhook_token"].get_secret_value() == SECRETS[3]


def test_invalid_credentials_reason_masks_the_submitted_secret() -> None:
    reason = platform_reason(40001, f"invalid secret {SECRETS[0]}\n", mask=[SECRETS[0]])
    error = InvalidCredentials(reason)
    assert error.reason == "40001 invalid secret ***"
    _assert_clean(error)
    assert len(platform_reason("x" * 500)) == 200
