"""Shared CLI plumbing: settings loading with one-line refusals, async runner, database access."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from gateway.kit.crypto import Keyring, KeyringError
from gateway.kit.db import SessionMaker, create_engine, create_sessionmaker
from gateway.kit.keystore import load_keyring
from gateway.kit.settings import ConfigurationError, Settings

T = TypeVar("T")
console = Console(stderr=True)


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_settings(*, check: bool = False) -> Settings:
    try:
        settings = Settings()
        if check:
            settings.check_runnable()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid setting GATEWAY_{str(first['loc'][0]).upper()}: {first['msg']}")
    except ConfigurationError as exc:
        fail(str(exc))
    return settings


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def _main() -> T:
        return await coro_fn()

    return asyncio.run(_main())


def keyring_for(settings: Settings) -> Keyring:
    try:
        return load_keyring(settings)
    except (KeyringError, RuntimeError) as exc:
        fail(str(exc))


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[SessionMaker]:
    engine = create_engine(settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def parse_json_object(raw: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON ({exc.msg} at position {exc.pos})")
    if not isinstance(value, dict):
        fail(f"{what} must be a JSON object")
    return value
