from __future__ import annotations

import typer

from gateway.cli.common import console, database, fail, load_settings, run
from gateway.kit.db import DB_UNAVAILABLE_ERRORS
from gateway.kit.migrations import current_revisions, head_revisions, upgrade

app = typer.Typer(help="Database migrations (alembic).", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Apply every pending migration."""
    settings = load_settings()

    async def _go() -> tuple[str, ...]:
        async with database(settings) as maker:
            engine = maker.kw["bind"]
            await upgrade(engine, settings)
            return await current_revisions(engine)

    try:
        revs = run(_go)
    except DB_UNAVAILABLE_ERRORS as exc:
        fail(f"database unreachable: {type(exc).__name__}")
    console.print(f"database at {', '.join(revs) or '(empty)'}")


@app.command("current")
def current_cmd() -> None:
    """Show the database's revision and whether it is at head."""
    settings = load_settings()

    async def _go() -> tuple[str, ...]:
        async with database(settings) as maker:
            return await current_revisions(maker.kw["bind"])

    try:
        revs = run(_go)
    except DB_UNAVAILABLE_ERRORS as exc:
        fail(f"database unreachable: {type(exc).__name__}")
    heads = head_revisions(settings)
    state = "up to date" if set(revs) == set(heads) else f"behind (heads: {', '.join(heads)})"
    typer.echo(f"{', '.join(revs) or '(empty)'} — {state}")
