"""Run alembic from code (``gateway db upgrade``, embedded-mode start, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.kit.settings import Settings

ALEMBIC_DIR = Path(__file__).resolve().parents[3] / "alembic"


def alembic_config(settings: Settings) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.attributes["settings"] = settings
    return cfg


async def upgrade(engine: AsyncEngine, settings: Settings, revision: str = "heads") -> None:
    cfg = alembic_config(settings)

    def _run(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(_run)


async def current_revisions(engine: AsyncEngine) -> tuple[str, ...]:
    def _read(connection: Connection) -> tuple[str, ...]:
        return tuple(MigrationContext.configure(connection).get_current_heads())

    async with engine.connect() as conn:
        return await conn.run_sync(_read)


def head_revisions(settings: Settings) -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config(settings)).get_heads())
