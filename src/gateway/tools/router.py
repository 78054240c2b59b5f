from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from gateway.deps import (
    RuntimeDep,
    SessionDep,
    TenantDep,
    authenticate,
    bearer_token,
    request_session,
)
from gateway.kit.asgi import read_body
from gateway.kit.problems import PROBLEM_MEDIA_TYPE, Problem, problem_responses
from gateway.kit.runtime import Runtime
from gateway.tools import service
from gateway.tools.credential_source import DEFAULT_CREDENTIALS, get_credential_source
from gateway.tools.idempotency import check_key
from gateway.tools.invoke import CredentialSource, RetryPolicy
from gateway.tools.schemas import (
    AnthropicToolList,
    InvokeRequest,
    InvokeResult,
    OpenAIToolList,
    ToolFormat,
    ToolList,
    ToolOut,
)

router = APIRouter(prefix="/v1/tools", tags=["tools"], responses=problem_responses(401, 422))

INVOKE_PATH: Final = "/v1/tools/{name}/invoke"

_DEFAULT_POLICY = RetryPolicy()
_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {
        "model": Problem,
        "content": {PROBLEM_MEDIA_TYPE: {}},
        "description": "The connection needs re-authorization, or a request with this "
        "Idempotency-Key is still in progress",
    }
}


async def get_retry_policy() -> RetryPolicy:
    """Retry/backoff settings of the invoke loop (a dependency, so tests can shorten waits;
    ``async`` so FastAPI does not run it in its thread pool)."""
    return _DEFAULT_POLICY


CredentialsDep = Annotated[CredentialSource, Depends(get_credential_source)]
RetryPolicyDep = Annotated[RetryPolicy, Depends(get_retry_policy)]
ToolName = Annotated[
    str,
    Path(
        max_length=120,
        description="`slack.send_message` or its LLM-safe spelling `slack__send_message`",
    ),
]


@router.get(
    "",
    operation_id="list_tools",
    response_model=ToolList | OpenAIToolList | AnthropicToolList,
)
async def list_tools(
    tenant: TenantDep,
    session: SessionDep,
    format: Annotated[
        ToolFormat,
        Query(description="`openai` / `anthropic`: export as those tool-definition shapes"),
    ] = "gateway",
) -> ToolList | OpenAIToolList | AnthropicToolList:
    """Every built-in tool and the tenant's custom tools, with JSON Schema parameters.

    `?format=openai` returns Chat Completions `tools` entries, `?format=anthropic` Messages API
    `tools` entries; there names are spelled with `__` instead of `.` (LLM name rules), and
    `POST /v1/tools/{name}/invoke` accepts either spelling.
    """
    return await service.list_tools(session, tenant.id, format)


@router.get(
    "/{name}",
    operation_id="get_tool",
    response_model=ToolOut,
    responses=problem_responses(404),
)
async def get_tool(
    name: ToolName, tenant: TenantDep, session: SessionDep, runtime: RuntimeDep
) -> ToolOut:
    """One tool's description and parameter schema."""
    return await service.get_tool(session, runtime, tenant.id, name)


@router.post(
    INVOKE_PATH.removeprefix("/v1/tools"),
    operation_id="invoke_tool",
    response_model=InvokeResult,
    responses={**problem_responses(400, 404, 429, 503), **_CONFLICT},
)
async def invoke_tool(
    name: ToolName,
    body: InvokeRequest,
    tenant: TenantDep,
    runtime: RuntimeDep,
    credentials: CredentialsDep,
    policy: RetryPolicyDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=255,
            description="Same key and body: the stored result, without calling again",
        ),
    ] = None,
) -> InvokeResult:
    """Run a tool: parameters validated against its schema, credentials injected, the call sent
    (rate-limited per connection, retried on 429/5xx/network errors honouring `Retry-After`,
    a token refreshed once on an expired-token answer) and logged.

    A call the platform refused is still a 200 with `ok: false` and an `error` carrying the
    platform's code; problems with the request itself are 4xx problems (422 invalid
    parameters, 404 unknown tool/connection/event, 409 connection needs re-authorization).
    """
    return await _invoke(
        runtime,
        tenant.id,
        name,
        body,
        credentials=credentials,
        policy=policy,
        idempotency_key=idempotency_key,
    )


