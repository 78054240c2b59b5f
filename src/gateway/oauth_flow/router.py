"""The connect flow's routes: the API call that starts it and the two browser legs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.deps import RuntimeDep, SessionDep, TenantDep
from gateway.kit.problems import PROBLEM_MEDIA_TYPE, Problem, problem_responses
from gateway.oauth_flow import service
from gateway.oauth_flow.pages import SECURITY_HEADERS, failure_page, success_page
from gateway.oauth_flow.return_to import with_query
from gateway.oauth_flow.schemas import AuthorizeRequest, AuthorizeResponse
from gateway.oauth_flow.service import COOKIE_NAME

api_router = APIRouter(prefix="/v1", tags=["connections"], responses=problem_responses(401, 422))
browser_router = APIRouter(prefix="/oauth", tags=["oauth"])

ProviderPath = Annotated[str, Path(max_length=64, description="Provider id (or alias)")]

_HTML: dict[str, Any] = {"content": {"text/html": {"schema": {"type": "string"}}}}
_BROWSER_RESPONSES: dict[int | str, dict[str, Any]] = {
    302: {"description": "Redirect to the provider / to `return_to`"},
    400: {**_HTML, "description": "Failure page naming a reason code"},
    403: {**_HTML, "description": "The user declined at the provider"},
    409: {**_HTML, "description": "No OAuth client is configured for the provider"},
}


@api_router.post(
    "/connections/{provider}/authorize",
    operation_id="authorize_connection",
    response_model=AuthorizeResponse,
    responses={
        **problem_responses(404),
        409: {
            "model": Problem,
            "content": {PROBLEM_MEDIA_TYPE: {}},
            "description": "No OAuth client for this provider (`oauth_client_missing`)",
        },
    },
)
async def authorize_connection(
    provider: ProviderPath,
    body: AuthorizeRequest,
    tenant: TenantDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> AuthorizeResponse:
    """Start connecting an account with OAuth: returns a one-time `authorization_url` (valid
    until `expires_at`, at most 10 minutes) to open in the user's browser. The flow ends with a
    redirect to `return_to` carrying `connection_id` (or `error`), or on a result page."""
    link = await service.create_link(session, runtime, tenant.id, provider, body)
    return AuthorizeResponse(
        authorization_url=link.authorization_url,
        expires_at=link.expires_at,
        redirect_uri=link.redirect_uri,
    )


@browser_router.get(
    "/{provider}/start",
    operation_id="oauth_start",
    response_class=HTMLResponse,
    status_code=302,
    responses=_BROWSER_RESPONSES,
)
async def oauth_start(
    provider: ProviderPath,
    session: SessionDep,
    runtime: RuntimeDep,
    session_token: Annotated[str | None, Query(alias="session", max_length=200)] = None,
) -> Response:
    """Browser leg 1: consumes the one-time link, binds the flow to this browser with an
    HttpOnly, SameSite=Lax cookie and redirects to the provider's consent page."""
    outcome = await service.start(session, runtime, provider, session_token)
    if outcome.location is None or outcome.binding is None:
        return failure_page(outcome.reason or "invalid_session", outcome.status_code)
    response = RedirectResponse(outcome.location, status_code=302, headers=SECURITY_HEADERS)
    response.set_cookie(
        COOKIE_NAME,
        outcome.binding,
        max_age=runtime.settings.oauth_state_ttl_seconds,
        path=f"/oauth/{provider}/callback",
        secure=runtime.settings.resolved_public_base_url.startswith("https://"),
        httponly=True,
        samesite="lax",
    )
    return response


@browser_router.get(
    "/{provider}/callback",
    operation_id="oauth_callback",
    response_class=HTMLResponse,
    responses={200: {**_HTML, "description": "Success page"}, **_BROWSER_RESPONSES},
)
async def oauth_callback(
    provider: ProviderPath,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    binding: Annotated[str | None, Cookie(alias=COOKIE_NAME, max_length=200)] = None,
) -> Response:
    """Browser leg 2: the provider redirects here with `code` (DingTalk: `authCode`) and
    `state`. The state is single-use, at most 10 minutes old, and must match this browser's
    cookie and this provider; the code is exchanged and the connection stored encrypted."""
    params = {key: value for key, value in request.query_params.items() if len(value) <= 4096}
    outcome = await service.complete(session, runtime, provider, params, binding)
    response = _callback_response(outcome, provider)
    if outcome.bound:  # a stranger's request must not end this browser's own flow
        response.delete_cookie(COOKIE_NAME, path=f"/oauth/{provider}/callback", httponly=True)
    return response


def _callback_response(outcome: service.CallbackOutcome, provider: str) -> Response:
    """Back to ``return_to`` (only set once the state proved this browser started the flow),
    else a result page."""
    connection = outcome.connection
    if outcome.return_to is not None:
        result = (
            {"connection_id": connection.id}
            if connection is not None
            else {"error": outcome.reason or "exchange_failed"}
        )
        location = with_query(outcome.return_to, {**result, "provider": provider})
        return RedirectResponse(location, status_code=302, headers=SECURITY_HEADERS)
    if connection is None:
        reason = outcome.reason or "exchange_failed"
        return failure_page(reason, outcome.status_code, outcome.detail)
    return success_page(outcome.provider_name, connection.id)
