"""Pure ASGI middleware (cheap on the webhook hot path): body limit, request id, metrics.

The body limit is enforced while the body streams in: a declared Content-Length over the limit is
refused before reading, and a chunked body is cut as soon as it crosses the limit, so a 1 GiB
upload never sits in memory.
"""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.kit.ids import random_hex
from gateway.kit.logging import request_id_var
from gateway.kit.metrics import HTTP_LATENCY, HTTP_REQUESTS
from gateway.kit.problems import PROBLEM_MEDIA_TYPE


class _BodyTooLarge(Exception):
    pass


def _problem_bytes(status: int, code: str, title: str, path: str) -> bytes:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
        "instance": path,
    }
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    return json.dumps(body).encode()


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    await self._reject(scope, send, 413 if declared > limit else 400)
                    return
        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                # Whatever the app made of the cut body, the answer is 413.
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _BodyTooLarge:
            pass
        if exceeded and not response_started:
            await self._reject(scope, send, 413)

    @staticmethod
    async def _reject(scope: Scope, send: Send, status: int) -> None:
        if status == 413:
            body = _problem_bytes(
                413, "payload_too_large", "Request body exceeds the limit", scope.get("path", "")
            )
        else:
            body = _problem_bytes(
                400, "bad_request", "Invalid Content-Length", scope.get("path", "")
            )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Request id (from ``X-Request-Id`` or generated), echoed back; per-route metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")[:64]
                if candidate.replace("-", "").replace("_", "").isalnum():
                    rid = candidate
                break
        rid = rid or random_hex(8)
        token = request_id_var.set(rid)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            counted, timed = _route_metrics(scope.get("method", "GET"), template, status)
            counted.inc()
            timed.observe(time.perf_counter() - start)
            request_id_var.reset(token)


@functools.lru_cache(maxsize=4096)
def _route_metrics(method: str, template: str, status: int) -> tuple[Counter, Histogram]:
    """The metric children of one (method, route template, status): looked up once, as
    ``labels()`` costs a lock and a tuple per call. Templates, not raw paths, so few keys."""
    return HTTP_REQUESTS.labels(method, template, str(status)), HTTP_LATENCY.labels(
        method, template
    )
