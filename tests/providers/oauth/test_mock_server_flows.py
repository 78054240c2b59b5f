"""Full flows against the mock authorization server through ``httpx.ASGITransport``.

For every style: authorize (auto-consent) → code exchange (PKCE, exact redirect_uri) → refresh
rotation → reuse of the old refresh token is detected and revokes the whole family.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

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
    RevocationOutcome,
    TokenEndpointUnavailable,
    TokenSet,
    build_authorization_url,
    custom_spec,
    exchange_code,
    pkce_pair,
    refresh,
    revoke,
)
from gateway.providers.slack.oauth import SLACK_OAUTH, slack_authorize_params
from tests.mocks.oauth_server import MockAuthServer, create_mock_oauth_server
from tests.mocks.oauth_wire import Style

BASE = "http://mock-idp.test"
REDIRECT = "https://gw.example.com/oauth/p/callback?x=1&y=a%20b"
CLIENT_ID, CLIENT_SECRET = "mock-client-id", SecretStr("mock-client-secret")

SPECS: dict[str, OAuthSpec] = {
    "rfc6749": custom_spec(
        authorization_url=f"{BASE}/authorize",
        token_url=f"{BASE}/token",
        revocation_url=f"{BASE}/revoke",
        scopes=["read"],
    ),
    "slack": SLACK_OAUTH.rebased(BASE),
    "discord": DISCORD_OAUTH.rebased(BASE),
    "lark": LARK_OAUTH.rebased(BASE),
    "dingtalk": DINGTALK_OAUTH.rebased(BASE),
}
STYLES: list[Style] = ["rfc6749", "slack", "discord", "lark", "dingtalk"]
EXPECTED_CLIENT_AUTH = {
    "rfc6749": "basic",
    "slack": "basic",
    "discord": "basic",
    "lark": "body",
    "dingtalk": "body",
}


@dataclass
class Harness:
    style: Style
    spec: OAuthSpec
    server: MockAuthServer
    http: httpx.AsyncClient

    async def authorize(self, scopes: Sequence[str] | None = None) -> tuple[str, str | None]:
        """Run the browser leg; returns (code, verifier)."""
        verifier, challenge = pkce_pair() if self.spec.pkce else (None, None)
        extra = slack_authorize_params(user_scopes=["search:read"]) if self.style == "slack" else {}
        url = build_authorization_url(
            self.spec,
            client_id=CLIENT_ID,
            redirect_uri=REDIRECT,
            state="state-123",
            code_challenge=challenge,
            extra_params=extra,
            scopes=scopes,
        )
        response = await self.http.get(url)
        assert response.status_code == 302
        location = response.headers["location"]
        assert location.startswith("https://gw.example.com/oauth/p/callback?x=1&y=a%20b&")
        query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert query["state"] == "state-123"
        return query[self.spec.code_param], verifier

    async def exchange(
        self,
        code: str,
        verifier: str | None,
        *,
        client_secret: SecretStr = CLIENT_SECRET,
        redirect_uri: str = REDIRECT,
    ) -> TokenSet:
        return await exchange_code(
            self.http,
            self.spec,
            client_id=CLIENT_ID,
            client_secret=client_secret,
            code=code,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
        )

    async def refresh(self, token: SecretStr | None, secret: SecretStr = CLIENT_SECRET) -> TokenSet:
        assert token is not None
        return await refresh(
            self.http, self.spec, client_id=CLIENT_ID, client_secret=secret, refresh_token=token
        )


def _active(server: MockAuthServer, token: SecretStr | None) -> bool:
    return token is not None and server.is_active(token.get_secret_value())


@pytest.fixture(params=STYLES)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    style: Style = request.param
    server = create_mock_oauth_server(style, require_pkce=SPECS[style].pkce)
    transport = httpx.ASGITransport(app=server.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield Harness(style, SPECS[style], server, http)


async def test_code_exchange_rotation_and_reuse_detection(harness: Harness) -> None:
    server = harness.server
    code, verifier = await harness.authorize()
    first = await harness.exchange(code, verifier)
    assert _active(server, first.access_token)
    assert first.refresh_token is not None
    assert first.expires_at is not None
    if harness.style == "slack":
        assert first.account["team_id"] == "TMOCK"
        assert _active(server, first.extra_secrets["user_access_token"])
    if harness.style == "dingtalk":
        assert first.account["corp_id"] == "dingmockcorp"

    second = await harness.refresh(first.refresh_token)
    assert second.refresh_token is not None
    assert second.refresh_token != first.refresh_token  # rotated
    assert not _active(server, first.refresh_token)  # single use
    assert _active(server, second.access_token)
    assert _active(server, second.refresh_token)

    with pytest.raises(InvalidGrant):  # replaying the spent refresh token …
        await harness.refresh(first.refresh_token)
    assert not _active(server, second.refresh_token)  # … revokes the whole family
    assert not _active(server, second.access_token)
    with pytest.raises(InvalidGrant):
        await harness.refresh(second.refresh_token)

    assert [call.grant_type for call in server.token_calls] == [
        "authorization_code",
        "refresh_token",
        "refresh_token",
        "refresh_token",
    ]
    assert {call.client_auth for call in server.token_calls} == {
        EXPECTED_CLIENT_AUTH[harness.style]
    }
    assert server.snapshot()["revoked_families"] == 1


async def test_reused_code_is_refused_and_revokes_its_tokens(harness: Harness) -> None:
    code, verifier = await harness.authorize()
    tokens = await harness.exchange(code, verifier)
    with pytest.raises(InvalidGrant):
        await harness.exchange(code, verifier)
    assert not _active(harness.server, tokens.access_token)


async def test_wrong_client_secret_is_invalid_client(harness: Harness) -> None:
    code, verifier = await harness.authorize()
    with pytest.raises(InvalidClient):
        await harness.exchange(code, verifier, client_secret=SecretStr("wrong"))


async def test_redirect_uri_must_be_byte_identical(harness: Harness) -> None:
    code, verifier = await harness.authorize()
    other = REDIRECT.replace("%20", "+")  # same meaning, different bytes
    if harness.style == "dingtalk":  # its token API carries no redirect_uri: nothing to compare
        assert (await harness.exchange(code, verifier, redirect_uri=other)).access_token
        return
    with pytest.raises(InvalidGrant):
        await harness.exchange(code, verifier, redirect_uri=other)


async def test_transient_failure_keeps_the_refresh_token_usable(harness: Harness) -> None:
    code, verifier = await harness.authorize()
    tokens = await harness.exchange(code, verifier)
    harness.server.fail_next(503, retry_after=3)
    with pytest.raises(TokenEndpointUnavailable) as caught:
        await harness.refresh(tokens.refresh_token)
    assert caught.value.retry_after == 3
    assert (await harness.refresh(tokens.refresh_token)).refresh_token is not None


@pytest.mark.parametrize("style", ["rfc6749", "lark"])
async def test_pkce_wrong_or_missing_verifier_is_invalid_grant(style: Style) -> None:
    server = create_mock_oauth_server(style, require_pkce=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app)) as http:
        harness = Harness(style, SPECS[style], server, http)
        code, _ = await harness.authorize()
        with pytest.raises(InvalidGrant):
            await harness.exchange(code, pkce_pair()[0])  # someone else's verifier
        code, _ = await harness.authorize()
        harness.spec = replace(SPECS[style], pkce=False)  # sends no verifier at all
        with pytest.raises(InvalidGrant):
            await harness.exchange(code, None)


async def test_mock_refuses_a_plain_pkce_method() -> None:
    server = create_mock_oauth_server("rfc6749")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app)) as http:
        response = await http.get(
            f"{BASE}/authorize",
            params={
                "client_id": CLIENT_ID,
                "redirect_uri": REDIRECT,
                "response_type": "code",
                "state": "s",
                "code_challenge": "abc",
                "code_challenge_method": "plain",
            },
        )
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]


async def test_without_rotation_the_old_refresh_token_is_kept() -> None:
    server = create_mock_oauth_server("discord", rotate_refresh_tokens=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app)) as http:
        harness = Harness("discord", SPECS["discord"], server, http)
        code, verifier = await harness.authorize()
        first = await harness.exchange(code, verifier)
        second = await harness.refresh(first.refresh_token)
        assert second.refresh_token is None
        kept = second.keeping_refresh_token(first.refresh_token)
        assert kept.refresh_token == first.refresh_token
        assert (await harness.refresh(kept.refresh_token)).access_token != second.access_token


async def test_lark_without_offline_access_gets_no_refresh_token() -> None:
    server = create_mock_oauth_server("lark")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app)) as http:
        harness = Harness("lark", SPECS["lark"], server, http)
        code, verifier = await harness.authorize(scopes=["contact:user.base:readonly"])
        tokens = await harness.exchange(code, verifier)
        assert tokens.refresh_token is None
        assert tokens.scopes == ("contact:user.base:readonly",)


async def test_denied_consent_redirects_with_error() -> None:
    server = create_mock_oauth_server("discord")
    server.deny_next_authorization()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app)) as http:
        url = build_authorization_url(
            SPECS["discord"], client_id=CLIENT_ID, redirect_uri=REDIRECT, state="s1"
        )
        location = (await http.get(url)).headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["s1"]
    assert "code" not in query


@pytest.mark.parametrize("style", ["rfc6749", "discord", "slack"])
async def test_revocation_against_the_mock(style: Style) -> None:
    server = create_mock_oauth_server(style)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app)) as http:
        harness = Harness(style, SPECS[style], server, http)
        code, verifier = await harness.authorize()
        tokens = await harness.exchange(code, verifier)
        server.fail_next(503)
        outcome = await revoke(
            http,
            harness.spec,
            token=tokens.access_token,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        assert outcome is RevocationOutcome.RETRY
        assert _active(server, tokens.refresh_token)
        outcome = await revoke(
            http,
            harness.spec,
            token=tokens.access_token,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        assert outcome is RevocationOutcome.REVOKED
        assert not _active(server, tokens.access_token)
        assert not _active(server, tokens.refresh_token)  # the whole authorization is gone
        again = await revoke(
            http,
            harness.spec,
            token=tokens.access_token,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
        )
        assert again is RevocationOutcome.REVOKED  # an already-invalid token is "done" too
        assert server.revocation_calls == 3


async def test_admin_endpoints_for_cross_process_tests() -> None:
    server = create_mock_oauth_server("rfc6749")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=server.app)) as http:
        harness = Harness("rfc6749", SPECS["rfc6749"], server, http)
        code, verifier = await harness.authorize()
        tokens = await harness.exchange(code, verifier)
        bearer = {"Authorization": f"Bearer {tokens.access_token.get_secret_value()}"}
        assert (await http.get(f"{BASE}/_mock/whoami", headers=bearer)).status_code == 200
        assert (await http.post(f"{BASE}/_mock/expire_access_tokens")).status_code == 204
        assert (await http.get(f"{BASE}/_mock/whoami", headers=bearer)).status_code == 401
        fail = await http.post(f"{BASE}/_mock/fail_next", json={"status": 502, "count": 2})
        assert fail.status_code == 204
        for _ in range(2):
            with pytest.raises(TokenEndpointUnavailable):
                await harness.refresh(tokens.refresh_token)
        await harness.refresh(tokens.refresh_token)
        state = (await http.get(f"{BASE}/_mock/state")).json()
    assert state["code_exchanges"] == 1
    assert state["refresh_calls"] == 3
    assert state["token_calls"] == 4
    assert state["invalid_grants"] == 0
