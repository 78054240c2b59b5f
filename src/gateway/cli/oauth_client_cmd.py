from __future__ import annotations

import typer
from pydantic import SecretStr

from gateway.cli.common import database, fail, keyring_for, load_settings, parse_json_object, run
from gateway.models import SYSTEM_OWNER
from gateway.oauth_clients import service as client_service

app = typer.Typer(
    help="System OAuth clients (fallback when a tenant has none).", no_args_is_help=True
)


@app.command("set")
def set_client(
    provider: str = typer.Option(..., "--provider", help="Provider id, e.g. slack."),
    client_params: str = typer.Option(
        ..., "--client-params", help='JSON: {"client_id", "client_secret", "scopes"?: [..]}'
    ),
) -> None:
    """Store (or replace) the system OAuth client for a provider, secret encrypted."""
    params = parse_json_object(client_params, "--client-params")
    missing = [
        k
        for k in ("client_id", "client_secret")
        if not isinstance(params.get(k), str) or not params[k]
    ]
    if missing:
        fail(f"--client-params is missing {', '.join(missing)} (non-empty strings)")
    scopes = params.get("scopes", [])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        fail("--client-params scopes must be a list of strings")
    settings = load_settings()
    keyring = keyring_for(settings)

    async def _go() -> None:
        async with database(settings) as maker, maker() as session:
            await client_service.set_client(
                session,
                keyring,
                owner=SYSTEM_OWNER,
                provider=provider,
                client_id=params["client_id"],
                client_secret=SecretStr(params["client_secret"]),
                scopes=scopes,
            )
            await session.commit()

    run(_go)
    typer.echo(f"system OAuth client for {provider} saved (client_id {params['client_id']})")


@app.command("list")
def list_clients() -> None:
    """List system OAuth clients (never their secrets)."""
    settings = load_settings()

    async def _go() -> list[tuple[str, str, list[str]]]:
        async with database(settings) as maker, maker() as session:
            rows = await client_service.list_clients(session, owner=SYSTEM_OWNER)
            return [(r.provider, r.client_id, r.scopes) for r in rows]

    rows = run(_go)
    if not rows:
        typer.echo("no system OAuth clients")
    for provider, client_id, scopes in rows:
        typer.echo(f"{provider}\tclient_id={client_id}\tscopes={','.join(scopes) or '-'}")


@app.command("delete")
def delete_client(provider: str = typer.Option(..., "--provider")) -> None:
    """Delete the system OAuth client for a provider."""
    settings = load_settings()

    async def _go() -> bool:
        async with database(settings) as maker, maker() as session:
            deleted = await client_service.delete_client(
                session, owner=SYSTEM_OWNER, provider=provider
            )
            await session.commit()
            return deleted

    if not run(_go):
        fail(f"no system OAuth client for {provider}", code=1)
    typer.echo(f"deleted system OAuth client for {provider}")
