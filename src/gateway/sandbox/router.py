"""``/sandbox``: the sandbox platform's OAuth server, chat API and webhook sender.

Mounted only when the sandbox is enabled (``GATEWAY_SANDBOX_ENABLED``; default: development).
The router's lifespan opens the sandbox store and, in development, provisions the system OAuth
client for ``sandbox`` so the connect flow needs no setup.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.deps import RuntimeDep, SessionDep, TenantDep, get_tenant
from gateway.kit.pagination import Page, PageParams, make_page, page_params
from gateway.kit.runtime import Runtime
from gateway.models import SandboxGrant
from gateway.models.base import utcnow
from gateway.sandbox import authorization, repository, service
from gateway.sandbox.authorization import AuthorizeRefused, ConsentRequest, OAuthProtocolError
from gateway.sandbox.pages import consent_page, error_page, security_headers
from gateway.sandbox.schemas import (
    AUTHORIZE_PARAMETERS,
    BROWSER_RESPONSES,
    CONSENT_FIELD,
    CONSENT_FORM,
    HTML_BODY,
    OAUTH_ERRORS,
    TOKEN_FORM,
    RevocationOut,
    SandboxMessageCreate,
    SandboxMessageOut,
    SandboxTokenResponse,
    SimulateRequest,
    SimulateResult,
    form_body_schema,
    problems,
)
from gateway.sandbox.store import STORE_KEY, open_store, store_of

CONSENT_COOKIE: Final = "sandbox_consent"
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FORM_BYTES: Final = 16 * 1024


@asynccontextmanager
async def sandbox_lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    store = await open_store(runtime)
    runtime.extras[STORE_KEY] = store
    provisioning = None
    if not runtime.settings.is_production and not await service.try_provision(runtime):
        # Retried in the background: the API must start (and say 503) while the DB is down.
        provisioning = asyncio.create_task(service.provision_when_reachable(runtime))
    try:
        yield
    finally:
        if provisioning is not None:
            provisioning.cancel()
            await asyncio.gather(provisioning, return_exceptions=True)
        runtime.extras.pop(STORE_KEY, None)
        await store.close()


router = APIRouter(prefix="/sandbox", tags=["sandbox"], lifespan=sandbox_lifespan)


async def get_sandbox_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The sandbox store's transaction, committed before the response is sent."""
    async with store_of(runtime).sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


SandboxSessionDep = Annotated[AsyncSession, Depends(get_sandbox_session, scope="function")]
PageDep = Annotated[PageParams, Depends(page_params)]
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="SandboxToken",
    description="A sandbox access token (`sbx_at_…`); reading messages also takes your API key",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def sandbox_grant(credentials: BearerDep, session: SandboxSessionDep) -> SandboxGrant:
    """The grant behind the request's sandbox access token (401 otherwise)."""
    if credentials is None or not credentials.credentials.startswith("sbx_at_"):
        raise service.SandboxTokenInvalid("send 'Authorization: Bearer <sandbox access token>'")
    return await service.authenticate_token(session, credentials.credentials, utcnow())


async def message_reader(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    sandbox: SandboxSessionDep,
    credentials: BearerDep,
) -> str:
    """The workspace (tenant) whose messages may be read: a ``messages:read`` access token's,
    or, for a gateway API key, its tenant's (to watch your sandbox conversations)."""
    if credentials is not None and credentials.credentials.startswith("gwk_"):
        tenant = await get_tenant(request, runtime, credentials)
        return tenant.id
    grant = await sandbox_grant(credentials, sandbox)
    service.require_scope(grant, "messages:read")
    return grant.tenant_id


# --------------------------------------------------------------------------- OAuth: browser


