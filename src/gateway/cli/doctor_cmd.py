"""``gateway doctor``: check configuration, database, Redis, keys, public URL; say what to fix."""

from __future__ import annotations

from dataclasses import dataclass

import typer
from arq import ArqRedis
from pydantic import ValidationError

from gateway.cli.common import database, run
from gateway.keys import service as key_service
from gateway.kit.crypto import KeyringError
from gateway.kit.db import DB_UNAVAILABLE_ERRORS
from gateway.kit.keystore import dev_key_path, load_keyring
from gateway.kit.migrations import current_revisions, head_revisions
from gateway.kit.settings import ConfigurationError, Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


async def _database_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    try:
        async with database(settings) as maker:
            revs = await current_revisions(maker.kw["bind"])
            heads = head_revisions(settings)
            checks.append(Check("database", True, settings.resolved_database_url.split("@")[-1]))
            if set(revs) == set(heads):
                checks.append(Check("migrations", True, "up to date"))
            elif not revs and settings.is_sqlite and not settings.is_production:
                checks.append(Check("migrations", True, "applied by the first `gateway serve`"))
                return checks
            else:
                checks.append(
                    Check(
                        "migrations",
                        False,
                        f"at {', '.join(revs) or 'empty'}",
                        "run `gateway db upgrade`",
                    )
                )
                return checks
            try:
                keyring = load_keyring(settings, create_dev_key=False)
            except (KeyringError, RuntimeError) as exc:
                checks.append(
                    Check(
                        "encryption keys",
                        False,
                        str(exc),
                        "set GATEWAY_ENCRYPTION_KEYS (`gateway keys generate`)",
                    )
                )
                return checks
            status = await key_service.key_status(maker, keyring)
            old_rows = sum(n for k, n in status.rows_by_key.items() if k != keyring.primary_key_id)
            if status.rows_unknown_key:
                checks.append(
                    Check(
                        "encryption keys",
                        False,
                        f"{status.rows_unknown_key} stored secrets use an unconfigured key",
                        "restore the missing key in GATEWAY_ENCRYPTION_KEYS",
                    )
                )
            else:
                detail = f"{len(keyring.key_ids)} key(s), primary {keyring.primary_key_id}"
                fix = "run `gateway keys rotate`" if old_rows else ""
                if old_rows:
                    detail += f"; {old_rows} values still on older keys"
                checks.append(Check("encryption keys", True, detail, fix))
    except DB_UNAVAILABLE_ERRORS as exc:
        checks.append(
            Check(
                "database",
                False,
                f"unreachable ({type(exc).__name__})",
                "check GATEWAY_DATABASE_URL and that the server is running",
            )
        )
    return checks


async def _redis_check(settings: Settings) -> Check:
    if not settings.redis_url:
        if settings.is_production:
            return Check("queue", False, "no GATEWAY_REDIS_URL", "set GATEWAY_REDIS_URL")
        return Check("queue", True, "in-process dispatcher (embedded mode)")
    redis = ArqRedis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await redis.ping()
        return Check("queue", True, "Redis answers")
    except Exception as exc:  # redis-py raises its own hierarchy
        return Check(
            "queue",
            False,
            f"Redis unreachable ({type(exc).__name__})",
            "check GATEWAY_REDIS_URL and that Redis is running",
        )
    finally:
        await redis.aclose()


def doctor() -> None:
    """Check the configuration and every dependency; exit 1 if anything needs fixing."""
    checks: list[Check] = []
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        typer.echo(f"✗ configuration: GATEWAY_{str(first['loc'][0]).upper()}: {first['msg']}")
        raise typer.Exit(1) from None
    try:
        settings.check_runnable()
        checks.append(Check("configuration", True, f"environment {settings.env.value}"))
    except ConfigurationError as exc:
        checks.append(Check("configuration", False, str(exc)))
    if settings.public_base_url:
        secure = settings.public_base_url.startswith("https://")
        checks.append(
            Check(
                "public URL",
                secure or not settings.is_production,
                settings.public_base_url,
                "" if secure else "platforms require https for webhooks and OAuth redirects",
            )
        )
    else:
        checks.append(
            Check(
                "public URL",
                not settings.is_production,
                "unset (http://127.0.0.1:8000 is used)",
                "set GATEWAY_PUBLIC_BASE_URL to the URL platforms can reach",
            )
        )
    if not settings.is_production and settings.encryption_keys is None:
        path = dev_key_path(settings)
        checks.append(
            Check(
                "development key",
                True,
                f"{path} ({'present' if path.exists() else 'created on first serve'})",
            )
        )
    checks.extend(run(lambda: _database_checks(settings)))
    checks.append(run(lambda: _redis_check(settings)))
    for check in checks:
        mark = "✓" if check.ok else "✗"
        line = f"{mark} {check.name}: {check.detail}"
        if check.fix:
            line += f"  → {check.fix}"
        typer.echo(line)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
