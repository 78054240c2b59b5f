"""``gateway tenants limits NAME``: show or override a tenant's rate limits and quotas."""

from __future__ import annotations

import json

import typer

from gateway.cli.common import database, fail, load_settings, run
from gateway.limits import policy
from gateway.limits import repository as limits_repository
from gateway.limits import service as limits_service
from gateway.limits.policy import LimitName
from gateway.models import TenantLimits
from gateway.tenants import repository as tenant_repo

VALUE_HELP = "N, 'unlimited' (or 0), or 'default' (back to the GATEWAY_* setting)"


def _parse(option: str, raw: str) -> int | None:
    text = raw.strip().lower()
    if text == "default":
        return None
    if text == "unlimited":
        return 0
    try:
        number = int(text)
    except ValueError:
        fail(f"{option} takes {VALUE_HELP}; got {raw!r}")
    if number < 0:
        fail(f"{option} cannot be negative")
    return number


def _shown(number: int) -> str:
    return "unlimited" if number == 0 else str(number)


def tenant_limits(
    name: str = typer.Argument(..., help="Tenant name."),
    rpm: str = typer.Option(
        None, "--rpm", help=f"API requests/minute, whole tenant: {VALUE_HELP}."
    ),
    key_rpm: str = typer.Option(None, "--key-rpm", help="API requests/minute per API key."),
    webhook_rps: str = typer.Option(
        None, "--webhook-rps", help="Verified webhook requests/second per endpoint."
    ),
    events_per_day: str = typer.Option(None, "--events-per-day", help="Stored events per UTC day."),
    invocations_per_day: str = typer.Option(
        None, "--invocations-per-day", help="Tool invocations per UTC day."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the effective limits as JSON."),
) -> None:
    """Show a tenant's limits, or override some of them (running servers pick the change up
    within GATEWAY_LIMITS_CACHE_SECONDS)."""
    given: dict[LimitName, tuple[str, str | None]] = {
        "api_rpm": ("--rpm", rpm),
        "api_key_rpm": ("--key-rpm", key_rpm),
        "webhook_rps": ("--webhook-rps", webhook_rps),
        "events_per_day": ("--events-per-day", events_per_day),
        "invocations_per_day": ("--invocations-per-day", invocations_per_day),
    }
    changes = {n: _parse(opt, raw) for n, (opt, raw) in given.items() if raw is not None}
    settings = load_settings()

    async def _go() -> tuple[str, policy.EffectiveLimits]:
        async with database(settings) as maker, maker() as session:
            tenant = await tenant_repo.get_tenant_by_name(session, name)
            if tenant is None:
                fail(f"no tenant named {name!r}")
            row: TenantLimits | None
            if changes:
                row = await limits_service.set_tenant_limits(session, tenant.id, changes)
                await session.commit()
            else:
                row = await limits_repository.get_tenant_limits(session, tenant.id)
            return tenant.id, policy.resolve(settings, row)

    tenant_id, limits = run(_go)
    if as_json:
        body = {n: limits.value(n) or None for n in policy.LIMIT_NAMES}
        typer.echo(
            json.dumps(
                {"tenant_id": tenant_id, "limits": body, "overridden": sorted(limits.overridden)}
            )
        )
        return
    typer.echo(f"tenant {name} ({tenant_id})" + ("  updated" if changes else ""))
    for n in policy.LIMIT_NAMES:
        source = "tenant" if n in limits.overridden else "default"
        typer.echo(f"  {n:<20} {_shown(limits.value(n)):>10}  {source}")
