from __future__ import annotations

from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from gateway.deps import RuntimeDep
from gateway.kit.db import DB_UNAVAILABLE_ERRORS

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]
    queue: Literal["ok", "unavailable", "in_process"]


@router.get("/healthz", operation_id="health_check", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readiness_check",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is unavailable"}},
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """Readiness: the database answers, and Redis when configured."""
    database: Literal["ok", "unavailable"] = "ok"
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except DB_UNAVAILABLE_ERRORS:
        database = "unavailable"
    queue: Literal["ok", "unavailable", "in_process"] = "in_process"
    if runtime.settings.redis_url:
        queue = "ok" if runtime.queue is not None and await runtime.queue.ping() else "unavailable"
    ready = database == "ok" and queue != "unavailable"
    body = Readiness(status="ok" if ready else "unavailable", database=database, queue=queue)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    operation_id="prometheus_metrics",
    response_class=Response,
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition",
        }
    },
)
async def metrics() -> Response:
    """Prometheus metrics: request counts/latency by route, webhook and queue figures."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
