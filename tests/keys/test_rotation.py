"""Key rotation over the real database: every row moves to the newest key, nothing is lost,
old keys keep decrypting mid-rotation, and a key still in use is reported as such."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.keys import service as key_service
from gateway.kit.crypto import FieldContext, Keyring, generate_key_line, key_id_of
from gateway.kit.db import create_engine
from gateway.kit.migrations import upgrade
from gateway.kit.runtime import Runtime, open_runtime
from gateway.kit.settings import Settings
from gateway.oauth_clients import service as client_service
from tests.conftest import PG_URL, _create_pg_database, _drop_pg_database


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A database of its own: rotation rewrites every encrypted row it can see, and the rows of
    the shared test database must stay under the key the running app holds."""
    keys = generate_key_line("rot0")
    if PG_URL:
        url = await _create_pg_database(PG_URL)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'rotation.db'}"
    settings = Settings(data_dir=tmp_path, database_url=url, encryption_keys=SecretStr(keys))
    engine = create_engine(settings)
    await upgrade(engine, settings)
    await engine.dispose()
    try:
        async with open_runtime(settings, with_queue=False) as rt:
            yield rt
    finally:
        if PG_URL:
            await _drop_pg_database(PG_URL, url)


def _with_session_keys(runtime: Runtime, spec: str) -> Keyring:
    """A real keyring holds every key in use, including the runtime's own."""
    session_keys = runtime.settings.encryption_keys
    assert session_keys is not None
    return Keyring.parse(spec + "," + session_keys.get_secret_value())


async def _store_clients(runtime: Runtime, keyring: Keyring, owner: str, n: int) -> dict[str, str]:
    secrets_by_provider: dict[str, str] = {}
    async with runtime.sessionmaker() as session:
        for i in range(n):
            provider = f"p{i}-{secrets.token_hex(3)}"
            value = f"client-secret-{secrets.token_hex(8)}"
            await client_service.set_client(
                session,
                keyring,
                owner=owner,
                provider=provider,
                client_id=f"cid{i}",
                client_secret=SecretStr(value),
            )
            secrets_by_provider[provider] = value
        await session.commit()
    return secrets_by_provider


async def test_rotation_moves_every_row_to_the_newest_key(runtime: Runtime) -> None:
    old_line = generate_key_line(f"old{secrets.token_hex(2)}")
    old = Keyring.parse(old_line)
    owner = f"ten_rot{secrets.token_hex(4)}"
    stored = await _store_clients(runtime, old, owner, 7)

    new = _with_session_keys(
        runtime, generate_key_line(f"new{secrets.token_hex(2)}") + "," + old_line
    )
    before = await key_service.key_status(runtime.sessionmaker, new)
    assert before.rows_by_key[old.primary_key_id] == 7
    assert old.primary_key_id not in before.retirable(new)

    # Mid-rotation (batch of 3, then stop): both keys are in use and everything decrypts.
    progress: list[int] = []
    result = await key_service.rotate(
        runtime.sessionmaker, new, batch_size=3, on_progress=progress.append
    )
    assert result.failed == 0
    assert result.rotated >= 7
    assert sum(progress) == result.rotated

    after = await key_service.key_status(runtime.sessionmaker, new)
    assert after.rows_by_key[old.primary_key_id] == 0
    assert old.primary_key_id in after.retirable(new)
    assert after.rows_unknown_key == 0

    async with runtime.sessionmaker() as session:
        for provider, value in stored.items():
            resolved = await client_service.resolve(
                session, new, tenant_id=owner, provider=provider
            )
            assert resolved.client_secret.get_secret_value() == value
            row = await client_service.get_client(session, owner="system", provider=provider)
            assert row is None


async def test_rotation_is_resumable_and_idempotent(runtime: Runtime) -> None:
    old_line = generate_key_line(f"o{secrets.token_hex(3)}")
    old = Keyring.parse(old_line)
    owner = f"ten_res{secrets.token_hex(4)}"
    await _store_clients(runtime, old, owner, 3)
    new = _with_session_keys(
        runtime, generate_key_line(f"n{secrets.token_hex(3)}") + "," + old_line
    )
    await key_service.rotate(runtime.sessionmaker, new)
    again = await key_service.rotate(runtime.sessionmaker, new)
    assert again.rotated == 0


