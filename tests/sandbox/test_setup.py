"""When the sandbox runs, where it keeps its rows, and its zero-setup OAuth client."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.kit.crypto import generate_key_line
from gateway.kit.db import create_engine
from gateway.kit.migrations import upgrade
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.models import SYSTEM_OWNER
from gateway.oauth_clients import service as oauth_clients
from gateway.sandbox.service import SYSTEM_CLIENT_ID, provision_system_client
from gateway.sandbox.store import sandbox_database_url, sandbox_enabled


def _paths(settings: Settings) -> set[str]:
    return set(create_app(settings).openapi()["paths"])


@pytest.mark.parametrize(
    ("env", "enabled", "mounted"),
    [
        ("development", None, True),
        ("production", None, False),
        ("production", True, True),
        ("development", False, False),
    ],
)
def test_mounted_in_development_and_when_enabled(
    tmp_path: Path, env: str, enabled: bool | None, mounted: bool
) -> None:
    settings = Settings(env=env, data_dir=tmp_path, sandbox_enabled=enabled)
    assert sandbox_enabled(settings) is mounted
    paths = _paths(settings)
    assert ("/sandbox/oauth/authorize" in paths) is mounted
    assert ("/sandbox/api/simulate" in paths) is mounted
    assert "/v1/connections" in paths


def test_embedded_mode_keeps_sandbox_rows_in_a_sibling_file(tmp_path: Path) -> None:
    sqlite = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}")
    assert sandbox_database_url(sqlite) == f"sqlite+aiosqlite:///{tmp_path / 'gw.sandbox.db'}"
    embedded = Settings(data_dir=tmp_path)
    assert sandbox_database_url(embedded) == (
        f"sqlite+aiosqlite:///{(tmp_path / 'gateway.sandbox.db').resolve()}"
    )
    postgres = Settings(database_url="postgresql+asyncpg://u@127.0.0.1/gw")
    assert sandbox_database_url(postgres) is None


async def test_the_system_client_is_provisioned_once_with_an_encrypted_secret(
    runtime: Runtime,
) -> None:
    # The app's start-up already provisioned it in this development database.
    assert await provision_system_client(runtime) is False
    async with runtime.sessionmaker() as session:
        row = await oauth_clients.get_client(session, owner=SYSTEM_OWNER, provider="sandbox")
        assert row is not None
        assert row.client_id == SYSTEM_CLIENT_ID
        assert row.client_secret_enc.startswith("enc1:")
        resolved = await oauth_clients.resolve(
            session, runtime.keyring, tenant_id="ten_nobody", provider="sandbox"
        )
    assert resolved.source == "system"
    assert len(resolved.client_secret.get_secret_value()) >= 32


async def test_a_fresh_database_gets_the_client_on_first_start(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, encryption_keys=SecretStr(generate_key_line("fresh")), log_json=True
    )
    app = create_app(settings)
    engine = create_engine(settings)
    await upgrade(engine, settings)
    await engine.dispose()
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        async with runtime.sessionmaker() as session:
            row = await oauth_clients.get_client(session, owner=SYSTEM_OWNER, provider="sandbox")
        assert row is not None
    assert (tmp_path / "gateway.sandbox.db").exists()
