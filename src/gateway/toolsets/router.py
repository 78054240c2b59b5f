from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from gateway.deps import RuntimeDep, SessionDep, TenantDep
from gateway.kit.lookups import or_404
from gateway.kit.pagination import Page, PageParams, make_page, page_params
from gateway.kit.problems import PROBLEM_MEDIA_TYPE, Problem, problem_responses
from gateway.models import Toolset
from gateway.toolsets import repository, service
from gateway.toolsets.schemas import ToolsetCreate, ToolsetOut

router = APIRouter(prefix="/v1/toolsets", tags=["toolsets"], responses=problem_responses(401, 422))

_get_toolset = or_404(repository.get, "no such toolset", code="toolset_not_found")


async def tenant_toolset(
    toolset_id: Annotated[str, Path(max_length=40)], tenant: TenantDep, session: SessionDep
) -> Toolset:
    """The toolset of this tenant, else 404 (also for another tenant's id)."""
    return await _get_toolset(session, tenant.id, toolset_id)


TenantToolsetDep = Annotated[Toolset, Depends(tenant_toolset)]
_CONFLICT: dict[int | str, dict[str, object]] = {
    409: {
        "model": Problem,
        "content": {PROBLEM_MEDIA_TYPE: {}},
        "description": "A toolset with this name exists",
    }
}


@router.post(
    "",
    operation_id="create_toolset",
    response_model=ToolsetOut,
    status_code=201,
    responses={**problem_responses(404, 413), **_CONFLICT},
)
async def create_toolset(
    body: ToolsetCreate, tenant: TenantDep, session: SessionDep, runtime: RuntimeDep
) -> ToolsetOut:
    """Import an OpenAPI 3.0/3.1 document (object, JSON or YAML text) as custom tools, one per
    operation, named `{name}.{operationId}`.

    Local `$ref`s are resolved; parameters come from path, query, header and JSON/form bodies.
    `auth` binds credentials injected into every call: `none`, `api_key` (header or query;
    placement from the document's `securitySchemes` unless given), `basic`, or
    `oauth_connection` (the bearer token of a stored connection, refreshed as needed). Secrets
    are write-only. An invalid document is a 422 listing each problem as a JSON pointer and a
    message; a server URL on a private, loopback or metadata address is refused (422
    `destination_blocked`). Operations that cannot be called (multipart bodies, required
    cookies) are listed in `skipped`.
    """
    return await service.create(session, runtime, tenant.id, body)


@router.get(
    "",
    operation_id="list_toolsets",
    response_model=Page[ToolsetOut],
    responses=problem_responses(400),
)
async def list_toolsets(
    tenant: TenantDep, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]
) -> Page[ToolsetOut]:
    """The tenant's toolsets, newest first, with their tool names (never their secrets)."""
    rows = await repository.list_page(session, tenant.id, page)
    names = await repository.tool_names(session, tenant.id, [r.id for r in rows])
    return Page[ToolsetOut].model_validate(
        make_page(rows, page, lambda row: service.to_out(row, names.get(row.id, [])))
    )


@router.get(
    "/{toolset_id}",
    operation_id="get_toolset",
    response_model=ToolsetOut,
    responses=problem_responses(404),
)
async def get_toolset(
    toolset: TenantToolsetDep, tenant: TenantDep, session: SessionDep
) -> ToolsetOut:
    """One toolset and its tool names."""
    names = await repository.tool_names(session, tenant.id, [toolset.id])
    return service.to_out(toolset, names[toolset.id])


@router.delete(
    "/{toolset_id}",
    operation_id="delete_toolset",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404),
)
async def delete_toolset(
    toolset: TenantToolsetDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """Delete a toolset, its tools and its stored credentials. The invocation log keeps its
    entries."""
    await service.delete(session, runtime, toolset)
    return Response(status_code=204)
