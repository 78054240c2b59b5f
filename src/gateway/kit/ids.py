"""Prefixed, time-ordered identifiers (``ten_01J…``): readable in logs, sortable for cursors.

Random bits come from the OS CSPRNG in 4 KiB draws (:func:`random_bytes`) rather than one
``getrandom`` call per id: each call hands the GIL over, and while another thread runs (the
SQLite driver's) taking it back cost the event loop ~20 us per id under load.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Final

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]  # 10 bits -> 2 characters

_DRAW: Final = 4096


class _RandomPool:
    """Bytes of one ``os.urandom`` draw, each handed out once; a forked child starts afresh
    (it must never repeat its parent's bytes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def take(self, size: int) -> bytes:
        if size > _DRAW:
            return os.urandom(size)
        with self._lock:
            end = self._offset + size
            if end > len(self._buffer):
                self._buffer, self._offset, end = os.urandom(_DRAW), 0, size
            chunk = self._buffer[self._offset : end]
            self._offset = end
            return chunk

    def reset(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._offset = b"", 0


_POOL = _RandomPool()
os.register_at_fork(after_in_child=_POOL.reset)


def random_bytes(size: int) -> bytes:
    """``size`` bytes from the OS CSPRNG (drawn in bulk)."""
    return _POOL.take(size)


def random_hex(size: int) -> str:
    """``size`` random bytes as hex, like ``secrets.token_hex``."""
    return _POOL.take(size).hex()


def _b32(value: int, length: int) -> str:
    """The low ``5 * length`` bits of ``value`` in base32, most significant first (even
    ``length``: two characters per table lookup)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)])


def new_id(prefix: str) -> str:
    """``prefix_`` + 48-bit millisecond time + 80 random bits (26 base32 chars, ULID layout)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(_POOL.take(10))
    return f"{prefix}_{_b32(value, 26)}"
