"""Where the keyring comes from: ``GATEWAY_ENCRYPTION_KEYS``, or a development key file.

Production refuses to start without explicit keys (see ``Settings.check_runnable``). The embedded
development mode generates a key into ``<data_dir>/dev-encryption-keys`` on first start, with a
warning, so ``gateway serve`` works with zero configuration.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from gateway.kit.crypto import Keyring, generate_key_line
from gateway.kit.settings import Settings

logger = logging.getLogger(__name__)

DEV_KEY_FILE = "dev-encryption-keys"


def dev_key_path(settings: Settings) -> Path:
    return settings.data_dir / DEV_KEY_FILE


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def load_keyring(settings: Settings, *, create_dev_key: bool = True) -> Keyring:
    """The configured keyring; in development, the key file (created on first use)."""
    if settings.encryption_keys is not None and settings.encryption_keys.get_secret_value():
        return Keyring.parse(settings.encryption_keys.get_secret_value())
    if settings.is_production:
        raise RuntimeError("GATEWAY_ENCRYPTION_KEYS is required in production")
    path = dev_key_path(settings)
    if not path.exists():
        if not create_dev_key:
            raise RuntimeError(f"no encryption keys: set GATEWAY_ENCRYPTION_KEYS or create {path}")
        _write_private(path, generate_key_line() + "\n")
        logger.warning(
            "generated a DEVELOPMENT encryption key in %s; set GATEWAY_ENCRYPTION_KEYS "
            "for anything real (losing this file makes stored secrets unreadable)",
            path,
        )
    return Keyring.parse(path.read_text())


def add_dev_key(settings: Settings) -> str:
    """Prepend a fresh key to the development key file; returns the new key id."""
    path = dev_key_path(settings)
    existing = path.read_text() if path.exists() else ""
    line = generate_key_line()
    _write_private(path, line + "\n" + existing)
    return line.split(":", 1)[0]
