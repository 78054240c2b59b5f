"""F10: a 1 GiB chunked body and a forged Content-Length against the running server.

Pass criteria (reliability.md): 413 within 1 s, server RSS growth < 20 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from tests.reliability.conftest import ServerProcess

GIB = 1024 * 1024 * 1024
CHUNK = 64 * 1024


async def _send_chunked(server: ServerProcess, path: str) -> tuple[int, float, int]:
    """Stream up to 1 GiB chunked; return (status, seconds until the answer, bytes sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    writer.write(head)
    chunk = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
    sent = 0
    start = time.monotonic()
    response = asyncio.ensure_future(reader.readline())
    try:
        while sent < GIB and not response.done():
            writer.write(chunk)
            sent += CHUNK
            try:
                await asyncio.wait_for(writer.drain(), 1)
            except (ConnectionError, TimeoutError):
                break
        status_line = await asyncio.wait_for(response, 5)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    elapsed = time.monotonic() - start
    return int(status_line.split()[1]), elapsed, sent


@pytest.mark.slow
async def test_gigabyte_chunked_body_is_refused_fast_without_memory_growth(
    embedded_server: ServerProcess,
) -> None:
    before = embedded_server.rss_bytes()
    status, elapsed, sent = await _send_chunked(embedded_server, "/v1/api-keys")
    after = embedded_server.rss_bytes()
    assert status == 413
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
    assert sent < GIB
    assert after - before < 20 * 1024 * 1024, f"RSS grew {(after - before) / 2**20:.1f} MiB"


@pytest.mark.slow
async def test_forged_content_length_is_refused_before_reading(
    embedded_server: ServerProcess,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", embedded_server.port)
    writer.write(
        b"POST /v1/api-keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\n\r\n" + b"x" * 1024
    )
    await writer.drain()
    start = time.monotonic()
    status_line = await asyncio.wait_for(reader.readline(), 2)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    assert int(status_line.split()[1]) == 413
    assert time.monotonic() - start < 1.0
