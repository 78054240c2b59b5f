from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query
from fastapi.routing import APIRoute

from gateway.deps import RuntimeDep, SessionDep, TenantDep, request_session
from gateway.kit.problems import PROBLEM_MEDIA_TYPE, Problem, problem_responses
from gateway.tools import service
from gateway.tools.credential_source import get_credential_source
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
    key = check_key(idempotency_key) if idempotency_key is not None else None
    # The request's transaction, opened here rather than as a dependency (the hot path; same
    # semantics as ``SessionDep``: committed before the response). A call served from the
    # process's caches never begins it.
    async with request_session(runtime) as session:
        return await service.invoke(
            session,
            runtime,
            tenant.id,
            name,
            body,
            credentials=credentials,
            policy=policy,
            idempotency_key=key,
        )


def invoke_route(app: FastAPI) -> APIRoute:
    """``POST /v1/tools/{name}/invoke`` as a top-level route, for the app to put at the front of
    its table: FastAPI walks every route of every router included before this one on each
    request (~0.1 ms per invoke on the 2-core machine, ``docs/benchmarks-act.md``). Same endpoint,
    dependencies (overrides included) and responses; the operation is documented by ``router``
    above, whose copy this one shadows."""
    return APIRoute(
        INVOKE_PATH,
        invoke_tool,
        methods=["POST"],
        response_model=InvokeResult,
        include_in_schema=False,
        dependency_overrides_provider=app,
    )
