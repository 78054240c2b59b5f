from __future__ import annotations

import logging

import typer
import uvicorn

from gateway.app import create_app
from gateway.cli.common import console, database, fail, keyring_for, load_settings, run
from gateway.kit.db import DB_UNAVAILABLE_ERRORS
from gateway.kit.logging import configure_logging
from gateway.kit.migrations import upgrade
from gateway.kit.settings import Settings
from gateway.tenants import repository as tenant_repo
from gateway.tenants import service as tenant_service
from gateway.worker import run_worker

logger = logging.getLogger(__name__)


async def bootstrap_embedded(settings: Settings) -> str | None:
    """Embedded mode: apply migrations; on first start create the ``default`` tenant.

    Returns the new tenant's API key (printed once), or None when it already existed.
    """
    async with database(settings) as maker:
        await upgrade(maker.kw["bind"], settings)
        async with maker() as session:
            if await tenant_repo.list_tenants(session):
                return None
            tenant = await tenant_service.create_tenant(session, "default")
            issued = await tenant_service.create_api_key(session, tenant, label="first key")
            await session.commit()
            return issued.plaintext


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Run the API (embedded mode also runs the in-process dispatcher)."""
    settings = load_settings(check=True)
    configure_logging(settings.log_level, json_output=settings.log_json)
    keyring_for(settings)  # creates the development key on first start, refuses bad keys
    if not settings.is_production and settings.is_sqlite:
        try:
            key = run(lambda: bootstrap_embedded(settings))
        except DB_UNAVAILABLE_ERRORS as exc:
            fail(f"database unreachable: {type(exc).__name__}")
        if key:
            console.print(
                "\n[bold]Created tenant 'default'.[/bold] Its API key (shown once, keep it):\n"
            )
            typer.echo(key)
            console.print()
    console.print(
        f"Gateway on http://{host}:{port} — API docs at http://{host}:{port}/docs", highlight=False
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )


def worker() -> None:
    """Run an arq worker (production: needs GATEWAY_REDIS_URL)."""
    settings = load_settings(check=True)
    configure_logging(settings.log_level, json_output=settings.log_json)
    run_worker(settings)