async def test_old_key_still_decrypts_rows_not_yet_rotated(runtime: Runtime) -> None:
    old_line = generate_key_line(f"a{secrets.token_hex(3)}")
    old = Keyring.parse(old_line)
    owner = f"ten_mid{secrets.token_hex(4)}"
    stored = await _store_clients(runtime, old, owner, 2)
    both = Keyring.parse(generate_key_line(f"b{secrets.token_hex(3)}") + "," + old_line)
    async with runtime.sessionmaker() as session:
        for provider, value in stored.items():
            row = await client_service.get_client(session, owner=owner, provider=provider)
            assert row is not None
            assert key_id_of(row.client_secret_enc) == old.primary_key_id
            where = FieldContext("oauth_clients", "client_secret_enc", row.id, owner)
            assert both.decrypt(row.client_secret_enc, where) == value


async def test_status_flags_rows_under_an_unconfigured_key(runtime: Runtime) -> None:
    lost = Keyring.parse(generate_key_line(f"lost{secrets.token_hex(2)}"))
    await _store_clients(runtime, lost, f"ten_lost{secrets.token_hex(4)}", 1)
    current = _with_session_keys(runtime, generate_key_line(f"cur{secrets.token_hex(2)}"))
    status = await key_service.key_status(runtime.sessionmaker, current)
    assert status.rows_unknown_key >= 1


async def test_rotation_under_load_no_decrypt_error_and_no_lost_write(runtime: Runtime) -> None:
    """F13: while the rotation runs in small batches, readers keep decrypting and writers keep
    changing secrets under the new primary key. No read fails, no concurrent write is undone
    by the rotation (its update is conditional on the ciphertext it read), and at the end
    every row is under the new key with its latest value."""
    old_line = generate_key_line(f"l{secrets.token_hex(3)}")
    owner = f"ten_load{secrets.token_hex(4)}"
    latest = await _store_clients(runtime, Keyring.parse(old_line), owner, 60)
    new = _with_session_keys(
        runtime, generate_key_line(f"m{secrets.token_hex(3)}") + "," + old_line
    )
    providers = sorted(latest)
    done = asyncio.Event()
    reads, writes, read_errors = [0], [0], []

    async def reader(seed: int) -> None:
        i = seed
        while not done.is_set():
            provider = providers[i % len(providers)]
            i += 7
            try:
                async with runtime.sessionmaker() as session:
                    await client_service.resolve(session, new, tenant_id=owner, provider=provider)
                reads[0] += 1
            except Exception as exc:  # any failure is a finding, not a crash of the test
                read_errors.append(repr(exc))
            await asyncio.sleep(0)

    async def writer() -> None:
        i = 0
        while not done.is_set():
            provider = providers[(i * 13) % len(providers)]
            value = f"rewritten-{i}-{secrets.token_hex(4)}"
            async with runtime.sessionmaker() as session:
                await client_service.set_client(
                    session,
                    new,
                    owner=owner,
                    provider=provider,
                    client_id="cid",
                    client_secret=SecretStr(value),
                )
                await session.commit()
            latest[provider] = value
            writes[0] += 1
            i += 1
            await asyncio.sleep(0)

    load = [asyncio.create_task(reader(s)) for s in range(3)] + [asyncio.create_task(writer())]
    try:
        await asyncio.sleep(0.05)  # the load is running before the rotation starts
        result = await key_service.rotate(runtime.sessionmaker, new, batch_size=5)
        await asyncio.sleep(0.05)
    finally:
        done.set()
        await asyncio.gather(*load)

    assert read_errors == []
    assert result.failed == 0
    assert reads[0] > 50
    assert writes[0] > 5
    after = await key_service.key_status(runtime.sessionmaker, new)
    assert after.rows_by_key.get(Keyring.parse(old_line).primary_key_id, 0) == 0
    async with runtime.sessionmaker() as session:
        for provider, value in latest.items():
            resolved = await client_service.resolve(
                session, new, tenant_id=owner, provider=provider
            )
            assert resolved.client_secret.get_secret_value() == value