class _InvokeRoute:
    """``POST /v1/tools/{name}/invoke`` as a plain ASGI route, registered ahead of everything
    (:func:`invoke_route`): an invoke skips FastAPI's per-request dependency, parameter and
    response machinery (~0.1 ms of CPU on the 2-core machine, ``docs/benchmarks-act.md``).

    It serves only requests whose every input is plainly valid (``application/json`` body that
    validates as :class:`InvokeRequest`, a name within its limit, no oversized header), with
    the same steps as :func:`invoke_tool`: authenticate, check the ``Idempotency-Key``, invoke
    in the request's transaction, answer with the serialised :class:`InvokeResult`. Anything
    else is handed, body replayed, to the documented FastAPI operation (``documented``), so
    every error a client can meet is FastAPI's own, with the same precedence (authentication
    before validation). The test seams (:func:`get_credential_source`,
    :func:`get_retry_policy`) honour ``app.dependency_overrides`` (zero-argument overrides).
    ``path`` names the route for the request metrics, as FastAPI's own routes do.
    """

    path: Final = INVOKE_PATH

    def __init__(self, documented: APIRoute) -> None:
        self._documented = documented

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        body = await read_body(receive)
        authorization = idempotency_key = content_type = None
        for header, value in scope["headers"]:  # the first of each, as Starlette reads them
            if header == b"authorization":
                authorization = authorization or value.decode("latin-1")
            elif header == b"idempotency-key":
                idempotency_key = idempotency_key or value.decode("latin-1")
            elif header == b"content-type":
                content_type = content_type or value.decode("latin-1")
        name: str = scope["path_params"]["name"]
        request = _plainly_valid(body, content_type)
        if (
            request is None
            or len(name) > _NAME_MAX
            or (idempotency_key is not None and len(idempotency_key) > _KEY_MAX)
        ):
            await self._documented.handle(scope, _replay(body, receive), send)
            return
        app = scope["app"]
        runtime: Runtime = app.state.runtime
        tenant = await authenticate(runtime, scope, bearer_token(authorization))
        overrides = app.dependency_overrides
        if overrides:  # tests stand in for the connect domain or the retry waits
            credentials = await _seam(overrides, get_credential_source)
            policy = await _seam(overrides, get_retry_policy)
        else:
            credentials, policy = DEFAULT_CREDENTIALS, _DEFAULT_POLICY
        result = await _invoke(
            runtime,
            tenant.id,
            name,
            request,
            credentials=credentials,
            policy=policy,
            idempotency_key=idempotency_key,
        )
        payload = _RESULT.dump_json(result, by_alias=True)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(payload)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


_NAME_MAX: Final = 120  # ``ToolName``
_KEY_MAX: Final = 255  # the ``Idempotency-Key`` header
_RESULT: Final = TypeAdapter(InvokeResult)


def _plainly_valid(body: bytes, content_type: str | None) -> InvokeRequest | None:
    """The body as :class:`InvokeRequest`, or None for anything the documented operation must
    answer (or accept through a rarer path, e.g. ``+json``). Parsed by pydantic's JSON parser,
    which refuses what ``json.loads`` (FastAPI's) would refuse, and a little more (a lone
    surrogate escape): whatever it refuses, FastAPI decides."""
    if not body or content_type is None:
        return None
    if content_type.partition(";")[0].strip().lower() != "application/json":
        return None
    try:
        return InvokeRequest.model_validate_json(body)
    except ValidationError:  # invalid JSON included
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then whatever the connection says next."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _seam(overrides: dict[Any, Any], dependency: Callable[[], Any]) -> Any:
    value = overrides.get(dependency, dependency)()
    return await value if inspect.isawaitable(value) else value


async def _invoke(
    runtime: Runtime,
    tenant_id: str,
    name: str,
    body: InvokeRequest,
    *,
    credentials: CredentialSource,
    policy: RetryPolicy,
    idempotency_key: str | None,
) -> InvokeResult:
    """:func:`invoke_tool`'s body, shared by both routes."""
    key = check_key(idempotency_key) if idempotency_key is not None else None
    # The request's transaction, opened here rather than as a dependency (the hot path; same
    # semantics as ``SessionDep``: committed before the response). A call served from the
    # process's caches never begins it.
    async with request_session(runtime, lazy=True) as session:
        return await service.invoke(
            session,
            runtime,
            tenant_id,
            name,
            body,
            credentials=credentials,
            policy=policy,
            idempotency_key=key,
        )


def invoke_route(app: FastAPI) -> Route:
    """``POST /v1/tools/{name}/invoke`` as a top-level route, for the app to put at the front of
    its table: FastAPI walks every route of every router included before this one on each
    request (~0.1 ms per invoke on the 2-core machine, ``docs/benchmarks-act.md``), and
    :class:`_InvokeRoute` serves plainly valid requests without FastAPI's endpoint machinery.
    The operation is documented by ``router`` above, whose copy this one shadows; requests it
    does not serve go to a copy of that operation with the app's dependency overrides."""
    documented = APIRoute(
        INVOKE_PATH,
        invoke_tool,
        methods=["POST"],
        response_model=InvokeResult,
        include_in_schema=False,
        dependency_overrides_provider=app,
    )
    return Route(INVOKE_PATH, _InvokeRoute(documented), methods=["POST"], include_in_schema=False)
