"""Where the sandbox platform keeps its rows, and whether it runs at all.

On PostgreSQL the sandbox tables live in the gateway's database (migration ``0008_sandbox``).
On SQLite (embedded mode) they live in a sibling file, ``<database>.sandbox.db``, created from
the same models: the sandbox is a *platform* the gateway calls over HTTP while a request of its
own may hold SQLite's single write lock (the OAuth callback consumes its state, then exchanges the
code at the sandbox's token endpoint). Two files means two write locks, so the platform never
waits on the gateway that is waiting on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from gateway.kit.db import SessionMaker, create_engine, create_sessionmaker
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.models import SandboxAuthorizationCode, SandboxGrant, SandboxMessage, SandboxToken

STORE_KEY: Final = "sandbox.store"
_MODELS: Final = (SandboxGrant, SandboxToken, SandboxAuthorizationCode, SandboxMessage)


def sandbox_enabled(settings: Settings) -> bool:
    """``GATEWAY_SANDBOX_ENABLED``, defaulting to on in development and off in production."""
    if settings.sandbox_enabled is not None:
        return settings.sandbox_enabled
    return not settings.is_production


def sandbox_database_url(settings: Settings) -> str | None:
    """The sibling SQLite file for the sandbox, or None when it shares the gateway database."""
    if not settings.is_sqlite:
        return None
    url = make_url(settings.resolved_database_url)
    name = url.database
    if not name or name == ":memory:":
        path = (settings.data_dir / "sandbox.db").resolve()
    else:
        main = Path(name)
        path = main.with_name(f"{main.stem}.sandbox{main.suffix or '.db'}")
    return url.set(database=str(path)).render_as_string(hide_password=False)


@dataclass
class SandboxStore:
    sessionmaker: SessionMaker
    engine: AsyncEngine | None = None  # owned (and disposed) only for the SQLite sibling file

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


async def open_store(runtime: Runtime) -> SandboxStore:
    """The store for this process: the runtime's sessions, or the SQLite sibling file (its
    tables created from the models on first use)."""
    url = sandbox_database_url(runtime.settings)
    if url is None:
        return SandboxStore(runtime.sessionmaker)
    engine = create_engine(runtime.settings.model_copy(update={"database_url": url}))
    tables = [SQLModel.metadata.tables[str(m.__tablename__)] for m in _MODELS]
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: SQLModel.metadata.create_all(c, tables=tables))
    return SandboxStore(create_sessionmaker(engine), engine)


def store_of(runtime: Runtime) -> SandboxStore:
    store: SandboxStore = runtime.extras[STORE_KEY]
    return store
