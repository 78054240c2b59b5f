"""``gateway connections list``: every tenant's connections (or one tenant's), never a token."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

import typer

from gateway.cli.common import database, fail, load_settings, run
from gateway.connections import repository as connections
from gateway.kit.pagination import PageParams, encode_cursor
from gateway.models import Connection
from gateway.tenants import repository as tenant_repo

_PAGE: Final = 200
_STATUSES: Final = ("active", "refreshing", "needs_reauth", "revoked")

app = typer.Typer(help="Connections to platform accounts.", no_args_is_help=True)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def connection_document(row: Connection, tenant_name: str) -> dict[str, Any]:
    """What the CLI shows of a connection: the API's fields, no token values."""
    return {
        "id": row.id,
        "tenant": tenant_name,
        "provider": row.provider,
        "auth_kind": row.auth_kind,
        "status": row.status,
        "label": row.label,
        "scopes": list(row.scopes),
        "account": dict(row.account),
        "expires_at": _iso(row.expires_at),
        "last_error_code": row.last_error_code,
        "created_at": _iso(row.created_at),
    }


async def _collect(
    tenant: str | None, provider: str | None, status: str | None
) -> list[dict[str, Any]]:
    settings = load_settings()
    documents: list[dict[str, Any]] = []
    async with database(settings) as maker, maker() as session:
        if tenant is None:
            tenants = await tenant_repo.list_tenants(session)
        else:
            found = await tenant_repo.get_tenant_by_name(session, tenant)
            if found is None:
                fail(f"no tenant named {tenant!r}")
            tenants = [found]
        for row in tenants:
            cursor: str | None = None
            while True:
                params = PageParams(limit=_PAGE, cursor=cursor)
                page = await connections.list_page(
                    session, row.id, params, status=status, provider=provider
                )
                documents.extend(connection_document(c, row.name) for c in page[:_PAGE])
                if len(page) <= _PAGE:
                    break
                cursor = encode_cursor(page[_PAGE - 1].id)
    return documents


@app.command("list")
def list_connections(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant (by name)."),
    provider: str | None = typer.Option(None, "--provider", help="Only this provider."),
    status: str | None = typer.Option(
        None, "--status", help=f"Only this status: {', '.join(_STATUSES)}."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON array instead of a table."),
) -> None:
    """List connections with their status, scopes, account and expiry (tokens never shown)."""
    if status is not None and status not in _STATUSES:
        fail(f"--status must be one of {', '.join(_STATUSES)}")
    rows = run(lambda: _collect(tenant, provider, status))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no connections")
        return
    for row in rows:
        who = row["account"].get("workspace_name") or row["account"].get("team_name") or ""
        typer.echo(
            f"{row['id']}  {row['tenant']}  {row['provider']}  {row['status']}  "
            f"{row['label'] or '-'}  {who or '-'}  expires {row['expires_at'] or 'never'}"
        )
