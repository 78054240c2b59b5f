"""Prefixed, time-ordered identifiers (``ten_01J…``): readable in logs, sortable for cursors."""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]  # 10 bits -> 2 characters


def _b32(value: int, length: int) -> str:
    """The low ``5 * length`` bits of ``value`` in base32, most significant first (even
    ``length``: two characters per table lookup)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)])


def new_id(prefix: str) -> str:
    """``prefix_`` + 48-bit millisecond time + 80 random bits (26 base32 chars, ULID layout)."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_b32(millis, 10)}{_b32(secrets.randbits(80), 16)}"
