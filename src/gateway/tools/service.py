"""Tools: the catalogue, and invoking a tool end to end.

``invoke`` in order — every check that can refuse the call runs before anything is sent::

    resolve the tool                  built-in / message.reply / custom (cached)   404
    validate the parameters           the tool's JSON Schema                       422
    plan                              message.reply → platform tool + connection;
                                      connection belongs to the tenant/platform    404 / 422
    claim the Idempotency-Key         a stored result is returned as it was        409 / 422
    count the daily quota             limits domain (tool invocations per day)     429
    load credentials                  connect domain (refreshes if expiring)       404 / 409
    run the call                      invoke.run_call: bucket, send, classify, retry
    log                               a row for the process's log writer (group commit); with
                                      an Idempotency-Key, one INSERT + the stored result in the
                                      request's transaction instead (durable before the answer)

The common request (tool definition, API key and limits cached per process, a custom tool with
its own API key) therefore touches no database at all: no connection checkout, no transaction.
What a crash can lose is described in ``gateway.invocations.writer``: log rows, never a result.

A call that is still running after ``RELEASE_CONNECTION_AFTER`` while the request's session
holds a connection (it read something: a connection's credentials, a cache miss) gets that
session committed underneath it: a tool that hangs for its whole timeout must not pin one of the
pool's connections, or 40 hung calls would stall every other request (reliability F11). Only
reads (and a credential refresh, which must be committed before its token is used anyway)
precede that commit; it is the one place a service ends a transaction.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Final

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.invocations import repository as invocation_log
from gateway.invocations.service import excerpt, row_values
from gateway.invocations.writer import log_writer
from gateway.kit.errors import NotFound, ValidationFailed
from gateway.kit.ids import new_id
from gateway.kit.metrics import TOOL_INVOCATIONS
from gateway.kit.runtime import Runtime
from gateway.limits import service as limits_service
from gateway.models.base import utcnow
from gateway.providers.registry import get_provider
from gateway.providers.tools import ToolCredentials, ToolOutput, redact_url
from gateway.tools import idempotency, repository
from gateway.tools.custom import CustomToolDefinition, build_request, classify_response
from gateway.tools.definitions import (
    BUILTIN_DEFINITIONS,
    BuiltinDefinition,
    canonical_name,
    custom_definition,
    definition_cache,
    exported_name,
    validate,
)
from gateway.tools.invoke import (
    CallOutcome,
    ConnectionCredentials,
    CredentialSource,
    PreparedRequest,
    RetryPolicy,
    ToolCall,
    decode_output,
    run_call,
)
from gateway.tools.ratelimit import limiter_for
from gateway.tools.reply_tool import plan_reply
from gateway.tools.schemas import (
    AnthropicTool,
    AnthropicToolList,
    InvokeRequest,
    InvokeResult,
    OpenAIFunction,
    OpenAITool,
    OpenAIToolList,
    ToolError,
    ToolFormat,
    ToolList,
    ToolOut,
)

#: A call still running after this long gives its database connection back to the pool.
RELEASE_CONNECTION_AFTER: Final = 0.05

# --- catalogue ----------------------------------------------------------------------------------


def _builtin_out(definition: BuiltinDefinition) -> ToolOut:
    spec = definition.spec
    return ToolOut(
        name=spec.name,
        kind="builtin",
        description=spec.description,
        parameters=spec.parameters,
        provider=spec.provider if definition.tool is not None else None,
        requires_connection=definition.tool is not None,
    )


async def list_tools(
    session: AsyncSession, tenant_id: str, fmt: ToolFormat
) -> ToolList | OpenAIToolList | AnthropicToolList:
    """Every built-in tool and the tenant's custom tools, in the requested shape."""
    tools = [_builtin_out(d) for d in BUILTIN_DEFINITIONS.values()]
    tools += [
        ToolOut(
            name=row.name,
            kind="custom",
            description=row.description,
            parameters=row.parameters,
            toolset_id=row.toolset_id,
            requires_connection=False,
        )
        for row in await repository.list_custom_tools(session, tenant_id)
    ]
    if fmt == "openai":
        return OpenAIToolList(
            data=[
                OpenAITool(
                    function=OpenAIFunction(
                        name=exported_name(t.name),
                        description=t.description,
                        parameters=t.parameters,
                    )
                )
                for t in tools
            ]
        )
    if fmt == "anthropic":
        return AnthropicToolList(
            data=[
                AnthropicTool(
                    name=exported_name(t.name),
                    description=t.description,
                    input_schema=t.parameters,
                )
                for t in tools
            ]
        )
    return ToolList(data=tools)


