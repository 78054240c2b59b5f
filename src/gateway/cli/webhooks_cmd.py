"""``gateway webhooks send`` (a platform delivery, signed like the platform signs it) and
``gateway webhooks samples`` (the sample events shipped per platform).

The command runs beside the server with the same settings: it reads the endpoint from the
database, decrypts its config with the keyring, signs the sample per the endpoint's provider
(``gateway.sandbox.deliveries``) and POSTs it to the running service, like ``stripe trigger``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

import httpx
import typer
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.cli.common import console, database, fail, keyring_for, load_settings, run
from gateway.events import repository as events_repository
from gateway.events.schemas import EventFilters
from gateway.events.states import EventStatus
from gateway.kit.errors import DecryptionFailed, GatewayError
from gateway.kit.http import create_http_client
from gateway.kit.pagination import PageParams
from gateway.kit.settings import Settings
from gateway.models import Event, WebhookEndpoint
from gateway.models.base import utcnow
from gateway.providers.registry import get_provider
from gateway.sandbox.deliveries import DeliveryError, build_delivery
from gateway.tenants import service as tenant_service
from gateway.webhooks import repository as endpoints
from gateway.webhooks.service import config_document, load_configs

SAMPLES_DIR: Final = Path(__file__).resolve().parents[3] / "samples"
_FINAL: Final = (EventStatus.PROCESSED.value, EventStatus.DEAD.value)
_SHOWN_BYTES: Final = 2000

app = typer.Typer(
    help="Send sample platform events to a webhook endpoint of the running gateway.",
    no_args_is_help=True,
)


def _samples(provider: str) -> list[Path]:
    folder = SAMPLES_DIR / provider
    return sorted(folder.glob("*.json")) + sorted(folder.glob("*.xml")) if folder.is_dir() else []


def _choose_sample(provider: str, file: Path | None, sample: str | None) -> Path:
    if file is not None:
        return file
    found = {path.stem: path for path in _samples(provider)}
    if not found:
        fail(f"no samples for {provider} in {SAMPLES_DIR}; pass --file")
    name = sample or ("message" if "message" in found else sorted(found)[0])
    if name not in found:
        fail(f"no sample {name!r} for {provider}; one of: {', '.join(sorted(found))}")
    return found[name]


@dataclass(frozen=True)
class _Target:
    endpoint: WebhookEndpoint
    provider: str
    config: dict[str, object]
    seen: frozenset[str]  # ids of the endpoint's recent events, before sending


async def _load_target(settings: Settings, endpoint_id: str, api_key: str | None) -> _Target:
    keyring = keyring_for(settings)
    async with database(settings) as maker, maker() as session:
        row = await endpoints.get_endpoint(session, endpoint_id)
        if row is None:
            fail(f"no webhook endpoint {endpoint_id!r} in {settings.resolved_database_url}")
        if api_key is not None:
            try:
                tenant = await tenant_service.authenticate(session, api_key)
            except GatewayError as exc:
                fail(f"--api-key: {exc.message}")
            if tenant.id != row.tenant_id:
                fail(f"endpoint {endpoint_id} does not belong to the API key's tenant")
        try:
            config = config_document(load_configs(keyring, row).current)
        except (DecryptionFailed, ValueError):
            fail("the endpoint's config cannot be decrypted with the configured keys")
        seen = frozenset(e.id for e in await _recent_events(session, row, since_seconds=3600))
    provider = get_provider(row.provider)
    return _Target(row, provider.id if provider else row.provider, config, seen)


async def _recent_events(
    session: AsyncSession, row: WebhookEndpoint, since_seconds: float
) -> list[Event]:
    """The endpoint's latest events received in the last ``since_seconds``, newest first."""
    filters = EventFilters(endpoint_id=row.id, since=utcnow() - timedelta(seconds=since_seconds))
    page = PageParams(limit=50, cursor=None)
    return await events_repository.list_tenant_events(session, row.tenant_id, filters, page)


async def _wait_for_event(settings: Settings, target: _Target, seconds: float) -> Event | None:
    """The endpoint's new event once processed (or dead); None if none shows up in time."""
    deadline = time.monotonic() + seconds
    newest: Event | None = None
    async with database(settings) as maker:
        while time.monotonic() < deadline:
            async with maker() as session:
                fresh = [
                    e
                    for e in await _recent_events(session, target.endpoint, 120)
                    if e.id not in target.seen
                ]
            newest = fresh[0] if fresh else None
            if newest is not None and newest.status in _FINAL:
                return newest
            await asyncio.sleep(0.2)
    return newest


