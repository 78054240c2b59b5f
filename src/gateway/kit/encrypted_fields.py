"""Encrypted columns, declared on the models and discovered from the metadata.

A model declares ``sa_column=encrypted_column()``; key rotation and ``keys status`` find every
such column without a hand-kept list. The associated data uses the row's ``tenant_id`` (or the
column named by ``tenant_column``) so a ciphertext cannot move between tenants.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa


def encrypted_column(*, nullable: bool = False, tenant_column: str = "tenant_id") -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        sa.Text(), nullable=nullable, info={"encrypted": True, "tenant_column": tenant_column}
    )


@dataclass(frozen=True)
class EncryptedTable:
    table: sa.Table
    columns: tuple[str, ...]
    tenant_column: str


def encrypted_tables(metadata: sa.MetaData) -> list[EncryptedTable]:
    found: list[EncryptedTable] = []
    for table in metadata.sorted_tables:
        cols = [c for c in table.columns if c.info.get("encrypted")]
        if cols:
            found.append(
                EncryptedTable(
                    table=table,
                    columns=tuple(c.name for c in cols),
                    tenant_column=str(cols[0].info.get("tenant_column", "tenant_id")),
                )
            )
    return found