async def get_tool(session: AsyncSession, runtime: Runtime, tenant_id: str, name: str) -> ToolOut:
    name = canonical_name(name)
    builtin = BUILTIN_DEFINITIONS.get(name)
    if builtin is not None:
        return _builtin_out(builtin)
    definition = await custom_definition(session, runtime, tenant_id, name)
    return ToolOut(
        name=definition.name,
        kind="custom",
        description=definition.description,
        parameters=definition.parameters,
        toolset_id=definition.toolset_id,
        requires_connection=False,
    )


# --- invocation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    tool: str  # the name invoked (message.reply stays message.reply in the log)
    provider: str
    params: dict[str, Any]
    connection_id: str | None
    builtin: BuiltinDefinition | None = None
    custom: CustomToolDefinition | None = None


async def invoke(
    session: AsyncSession,
    runtime: Runtime,
    tenant_id: str,
    name: str,
    body: InvokeRequest,
    *,
    credentials: CredentialSource,
    policy: RetryPolicy,
    idempotency_key: str | None = None,
) -> InvokeResult:
    """Run tool ``name`` for the tenant and log it; see the module docstring for the steps."""
    plan = await _plan(session, runtime, tenant_id, canonical_name(name), body)
    claim_id: str | None = None
    if idempotency_key is not None:
        digest = idempotency.request_hash(plan.tool, body)
        claim_id, stored = await idempotency.claim(runtime, tenant_id, idempotency_key, digest)
        if stored is not None:
            return stored
    try:
        # Counted once the call is certain to be attempted (a replay above is free).
        await limits_service.take_quota(runtime, tenant_id, "invocations")
        session_lock = asyncio.Lock()
        call = await _prepare(session, runtime, tenant_id, plan, credentials, session_lock)
        running = run_call(runtime.http, call, limiter_for(runtime), policy)
        if session.in_transaction():
            outcome = await _releasing_connection_when_slow(session, session_lock, running)
        else:  # nothing read: no pooled connection to give back while the call runs
            outcome = await running
    except BaseException:
        if claim_id is not None:
            await idempotency.release(runtime, claim_id)
        raise
    result, row = _record(tenant_id, plan, outcome, idempotency_key)
    writer = log_writer(runtime)
    if claim_id is not None or writer is None:
        await invocation_log.insert(session, row)
    else:
        writer.add(row)
    if claim_id is not None:
        await idempotency.complete(session, claim_id, result)
    return result


async def _releasing_connection_when_slow(
    session: AsyncSession, session_lock: asyncio.Lock, call: Awaitable[CallOutcome]
) -> CallOutcome:
    """Await ``call``; if it outlasts ``RELEASE_CONNECTION_AFTER``, commit the request's read
    transaction meanwhile so its pooled connection is free while the platform answers.

    Fast calls (the common case) keep the connection: their log INSERT then needs no second
    checkout, and the request stays at one write transaction.
    """
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=RELEASE_CONNECTION_AFTER)
        if not done:
            async with session_lock:
                await session.commit()
        return await task
    finally:
        if not task.done():
            task.cancel()


async def _plan(
    session: AsyncSession, runtime: Runtime, tenant_id: str, name: str, body: InvokeRequest
) -> _Plan:
    params = body.parameters
    builtin = BUILTIN_DEFINITIONS.get(name)
    if builtin is None:
        custom = await custom_definition(session, runtime, tenant_id, name)
        validate(custom.validator, name, params)
        connection_id = None
        if custom.uses_connection:
            connection_id = body.connection_id or custom.auth.connection_id
        if connection_id is not None:
            await _check_connection(session, tenant_id, connection_id, provider=None)
        return _Plan(name, name.partition(".")[0], params, connection_id, custom=custom)
    validate(builtin.validator, name, params)
    if builtin.tool is None:  # message.reply
        reply = await plan_reply(session, runtime.keyring, tenant_id, params, body.connection_id)
        await _check_connection(session, tenant_id, reply.connection_id, reply.provider)
        return _Plan(name, reply.provider, reply.params, reply.connection_id, builtin=reply.target)
    if body.connection_id is None:
        raise ValidationFailed(
            f"{name} needs a connection: pass connection_id", code="connection_required"
        )
    await _check_connection(session, tenant_id, body.connection_id, builtin.spec.provider)
    return _Plan(name, builtin.spec.provider, params, body.connection_id, builtin=builtin)


