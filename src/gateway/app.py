"""The FastAPI application: lifespan owns the runtime, routers are mounted, errors rendered."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from gateway import jobs
from gateway.audit.router import router as audit_router
from gateway.catalogue.router import router as catalogue_router
from gateway.connections.router import router as connections_router
from gateway.events.router import router as events_router
from gateway.invocations.router import router as invocations_router
from gateway.kit.middleware import BodyLimitMiddleware, RequestContextMiddleware
from gateway.kit.problems import (
    document_api_limits,
    document_request_problems,
    install_problem_handlers,
    move_problems_to_their_media_type,
)
from gateway.kit.queue import PeriodicJob
from gateway.kit.runtime import Runtime, open_runtime
from gateway.kit.settings import Settings
from gateway.limits.middleware import RateLimitHeadersMiddleware
from gateway.limits.router import router as limits_router
from gateway.oauth_flow.router import api_router as oauth_api_router
from gateway.oauth_flow.router import browser_router as oauth_browser_router
from gateway.ops.router import router as ops_router
from gateway.sandbox.router import router as sandbox_router
from gateway.sandbox.store import sandbox_enabled
from gateway.subscriptions.router import router as subscriptions_router
from gateway.tenants.router import router as tenants_router
from gateway.tools.router import invoke_route
from gateway.tools.router import router as tools_router
from gateway.toolsets.router import router as toolsets_router
from gateway.webhooks.ingest_router import receiver_route
from gateway.webhooks.ingest_router import router as webhook_receiver_router
from gateway.webhooks.router import router as webhook_endpoints_router

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Self-hosted integration gateway for Slack, Discord, Telegram, Lark/Feishu, DingTalk and WeCom.

**Connect** accounts (OAuth 2.0 with PKCE, or credentials), **receive** verified webhooks as one
event model, and **act** through built-in and OpenAPI-imported tools.

Authenticate with `Authorization: Bearer <api key>`. Errors are RFC 9457
`application/problem+json` documents with a stable `code`.
"""


async def _run_periodic(job: PeriodicJob, runtime: Runtime) -> None:
    ctx: dict[str, Any] = {"runtime": runtime, "job_try": 1}
    while True:
        await asyncio.sleep(job.interval_seconds)
        try:
            await job.function(ctx)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("periodic job %s failed", job.name)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, tasks=jobs.TASKS) as runtime:
            app.state.runtime = runtime
            # The started app holds ~170k GC-tracked objects (modules, models, metadata). Every
            # full collection rescanned them all: 150-300 ms pauses that set the receive path's
            # p99. Frozen (moved to the permanent generation), they are skipped; refcounting
            # still frees them.
            gc.freeze()
            loops: list[asyncio.Task[None]] = []
            if not settings.redis_url:
                loops = [asyncio.create_task(_run_periodic(j, runtime)) for j in jobs.PERIODIC]
            try:
                yield
            finally:
                for loop in loops:
                    loop.cancel()
                for loop in loops:
                    with contextlib.suppress(asyncio.CancelledError):
                        await loop

    app = FastAPI(
        title="Integration Gateway",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # No OpenTelemetry here: otherwise FastAPI asks the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.include_router(ops_router)
    for router in _domain_routers():
        app.include_router(router)
    if sandbox_enabled(settings):  # the practice platform: development unless enabled
        app.include_router(sandbox_router)
    # Deliveries are matched first, at the top level, before FastAPI's per-router bookkeeping.
    app.router.routes.insert(0, receiver_route())
    app.router.routes.insert(1, invoke_route(app))  # tool invocation: the other hot path
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        schema = move_problems_to_their_media_type(base_openapi())
        return document_request_problems(document_api_limits(schema))

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware)
    return app


def _domain_routers() -> list[Any]:
    """Every domain router, in the order they appear in the OpenAPI document."""
    return [
        # First: routes are matched in order and this is the hot path (each router ahead of
        # it costs every webhook delivery a scan of its routes).
        webhook_receiver_router,
        tenants_router,
        catalogue_router,
        connections_router,
        oauth_api_router,
        oauth_browser_router,
        audit_router,
        subscriptions_router,
        webhook_endpoints_router,
        events_router,
        limits_router,
        tools_router,
        toolsets_router,
        invocations_router,
    ]
