"""``/v1/invocations``. The router's lifespan owns the process's
:class:`~gateway.invocations.writer.InvocationLogWriter`; both routes flush it before reading,
so an invocation answered by this process is listed at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query

from gateway.deps import RuntimeDep, SessionDep, TenantDep
from gateway.invocations import repository
from gateway.invocations.schemas import InvocationOut
from gateway.invocations.service import to_out
from gateway.invocations.sqlite_sink import SqliteLogSink
from gateway.invocations.writer import STATE_KEY, InvocationLogWriter, flush_log
from gateway.kit.errors import NotFound
from gateway.kit.pagination import Page, PageParams, make_page, page_params
from gateway.kit.problems import problem_responses
from gateway.kit.runtime import Runtime
from gateway.models import ToolInvocation


@asynccontextmanager
async def log_writer_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app lifespan (the runtime exists): start the log writer, and write
    everything it still holds before the engine is disposed."""
    runtime: Runtime = app.state.runtime
    writer = InvocationLogWriter(runtime.engine, sink=SqliteLogSink.for_engine(runtime.engine))
    runtime.extras[STATE_KEY] = writer
    try:
        yield
    finally:
        await writer.close()
        runtime.extras.pop(STATE_KEY, None)


router = APIRouter(
    prefix="/v1/invocations",
    tags=["invocations"],
    responses=problem_responses(401, 422),
    lifespan=log_writer_lifespan,
)


async def tenant_invocation(
    invocation_id: Annotated[str, Path(max_length=40)],
    tenant: TenantDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ToolInvocation:
    await flush_log(runtime)
    row = await repository.get(session, tenant.id, invocation_id)
    if row is None:
        raise NotFound("no such invocation", code="invocation_not_found")
    return row


TenantInvocationDep = Annotated[ToolInvocation, Depends(tenant_invocation)]


@router.get(
    "",
    operation_id="list_invocations",
    response_model=Page[InvocationOut],
    responses=problem_responses(400),
)
async def list_invocations(
    tenant: TenantDep,
    session: SessionDep,
    runtime: RuntimeDep,
    page: Annotated[PageParams, Depends(page_params)],
    tool: Annotated[str | None, Query(max_length=120, description="Only this tool")] = None,
    outcome: Annotated[
        Literal["ok", "error"] | None, Query(description="Only this outcome")
    ] = None,
) -> Page[InvocationOut]:
    """The tool invocation log, newest first: tool, connection, outcome, status, attempts,
    duration, the request target with credentials masked and truncated bodies. Auth headers
    and tokens are never recorded."""
    await flush_log(runtime)
    rows = await repository.list_page(session, tenant.id, page, tool=tool, outcome=outcome)
    return Page[InvocationOut].model_validate(make_page(rows, page, to_out))


@router.get(
    "/{invocation_id}",
    operation_id="get_invocation",
    response_model=InvocationOut,
    responses=problem_responses(404),
)
async def get_invocation(invocation: TenantInvocationDep) -> InvocationOut:
    """One logged invocation."""
    return to_out(invocation)