def _single_valued(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    """RFC 6749 §3.1: parameters must not repeat. A NUL character is refused too: no valid
    parameter has one, and PostgreSQL cannot even compare text holding one."""
    values = dict(pairs)
    if len(values) != len(pairs) or any("\x00" in k + v for k, v in pairs):
        return None
    return values


def _redirect(consent: ConsentRequest, runtime: Runtime, params: dict[str, str]) -> Response:
    """Back to the client with ``params``, the ``state`` and the issuer (RFC 9207)."""
    query = urlencode(
        {**params, "state": consent.state, "iss": authorization.issuer(runtime.settings)}
    )
    return RedirectResponse(
        f"{consent.redirect_uri}?{query}", status_code=302, headers=security_headers()
    )


def _refused(exc: AuthorizeRefused, params: dict[str, str], runtime: Runtime) -> Response:
    if not exc.redirect:
        return error_page(exc.error, exc.description)
    query = {"error": exc.error, "error_description": exc.description}
    if params.get("state"):
        query["state"] = params["state"]
    query["iss"] = authorization.issuer(runtime.settings)
    target = f"{authorization.callback_uri(runtime.settings)}?{urlencode(query)}"
    return RedirectResponse(target, status_code=302, headers=security_headers())


@router.get(
    "/oauth/authorize",
    operation_id="sandbox_authorize",
    summary="Sandbox OAuth: consent page",
    response_class=HTMLResponse,
    responses={200: {"content": HTML_BODY, "description": "The consent page"}, **BROWSER_RESPONSES},
    openapi_extra={"parameters": AUTHORIZE_PARAMETERS},
)
async def authorize(request: Request, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Sandbox OAuth authorization endpoint: shows the consent page (Approve / Deny) for a
    connect flow started on this gateway. Requires PKCE S256 and this gateway's exact
    `/oauth/sandbox/callback` redirect URI."""
    params = _single_valued(request.query_params.multi_items())
    if params is None:
        return error_page("invalid_request", "a parameter was repeated or malformed")
    try:
        consent = await authorization.check_request(session, runtime.settings, params, utcnow())
    except AuthorizeRefused as exc:
        return _refused(exc, params, runtime)
    nonce = request.cookies.get(CONSENT_COOKIE) or ""
    if not 32 <= len(nonce) <= 64:
        nonce = authorization.new_browser_nonce()
    ttl = runtime.settings.oauth_state_ttl_seconds
    token = authorization.consent_token(runtime.keyring, nonce, consent, utcnow(), ttl)
    response = consent_page(consent, token)
    response.set_cookie(
        CONSENT_COOKIE,
        nonce,
        max_age=ttl,
        path="/sandbox/oauth",
        secure=runtime.settings.resolved_public_base_url.startswith("https://"),
        httponly=True,
        samesite="strict",
    )
    return response


async def _read_form(request: Request) -> dict[str, str] | None:
    """An urlencoded body as single-valued fields, or None (wrong type, too big, repeated)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return None
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return None
    return _single_valued(pairs)


@router.post(
    "/oauth/authorize",
    operation_id="sandbox_authorize_decision",
    summary="Sandbox OAuth: approve or deny",
    response_class=HTMLResponse,
    status_code=302,
    responses=BROWSER_RESPONSES,
    openapi_extra=CONSENT_FORM,
)
async def authorize_decision(
    request: Request, session: SessionDep, sandbox: SandboxSessionDep, runtime: RuntimeDep
) -> Response:
    """The consent form's answer: Approve issues a single-use authorization code (5 minutes),
    Deny answers `access_denied`; both redirect to the client with the `state`."""
    form = await _read_form(request)
    if form is None:
        return error_page("invalid_request", "the consent form could not be read")
    try:
        consent = await authorization.check_request(session, runtime.settings, form, utcnow())
    except AuthorizeRefused as exc:
        return _refused(exc, form, runtime)
    nonce = request.cookies.get(CONSENT_COOKIE, "")
    token = form.get(CONSENT_FIELD, "")
    valid = bool(nonce) and authorization.consent_token_valid(
        runtime.keyring, token, nonce, consent, utcnow()
    )
    if not valid:
        return error_page(
            "consent_expired",
            "This consent form expired or was opened in another browser.",
            status_code=403,
        )
    if form.get("decision") != "approve":
        return _redirect(consent, runtime, {"error": "access_denied"})
    code = await authorization.approve(sandbox, consent, utcnow())
    return _redirect(consent, runtime, {"code": code})


# --------------------------------------------------------------------------- OAuth: back channel


def _oauth_error(exc: OAuthProtocolError) -> JSONResponse:
    headers = dict(_NO_STORE)
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="sandbox"'
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


@router.post(
    "/oauth/token",
    operation_id="sandbox_token",
    summary="Sandbox OAuth: token endpoint",
    response_model=SandboxTokenResponse,
    responses=OAUTH_ERRORS,
    openapi_extra=TOKEN_FORM,
)
async def token(
    request: Request, session: SessionDep, sandbox: SandboxSessionDep, runtime: RuntimeDep
) -> Response:
    """Sandbox OAuth token endpoint (client authentication: HTTP Basic or body). Exchanges a
    code (PKCE verifier and the same redirect URI required) or rotates a refresh token; a
    reused code or refresh token revokes the tokens issued from it."""
    form = await _read_form(request)
    if form is None:
        return _oauth_error(OAuthProtocolError("invalid_request", "send a single-valued form"))
    try:
        client = await authorization.authenticate_client(
            session, runtime.keyring, request.headers.get("authorization"), form
        )
    except OAuthProtocolError as exc:
        return _oauth_error(exc)
    tenant_id = await authorization.token_tenant(sandbox, form)
    names = {}
    if tenant_id is not None:
        names[tenant_id] = await repository.tenant_name(session, tenant_id) or tenant_id
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        issued, error = await authorization.exchange_code(sandbox, client, form, names, utcnow())
    elif grant_type == "refresh_token":
        issued, error = await authorization.refresh(sandbox, client, form, names, utcnow())
    else:
        issued, error = None, OAuthProtocolError("unsupported_grant_type", "unsupported grant_type")
    if error is not None or issued is None:
        # Returned, not raised: a revocation caused by a reused code/token is committed.
        return _oauth_error(error or OAuthProtocolError("server_error", "no token issued"))
    return JSONResponse(issued, headers=_NO_STORE)


@router.post(
    "/oauth/revoke",
    operation_id="sandbox_revoke",
    summary="Sandbox OAuth: revoke a token",
    response_model=RevocationOut,
    responses=OAUTH_ERRORS,
    openapi_extra=form_body_schema(
        {"token": {"type": "string"}, "token_type_hint": {"type": "string"}}, ["token"]
    ),
)
async def revoke(
    request: Request, session: SessionDep, sandbox: SandboxSessionDep, runtime: RuntimeDep
) -> Response:
    """Sandbox token revocation (RFC 7009): revokes the whole authorization behind an access
    or refresh token. Answers 200 whether or not the token was known."""
    form = await _read_form(request)
    if form is None or not form.get("token"):
        return _oauth_error(OAuthProtocolError("invalid_request", "token is required"))
    try:
        client = await authorization.authenticate_client(
            session, runtime.keyring, request.headers.get("authorization"), form
        )
    except OAuthProtocolError as exc:
        return _oauth_error(exc)
    await authorization.revoke(sandbox, client, form["token"], utcnow())
    return JSONResponse(RevocationOut().model_dump(), headers=_NO_STORE)


# --------------------------------------------------------------------------- chat API


@router.post(
    "/api/messages",
    operation_id="sandbox_send_message",
    summary="Sandbox: post a message as the app",
    response_model=SandboxMessageOut,
    status_code=201,
    responses=problems(401, 403, 422, 429, s403="The token lacks the `messages:write` scope"),
)
async def send_message(
    body: SandboxMessageCreate,
    sandbox: SandboxSessionDep,
    grant: Annotated[SandboxGrant, Depends(sandbox_grant)],
) -> SandboxMessageOut:
    """Post a message as the connected app (`Authorization: Bearer <sandbox access token>`,
    scope `messages:write`). This is what `sandbox.send_message` and `message.reply` call."""
    return service.message_out(await service.post_app_message(sandbox, grant, body))


@router.get(
    "/api/messages",
    operation_id="sandbox_list_messages",
    summary="Sandbox: list messages",
    response_model=Page[SandboxMessageOut],
    responses=problems(401, 403, 422, 429, s403="The token lacks the `messages:read` scope"),
)
async def list_messages(
    tenant_id: Annotated[str, Depends(message_reader)],
    sandbox: SandboxSessionDep,
    page: PageDep,
    conversation: Annotated[
        str | None, Query(max_length=200, description="Only this conversation, e.g. `general`")
    ] = None,
) -> dict[str, Any]:
    """Messages of the workspace, newest first: people's (simulated) and apps' (sent through
    the API). Authenticate with a sandbox access token (`messages:read`) or your API key."""
    rows = await repository.list_messages(sandbox, tenant_id, conversation, page)
    return make_page(rows, page, service.message_out)


@router.post(
    "/api/simulate",
    operation_id="sandbox_simulate",
    summary="Sandbox: simulate a person's message (sends a signed webhook)",
    response_model=SimulateResult,
    responses=problems(401, 404, 422, 429),
)
async def simulate(
    body: SimulateRequest,
    tenant: TenantDep,
    session: SessionDep,
    sandbox: SandboxSessionDep,
    runtime: RuntimeDep,
) -> SimulateResult:
    """Play a person writing in your sandbox workspace: the message is posted, and the sandbox
    sends the event, signed with the endpoint's secret (Standard Webhooks headers), to the
    endpoint's public URL, the way a real platform delivers it. The answer says how the
    gateway responded; the event then appears in `GET /v1/events`."""
    return await service.simulate(session, sandbox, runtime, tenant.id, body)
