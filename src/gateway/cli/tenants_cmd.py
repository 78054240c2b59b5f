from __future__ import annotations

import json

import typer

from gateway.cli.common import database, fail, load_settings, run
from gateway.kit.errors import GatewayError
from gateway.tenants import repository as tenant_repo
from gateway.tenants import service as tenant_service

tenants = typer.Typer(help="Tenants.", no_args_is_help=True)
api_keys = typer.Typer(help="Tenant API keys.", no_args_is_help=True)


@tenants.command("create")
def create_tenant(
    name: str = typer.Argument(..., help="Unique tenant name."),
    as_json: bool = typer.Option(False, "--json", help='Print {"tenant_id", "api_key"}.'),
) -> None:
    """Create a tenant and its first API key (the key is printed once)."""
    settings = load_settings()

    async def _go() -> tuple[str, str]:
        async with database(settings) as maker, maker() as session:
            tenant = await tenant_service.create_tenant(session, name)
            issued = await tenant_service.create_api_key(session, tenant, label="first key")
            await session.commit()
            return tenant.id, issued.plaintext

    try:
        tenant_id, key = run(_go)
    except GatewayError as exc:
        fail(exc.message)
    if as_json:
        typer.echo(json.dumps({"tenant_id": tenant_id, "api_key": key}))
    else:
        typer.echo(f"tenant {name} ({tenant_id})\napi key (shown once): {key}")


@tenants.command("list")
def list_tenants() -> None:
    """List tenants."""
    settings = load_settings()

    async def _go() -> list[tuple[str, str]]:
        async with database(settings) as maker, maker() as session:
            return [(t.id, t.name) for t in await tenant_repo.list_tenants(session)]

    for tenant_id, name in run(_go):
        typer.echo(f"{tenant_id}  {name}")


@api_keys.command("create")
def create_key(
    tenant: str = typer.Option(..., "--tenant", help="Tenant name."),
    label: str = typer.Option(None, help="A label to recognise the key by."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Issue another API key for a tenant (printed once)."""
    settings = load_settings()

    async def _go() -> tuple[str, str]:
        async with database(settings) as maker, maker() as session:
            row = await tenant_repo.get_tenant_by_name(session, tenant)
            if row is None:
                fail(f"no tenant named {tenant!r}")
            issued = await tenant_service.create_api_key(session, row, label=label)
            await session.commit()
            return issued.api_key.id, issued.plaintext

    key_id, key = run(_go)
    if as_json:
        typer.echo(json.dumps({"id": key_id, "api_key": key}))
    else:
        typer.echo(f"key {key_id}\napi key (shown once): {key}")


@api_keys.command("revoke")
def revoke_key(key_id: str = typer.Argument(..., help="The key's id (key_…).")) -> None:
    """Revoke an API key; requests using it get 401 from now on."""
    settings = load_settings()

    async def _go() -> None:
        async with database(settings) as maker, maker() as session:
            await tenant_service.revoke_api_key(session, key_id)
            await session.commit()

    try:
        run(_go)
    except GatewayError as exc:
        fail(exc.message)
    typer.echo(f"revoked {key_id}")