async def _check_connection(
    session: AsyncSession, tenant_id: str, connection_id: str, provider: str | None
) -> None:
    found = await repository.get_connection_provider(session, tenant_id, connection_id)
    if found is None:
        raise NotFound("no such connection", code="connection_not_found")
    resolved = get_provider(found)
    if provider is not None and (resolved.id if resolved else found) != provider:
        raise ValidationFailed(
            f"connection {connection_id} is a {found} connection, not {provider}",
            code="connection_provider_mismatch",
        )


async def _prepare(
    session: AsyncSession,
    runtime: Runtime,
    tenant_id: str,
    plan: _Plan,
    source: CredentialSource,
    session_lock: asyncio.Lock,
) -> ToolCall:
    handle: ConnectionCredentials | None = None
    if plan.connection_id is not None:
        handle = ConnectionCredentials(
            source, session, runtime, tenant_id, plan.connection_id, session_lock
        )
        await handle.load()
    bucket = plan.connection_id
    if plan.custom is not None:
        definition = plan.custom
        definitions = definition_cache(runtime)

        def build_custom(creds: ToolCredentials | None) -> PreparedRequest:
            auth = definitions.auth_material(definition, runtime.keyring, creds)
            built = build_request(definition, plan.params, auth)
            return PreparedRequest(built.request, built.log_target, auth.secrets)

        def parse_custom(response: Any, body: bytes) -> ToolOutput:
            output = decode_output(response, body)
            return classify_response(
                response,
                body,
                output,
                refreshable=definition.uses_connection,
                provider=plan.provider,
            )

        return ToolCall(plan.tool, plan.provider, bucket, build_custom, parse_custom, handle)

    assert plan.builtin is not None
    assert plan.builtin.tool is not None
    tool = plan.builtin.tool

    def build_builtin(creds: ToolCredentials | None) -> PreparedRequest:
        assert creds is not None
        request = tool.build_request(plan.params, creds)
        token = creds.access_token.get_secret_value()
        return PreparedRequest(request, redact_url(request.url), (token,))

    return ToolCall(plan.tool, plan.provider, bucket, build_builtin, tool.parse_response, handle)


@functools.lru_cache(maxsize=64)
def _invocations_counter(tool: str, outcome: str) -> Counter:
    """The metric child of (tool, outcome), looked up once: ``labels()`` takes a lock."""
    return TOOL_INVOCATIONS.labels(tool, outcome)


def _record(
    tenant_id: str, plan: _Plan, outcome: CallOutcome, idempotency_key: str | None
) -> tuple[InvokeResult, dict[str, Any]]:
    """The caller's result and the log row (redacted, truncated) of one invocation."""
    invocation_id = new_id("inv")
    error = outcome.error
    tool_error = None
    if error is not None:
        tool_error = ToolError(
            code=error.code,
            message=error.message,
            platform_code=getattr(error, "platform_code", None),
            retry_after=getattr(error, "retry_after", None),
        )
    request = outcome.request
    secrets = outcome.secrets
    row = row_values(
        id=invocation_id,
        tenant_id=tenant_id,
        tool=plan.tool,
        toolset_id=plan.custom.toolset_id if plan.custom else None,
        connection_id=plan.connection_id,
        outcome="ok" if outcome.ok else "error",
        status_code=outcome.status_code,
        error_code=tool_error.code if tool_error else None,
        error_message=excerpt(tool_error.message, secrets) if tool_error else None,
        platform_code=tool_error.platform_code if tool_error else None,
        attempts=outcome.attempts,
        duration_ms=round(outcome.duration_ms, 3),
        request_method=request.request.method if request else None,
        request_target=request.log_target if request else None,
        request_body=excerpt(request.request.content, secrets) if request else None,
        response_body=excerpt(outcome.response_body, secrets),
        idempotency_key=idempotency_key,
        created_at=utcnow(),
    )
    _invocations_counter(
        plan.tool if plan.custom is None else "custom", "ok" if outcome.ok else "error"
    ).inc()
    return InvokeResult(
        ok=outcome.ok,
        status_code=outcome.status_code,
        output=outcome.output,
        error=tool_error,
        attempts=outcome.attempts,
        duration_ms=round(outcome.duration_ms, 3),
        invocation_id=invocation_id,
    ), row
