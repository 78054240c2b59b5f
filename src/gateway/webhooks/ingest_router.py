"""``POST|GET /webhooks/{provider}/{endpoint_id}``: the URL given to the platform.

This is the hot path, so deliveries are served by a plain ASGI route (body read once as bytes,
a pre-rendered answer, no per-request dependency resolution) that the app registers first among
its top-level routes (:func:`receiver_route`); the FastAPI operations with the same path document
the contract in OpenAPI and share the same :func:`receive`. The router's
lifespan owns the per-process :class:`~gateway.webhooks.ingest.IngestState` (endpoint cache,
group-commit batcher, job coalescing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway.kit.asgi import read_body
from gateway.kit.problems import problem_responses
from gateway.kit.runtime import Runtime
from gateway.webhooks.ingest import STATE_KEY, IngestState, receive
from gateway.webhooks.schemas import WebhookAck

OK_BODY: Final = b'{"ok":true}'


@asynccontextmanager
async def ingest_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app lifespan (after the runtime exists): create, then drain, the
    receive machinery — batches in flight are committed and answered before shutdown."""
    runtime: Runtime = app.state.runtime
    state = IngestState(runtime)
    runtime.extras[STATE_KEY] = state
    try:
        yield
    finally:
        await state.close()
        runtime.extras.pop(STATE_KEY, None)


router = APIRouter(tags=["webhook receiver"], lifespan=ingest_lifespan)

# Path parameters are documented here and read from ``request.path_params`` instead of being
# declared on the functions: FastAPI's per-request parameter validation would cost the hot path
# more than everything the receiver itself does except verification.
_PATH_PARAMETERS: dict[str, Any] = {
    "parameters": [
        {
            "name": "provider",
            "in": "path",
            "required": True,
            "description": "Provider id (`feishu` = `lark`)",
            "schema": {"type": "string", "maxLength": 64},
        },
        {
            "name": "endpoint_id",
            "in": "path",
            "required": True,
            "description": "Webhook endpoint id",
            "schema": {"type": "string", "maxLength": 64},
        },
    ]
}

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": WebhookAck,
        "description": "Stored (or a duplicate), or the platform's handshake answered. Some "
        "platforms get their own exact body (challenge echo, encrypted `success`, text).",
    },
    204: {"description": "Stored, or a ping answered (Discord webhook events)"},
    **problem_responses(400, 401, 404, 413, 429, 503),
}


async def _receive(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    state: IngestState = runtime.extras[STATE_KEY]
    params = request.path_params
    body = await request.body()
    answer = await receive(
        state,
        params["provider"][:64],
        params["endpoint_id"][:64],
        request.method,
        request.headers,
        request.query_params,
        body,
    )
    if answer is None:
        return Response(OK_BODY, media_type="application/json")
    return Response(answer.body, status_code=answer.status_code, media_type=answer.media_type)


RECEIVER_PATH: Final = "/webhooks/{provider}/{endpoint_id}"


class _RawReceiver:
    """The receiver as a plain ASGI route, registered ahead of the documented operations below
    (same path, same :func:`receive`): deliveries skip FastAPI's per-request endpoint machinery
    and Starlette's request/response objects, which together cost more than anything the
    receiver does except verification. ``path`` names the route for the request metrics, as
    FastAPI's own routes do. Errors propagate to the app's problem+json handlers as usual."""

    path: Final = RECEIVER_PATH

    async def __call__(self, scope: Scope, receive_message: Receive, send: Send) -> None:
        scope["route"] = self
        state: IngestState = scope["app"].state.runtime.extras[STATE_KEY]
        delivered = await read_body(receive_message)
        raw_query: bytes = scope.get("query_string", b"")
        params = scope["path_params"]
        answer = await receive(
            state,
            params["provider"][:64],
            params["endpoint_id"][:64],
            scope["method"],
            {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]},
            dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True))
            if raw_query
            else {},
            delivered,
        )
        if answer is None:
            status, media_type, body = 200, b"application/json", OK_BODY
        else:
            status, media_type, body = answer.status_code, answer.media_type.encode(), answer.body
        headers = [(b"content-type", media_type)]
        if status != 204:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def receiver_route() -> Route:
    """The route serving deliveries; the app puts it first among its top-level routes, so a
    delivery is matched by one regex instead of walking FastAPI's included routers."""
    return Route(
        RECEIVER_PATH,
        _RawReceiver(),  # an ASGI app, which Starlette routes accept
        methods=["GET", "POST"],
        include_in_schema=False,
    )


@router.post(
    RECEIVER_PATH,
    operation_id="receive_webhook",
    response_model=WebhookAck,
    responses=_RESPONSES,
    openapi_extra=_PATH_PARAMETERS,
)
async def receive_webhook(request: Request) -> Response:
    """Receive one platform delivery.

    The signature is verified over the exact bytes received; URL-verification handshakes are
    answered; any other verified event is committed to the inbox (duplicates dropped on the
    platform's event id) **before** the 2xx. Processing happens later, off the request path.
    """
    return await _receive(request)


@router.get(
    RECEIVER_PATH,
    operation_id="verify_webhook_url",
    response_model=WebhookAck,
    responses=_RESPONSES,
    openapi_extra=_PATH_PARAMETERS,
)
async def verify_webhook_url(request: Request) -> Response:
    """URL verification by GET (WeCom `echostr`): answered with the exact decrypted text.

    Providers without a GET handshake answer 401, as for any unverifiable request.
    """
    return await _receive(request)
