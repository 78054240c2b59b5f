"""Migrations build the schema from an empty database on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.kit.crypto import generate_key_line
from gateway.kit.db import create_engine
from gateway.kit.migrations import current_revisions, head_revisions, upgrade
from gateway.kit.settings import Settings
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))


async def _upgrade_from_empty(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        assert await _tables(engine) == set()
        await upgrade(engine, settings)
        assert set(await current_revisions(engine)) == set(head_revisions(settings))
        assert {"tenants", "api_keys", "oauth_clients", "alembic_version"} <= await _tables(engine)
        await upgrade(engine, settings)  # a second run is a no-op
    finally:
        await engine.dispose()


async def test_sqlite_upgrade_from_empty(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
        encryption_keys=SecretStr(generate_key_line()),
    )
    await _upgrade_from_empty(settings)


@pytest.mark.postgres
async def test_postgres_upgrade_from_empty(tmp_path: Path) -> None:
    assert PG_URL, "runs on the PostgreSQL tier only"
    base = PG_URL
    url = await _create_pg_database(base)
    try:
        await _upgrade_from_empty(
            Settings(
                data_dir=tmp_path,
                database_url=url,
                encryption_keys=SecretStr(generate_key_line(secrets.token_hex(2))),
            )
        )
    finally:
        await _drop_pg_database(base, url)