def _shown(response: httpx.Response) -> str:
    text = response.content[:_SHOWN_BYTES].decode("utf-8", "replace")
    return text if text else "(empty body)"


@app.command("send")
def send(
    endpoint: str = typer.Option(..., "--endpoint", help="Webhook endpoint id (whe_…)."),
    file: Path | None = typer.Option(
        None,
        "--file",
        exists=True,
        dir_okay=False,
        help="The event to send: JSON (WeCom also XML). Default: a shipped sample.",
    ),
    sample: str | None = typer.Option(
        None,
        "--sample",
        help="A shipped sample of the endpoint's platform by name, e.g. app_mention "
        "(list them: gateway webhooks samples). Default: message.",
    ),
    url: str | None = typer.Option(
        None, "--url", help="Base URL of the running gateway (default: GATEWAY_PUBLIC_BASE_URL)."
    ),
    api_key: str | None = typer.Option(
        None,
        "--api-key",
        envvar="GATEWAY_API_KEY",
        help="Refuse unless the endpoint belongs to this API key's tenant.",
    ),
    keep_ids: bool = typer.Option(
        False, "--keep-ids", help="Keep the sample's event ids (send twice: the gateway dedups)."
    ),
    event: str | None = typer.Option(
        None, "--event", help="GitHub's X-GitHub-Event (default: the file name, e.g. push)."
    ),
    discord_private_key: str | None = typer.Option(
        None,
        "--discord-private-key",
        envvar="GATEWAY_DISCORD_PRIVATE_KEY",
        help="Discord only: the Ed25519 seed (64 hex) of the endpoint's public_key.",
    ),
    wait: float = typer.Option(
        10.0, "--wait", min=0, help="Seconds to wait for the event to be processed (0: don't)."
    ),
) -> None:
    """Sign a platform event with the endpoint's secrets, exactly as the platform would, and
    POST it to the running gateway; prints the answer and the stored event."""
    settings = load_settings()
    target = run(lambda: _load_target(settings, endpoint, api_key))
    path = _choose_sample(target.provider, file, sample)
    try:
        delivery = build_delivery(
            target.provider,
            target.config,
            path.read_bytes(),
            now=time.time(),
            keep_ids=keep_ids,
            discord_private_key=discord_private_key,
            event_name=event or path.stem,
        )
    except DeliveryError as exc:
        fail(str(exc))
    base = (url or settings.resolved_public_base_url).rstrip("/")
    target_url = f"{base}/webhooks/{target.endpoint.provider}/{target.endpoint.id}"

    async def _post() -> httpx.Response:
        client = create_http_client(policy=None, timeout=30.0)
        try:
            return await client.request(
                delivery.method,
                target_url,
                params=delivery.query,
                headers=delivery.headers,
                content=delivery.body,
            )
        finally:
            await client.aclose()

    console.print(
        f"POST {target_url}  ({path.name}, {target.provider})", highlight=False, soft_wrap=True
    )
    try:
        response = run(_post)
    except httpx.HTTPError as exc:
        fail(f"the gateway at {base} did not answer ({type(exc).__name__}); is it running?", 1)
    typer.echo(f"{response.status_code} {response.reason_phrase}")
    typer.echo(_shown(response))
    if not response.is_success:
        raise typer.Exit(1)
    if wait <= 0:
        return
    with console.status("Waiting for the gateway to process the event…"):
        stored = run(lambda: _wait_for_event(settings, target, wait))
    if stored is None:
        console.print("No new event stored: a handshake, or a duplicate the gateway dropped.")
        return
    typer.echo(f"event {stored.id}  {stored.type or '-'}  {stored.status}")


@app.command("samples")
def samples(
    provider: str | None = typer.Argument(None, help="Only this platform's samples."),
) -> None:
    """List the sample events shipped per platform (for `gateway webhooks send --sample`)."""
    folders = [SAMPLES_DIR / provider] if provider else sorted(SAMPLES_DIR.glob("*"))
    found = False
    for folder in folders:
        for path in _samples(folder.name):
            found = True
            typer.echo(f"{folder.name:<10} {path.stem:<22} {path.relative_to(SAMPLES_DIR.parent)}")
    if not found:
        fail(f"no samples found{f' for {provider}' if provider else ''} in {SAMPLES_DIR}", 1)
