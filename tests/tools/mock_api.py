"""A loopback HTTP/1.1 API for custom-tool tests: records every request, answers from a handler.

Real sockets on 127.0.0.1 (the test allow-list admits loopback), keep-alive like a real API, and
a connection counter so SSRF tests can prove that *nothing* reached it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Recorded:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.target).query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes/str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encode(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, bytes):
            return self.body, headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        if self.body is None:
            return b"", headers
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(self.body).encode(), headers


Handler = Callable[[Recorded], Reply | Awaitable[Reply]]


@dataclass
class MockApi:
    port: int = 0
    connections: int = 0
    requests: list[Recorded] = field(default_factory=list)
    handler: Handler = field(default=lambda request: Reply(body={"ok": True}))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 401: "Unauthorized", 429: "Too Many"}


@asynccontextmanager
async def mock_api(handler: Handler | None = None) -> AsyncIterator[MockApi]:
    state = MockApi()
    if handler is not None:
        state.handler = handler
    tasks: set[asyncio.Task[Any]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request_line, *lines = head.split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    if ":" in line:
                        key, _, value = line.partition(":")
                        headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                recorded = Recorded(method, target, headers, body)
                state.requests.append(recorded)
                reply = state.handler(recorded)
                if not isinstance(reply, Reply):
                    reply = await reply
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                payload, extra = reply.encode()
                status_line = f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"
                out = [status_line, f"Content-Length: {len(payload)}"]
                out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
