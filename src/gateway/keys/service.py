"""Key status and rotation over every encrypted column (discovered from the table metadata).

Rotation re-encrypts rows whose ciphertext is not under the newest key, in batches, each batch
its own transaction. It is resumable (it only ever looks for rows still on an old key) and safe
while the service runs: each row is updated only if its ciphertext is still the one that was
read, so a concurrent write (a token refresh) is never overwritten with stale data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import SQLModel

from gateway import models  # noqa: F401  (registers every table on the metadata)
from gateway.kit.crypto import PREFIX, FieldContext, Keyring
from gateway.kit.db import SessionMaker
from gateway.kit.encrypted_fields import EncryptedTable, encrypted_tables
from gateway.kit.errors import DecryptionFailed


def _like_prefix(key_id: str) -> str:
    escaped = key_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{PREFIX}:{escaped}:%"


@dataclass
class KeyStatus:
    rows_by_key: dict[str, int]
    rows_unknown_key: int

    def retirable(self, keyring: Keyring) -> list[str]:
        """Old keys no row uses any more: safe to remove from the configuration."""
        return [k for k in keyring.key_ids[1:] if self.rows_by_key.get(k, 0) == 0]


@dataclass
class RotationResult:
    rotated: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


async def key_status(maker: SessionMaker, keyring: Keyring) -> KeyStatus:
    counts = dict.fromkeys(keyring.key_ids, 0)
    unknown = 0
    async with maker() as session:
        for enc in encrypted_tables(SQLModel.metadata):
            for col_name in enc.columns:
                col = enc.table.c[col_name]
                for key_id in keyring.key_ids:
                    n = await session.scalar(
                        sa.select(sa.func.count())
                        .select_from(enc.table)
                        .where(col.like(_like_prefix(key_id), escape="\\"))
                    )
                    counts[key_id] += int(n or 0)
                not_known = sa.and_(
                    col.is_not(None),
                    col != "",
                    *[col.not_like(_like_prefix(k), escape="\\") for k in keyring.key_ids],
                )
                n = await session.scalar(
                    sa.select(sa.func.count()).select_from(enc.table).where(not_known)
                )
                unknown += int(n or 0)
    return KeyStatus(counts, unknown)


async def rows_to_rotate(maker: SessionMaker, keyring: Keyring) -> int:
    status = await key_status(maker, keyring)
    return sum(n for k, n in status.rows_by_key.items() if k != keyring.primary_key_id)


async def _rotate_table(
    maker: SessionMaker,
    keyring: Keyring,
    enc: EncryptedTable,
    batch_size: int,
    result: RotationResult,
    on_progress: Callable[[int], None],
) -> None:
    table = enc.table
    id_col = table.c["id"]
    tenant_col = table.c[enc.tenant_column]
    primary = _like_prefix(keyring.primary_key_id)
    for col_name in enc.columns:
        col = table.c[col_name]
        after = ""
        while True:
            async with maker() as session:
                rows = (
                    await session.execute(
                        sa.select(id_col, tenant_col, col)
                        .where(
                            col.is_not(None),
                            col != "",
                            col.not_like(primary, escape="\\"),
                            id_col > after,
                        )
                        .order_by(id_col)
                        .limit(batch_size)
                    )
                ).all()
                if not rows:
                    break
                for row_id, tenant_id, stored in rows:
                    where = FieldContext(table.name, col_name, row_id, tenant_id)
                    try:
                        fresh = keyring.reencrypt(stored, where)
                    except DecryptionFailed as exc:
                        result.failed += 1
                        result.failures.append(f"{table.name}.{col_name} {row_id}: {exc.message}")
                        continue
                    await session.execute(
                        sa.update(table)
                        .where(id_col == row_id, col == stored)
                        .values({col_name: fresh})
                    )
                    result.rotated += 1
                await session.commit()
                after = rows[-1][0]
                on_progress(len(rows))


async def rotate(
    maker: SessionMaker,
    keyring: Keyring,
    *,
    batch_size: int = 500,
    on_progress: Callable[[int], None] = lambda _n: None,
) -> RotationResult:
    """Re-encrypt every ciphertext that is not under the newest key."""
    result = RotationResult()
    for enc in encrypted_tables(SQLModel.metadata):
        await _rotate_table(maker, keyring, enc, batch_size, result, on_progress)
    return result
