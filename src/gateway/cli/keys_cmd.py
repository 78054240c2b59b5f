from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.cli.common import console, database, fail, keyring_for, load_settings, run
from gateway.keys import service as key_service
from gateway.kit.crypto import generate_key_line
from gateway.kit.keystore import add_dev_key

app = typer.Typer(help="Encryption keyring: generate, rotate, status.", no_args_is_help=True)


@app.command("generate")
def generate(key_id: str = typer.Option(None, help="Key id (default: random).")) -> None:
    """Print a new `key_id:base64key` (last line). Prepend it to GATEWAY_ENCRYPTION_KEYS."""
    console.print(
        "Prepend this to GATEWAY_ENCRYPTION_KEYS (newest first), restart, then run "
        "`gateway keys rotate`:"
    )
    typer.echo(generate_key_line(key_id))


@app.command("add-dev-key")
def add_dev() -> None:
    """Development mode only: prepend a fresh key to the local development key file."""
    settings = load_settings()
    if settings.encryption_keys is not None or settings.is_production:
        fail("keys come from GATEWAY_ENCRYPTION_KEYS here: use `gateway keys generate`")
    keyring_for(settings)
    typer.echo(f"added key {add_dev_key(settings)} (newest); run `gateway keys rotate`")


@app.command("rotate")
def rotate(batch_size: int = typer.Option(500, min=1, help="Rows per transaction.")) -> None:
    """Re-encrypt every stored secret with the newest key (resumable, safe while serving)."""
    settings = load_settings()
    keyring = keyring_for(settings)

    async def _go() -> tuple[key_service.RotationResult, key_service.KeyStatus]:
        async with database(settings) as maker:
            total = await key_service.rows_to_rotate(maker, keyring)
            with Progress(
                TextColumn("rotating to key [bold]" + keyring.primary_key_id),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("rotate", total=total)
                result = await key_service.rotate(
                    maker,
                    keyring,
                    batch_size=batch_size,
                    on_progress=lambda n: progress.advance(task, n),
                )
            return result, await key_service.key_status(maker, keyring)

    result, status = run(_go)
    typer.echo(f"re-encrypted {result.rotated} values; {result.failed} could not be decrypted")
    for line in result.failures[:20]:
        typer.echo(f"  failed: {line}")
    _print_status(status, keyring.key_ids)
    if result.failed:
        raise typer.Exit(1)


@app.command("status")
def status() -> None:
    """Rows per key id; which old keys are safe to retire."""
    settings = load_settings()
    keyring = keyring_for(settings)

    async def _go() -> key_service.KeyStatus:
        async with database(settings) as maker:
            return await key_service.key_status(maker, keyring)

    _print_status(run(_go), keyring.key_ids)


def _print_status(status: key_service.KeyStatus, key_ids: list[str]) -> None:
    for i, key_id in enumerate(key_ids):
        n = status.rows_by_key.get(key_id, 0)
        role = (
            "primary (encrypts)"
            if i == 0
            else ("retirable (0 rows)" if n == 0 else "in use: do not remove")
        )
        typer.echo(f"{key_id}\t{n} rows\t{role}")
    if status.rows_unknown_key:
        typer.echo(f"WARNING: {status.rows_unknown_key} values use a key that is not configured")
