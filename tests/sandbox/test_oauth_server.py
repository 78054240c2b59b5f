"""The sandbox authorization server: consent page, PKCE, exact redirect URI, single-use codes,
rotating refresh tokens whose reuse revokes the family, revocation, hashed storage."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from gateway.kit.runtime import Runtime
from gateway.models import SandboxAuthorizationCode, SandboxGrant, SandboxToken
from gateway.models.base import utcnow
from gateway.sandbox.store import store_of
from tests.conftest import TenantCtx
from tests.sandbox.live import LiveGateway
from tests.sandbox.support import (
    approve,
    form_fields,
    own_code,
    query_of,
    set_tenant_client,
    start_flow,
)


@pytest.fixture
async def browser(live_gateway: LiveGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_gateway.base_url) as http:
        yield http


async def _exchange(
    http: httpx.AsyncClient, client: tuple[str, str], **form: str
) -> httpx.Response:
    return await http.post("/sandbox/oauth/token", data=form, auth=client)


async def _tokens(
    browser: httpx.AsyncClient, tenant: TenantCtx, client: tuple[str, str]
) -> dict[str, str]:
    code, verifier, params = await own_code(browser, tenant)
    answer = await _exchange(
        browser,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=params["redirect_uri"],
        code_verifier=verifier,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _api_status(http: httpx.AsyncClient, access_token: str) -> int:
    answer = await http.post(
        "/sandbox/api/messages",
        json={"conversation": "general", "text": "ping"},
        headers={"Authorization": f"Bearer {access_token}"},
    )
    return answer.status_code


async def test_consent_page_is_accessible_and_names_workspace_and_scopes(
    browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    page = await browser.get(await start_flow(browser, tenant))
    assert page.status_code == 200
    text = page.text
    assert '<html lang="en">' in text
    assert "<main>" in text
    assert "<h1>" in text
    assert tenant.tenant.name in text
    assert "messages:read" in text
    assert "messages:write" in text
    assert 'value="approve">Approve</button>' in text
    assert 'value="deny">Deny</button>' in text
    assert "<script" not in text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert form_fields(text)["consent_token"].startswith("enc1:")


async def test_untrusted_client_or_redirect_gets_an_error_page_not_a_redirect(
    browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    params = query_of(await start_flow(browser, tenant))
    for change in ({"redirect_uri": "https://evil.example/cb"}, {"client_id": "nobody"}):
        page = await browser.get("/sandbox/oauth/authorize?" + urlencode(params | change))
        assert page.status_code == 400
        assert "location" not in page.headers
        assert "evil.example" not in page.text
        assert 'role="alert"' in page.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"scope": "messages:read admin"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
async def test_protocol_errors_go_back_to_the_client_with_state(
    browser: httpx.AsyncClient, tenant: TenantCtx, change: dict[str, str], error: str
) -> None:
    params = query_of(await start_flow(browser, tenant))
    answer = await browser.get("/sandbox/oauth/authorize?" + urlencode(params | change))
    assert answer.status_code == 302
    back = query_of(answer.headers["location"])
    assert back["error"] == error
    assert back["state"] == params["state"]
    assert answer.headers["location"].startswith(params["redirect_uri"] + "?")


async def test_a_request_outside_a_connect_flow_is_refused(
    browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    params = query_of(await start_flow(browser, tenant)) | {"state": "made-up"}
    page = await browser.get("/sandbox/oauth/authorize?" + urlencode(params))
    assert page.status_code == 400
    assert "unknown_flow" in page.text


async def test_consent_form_needs_this_browser_and_the_shown_parameters(
    live_gateway: LiveGateway, browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    authorize_url = await start_flow(browser, tenant)
    fields = form_fields((await browser.get(authorize_url)).text) | {"decision": "approve"}
    async with httpx.AsyncClient(base_url=live_gateway.base_url) as stranger:
        # Another browser (a cross-site form post carries no SameSite=Strict cookie).
        forged = await stranger.post("/sandbox/oauth/authorize", data=fields)
        assert forged.status_code == 403
        assert "consent_expired" in forged.text
    widened = await browser.post(
        "/sandbox/oauth/authorize", data=fields | {"scope": "messages:read"}
    )
    assert widened.status_code == 403
    answer = await browser.post("/sandbox/oauth/authorize", data=fields)
    assert answer.status_code == 302
    back = query_of(answer.headers["location"])
    assert back["code"].startswith("sbx_ac_")
    assert back["iss"] == live_gateway.base_url


async def test_deny_ends_on_the_gateway_failure_page(
    browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    location = await approve(browser, await start_flow(browser, tenant), decision="deny")
    assert query_of(location)["error"] == "access_denied"
    page = await browser.get(location)
    assert page.status_code == 403
    assert "access_denied" in page.text
    listed = await browser.get("/v1/connections", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_token_endpoint_checks_client_verifier_and_redirect_uri(
    browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    client = await set_tenant_client(browser, tenant)
    code, verifier, params = await own_code(browser, tenant)
    base = {"grant_type": "authorization_code", "code": code}
    wrong_secret = await _exchange(
        browser,
        (client[0], "not-the-secret"),
        **base,
        redirect_uri=params["redirect_uri"],
        code_verifier=verifier,
    )
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert wrong_secret.headers["www-authenticate"].startswith("Basic")
    bad_verifier = await _exchange(
        browser, client, **base, redirect_uri=params["redirect_uri"], code_verifier="x" * 43
    )
    assert bad_verifier.status_code == 400
    assert bad_verifier.json()["error"] == "invalid_grant"
    # The failed attempt used the code up: even the right verifier cannot redeem it now.
    retry = await _exchange(
        browser, client, **base, redirect_uri=params["redirect_uri"], code_verifier=verifier
    )
    assert retry.json()["error"] == "invalid_grant"

    code, verifier, params = await own_code(browser, tenant)
    other_redirect = await _exchange(
        browser,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=params["redirect_uri"] + "/",
        code_verifier=verifier,
    )
    assert other_redirect.json() == {
        "error": "invalid_grant",
        "error_description": "redirect_uri does not match",
    }


async def test_codes_are_single_use_and_a_reused_code_revokes_its_tokens(
    browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    client = await set_tenant_client(browser, tenant)
    code, verifier, params = await own_code(browser, tenant)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": params["redirect_uri"],
        "code_verifier": verifier,
    }
    first = await _exchange(browser, client, **form)
    assert first.status_code == 200
    body = first.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "messages:read messages:write"
    assert body["workspace"] == {"id": tenant.tenant.id, "name": tenant.tenant.name}
    assert first.headers["cache-control"] == "no-store"
    assert await _api_status(browser, body["access_token"]) == 201
    replay = await _exchange(browser, client, **form)
    assert replay.json()["error"] == "invalid_grant"
    assert await _api_status(browser, body["access_token"]) == 401


async def test_expired_code_is_refused(
    browser: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    client = await set_tenant_client(browser, tenant)
    code, verifier, params = await own_code(browser, tenant)
    code_hash = hashlib.sha256(code.encode()).hexdigest()
    async with store_of(runtime).sessionmaker() as session:
        await session.execute(
            sa.update(SandboxAuthorizationCode)
            .where(col(SandboxAuthorizationCode.code_hash) == code_hash)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    answer = await _exchange(
        browser,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=params["redirect_uri"],
        code_verifier=verifier,
    )
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "authorization code expired",
    }


async def test_refresh_rotates_and_reuse_revokes_the_whole_family(
    browser: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    client = await set_tenant_client(browser, tenant)
    first = await _tokens(browser, tenant, client)
    rotated = await _exchange(
        browser, client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["bot_user_id"] == first["bot_user_id"]
    assert await _api_status(browser, second["access_token"]) == 201

    reuse = await _exchange(
        browser, client, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert reuse.json()["error"] == "invalid_grant"
    for token in (first["access_token"], second["access_token"]):
        assert await _api_status(browser, token) == 401
    later = await _exchange(
        browser, client, grant_type="refresh_token", refresh_token=second["refresh_token"]
    )
    assert later.json()["error"] == "invalid_grant"
    async with store_of(runtime).sessionmaker() as session:
        reasons = (
            await session.execute(
                sa.select(col(SandboxGrant.revoked_reason)).where(
                    col(SandboxGrant.tenant_id) == tenant.tenant.id
                )
            )
        ).scalars()
        assert list(reasons) == ["refresh_reuse"]


async def test_refresh_cannot_widen_scope_or_use_another_clients_token(
    browser: httpx.AsyncClient, tenant: TenantCtx, other_tenant: TenantCtx
) -> None:
    client = await set_tenant_client(browser, tenant)
    other_client = await set_tenant_client(browser, other_tenant)
    code, verifier, params = await own_code(browser, tenant, scope="messages:read")
    issued = await _exchange(
        browser,
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=params["redirect_uri"],
        code_verifier=verifier,
    )
    tokens = issued.json()
    assert tokens["scope"] == "messages:read"
    assert await _api_status(browser, tokens["access_token"]) == 403  # no messages:write
    stolen = await _exchange(
        browser, other_client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert stolen.json()["error"] == "invalid_grant"
    wider = await _exchange(
        browser,
        client,
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
        scope="messages:read messages:write",
    )
    assert wider.json()["error"] == "invalid_scope"


async def test_revocation_revokes_the_grant_and_answers_200_for_unknown_tokens(
    browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    client = await set_tenant_client(browser, tenant)
    tokens = await _tokens(browser, tenant, client)
    unknown = await browser.post("/sandbox/oauth/revoke", data={"token": "nope"}, auth=client)
    assert unknown.status_code == 200
    assert await _api_status(browser, tokens["access_token"]) == 201
    revoked = await browser.post(
        "/sandbox/oauth/revoke", data={"token": tokens["access_token"]}, auth=client
    )
    assert revoked.status_code == 200
    assert await _api_status(browser, tokens["access_token"]) == 401
    refresh = await _exchange(
        browser, client, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refresh.json()["error"] == "invalid_grant"
    anonymous = await browser.post("/sandbox/oauth/revoke", data={"token": "nope"})
    assert anonymous.status_code == 401


async def test_only_hashes_of_codes_and_tokens_are_stored(
    browser: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime
) -> None:
    client = await set_tenant_client(browser, tenant)
    tokens = await _tokens(browser, tenant, client)
    async with store_of(runtime).sessionmaker() as session:
        rows = (
            await session.execute(
                sa.select(SandboxToken).where(col(SandboxToken.tenant_id) == tenant.tenant.id)
            )
        ).scalars()
        stored = {row.token_hash for row in rows}
    for name in ("access_token", "refresh_token"):
        assert tokens[name] not in stored
        assert hashlib.sha256(tokens[name].encode()).hexdigest() in stored


async def test_token_endpoint_rejects_unsupported_grants_and_non_forms(
    browser: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    client = await set_tenant_client(browser, tenant)
    grant = await _exchange(browser, client, grant_type="password")
    assert grant.json()["error"] == "unsupported_grant_type"
    as_json = await browser.post(
        "/sandbox/oauth/token", json={"grant_type": "refresh_token"}, auth=client
    )
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
