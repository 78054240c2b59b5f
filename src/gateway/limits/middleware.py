"""Rate-limit headers on every authenticated response.

``deps.get_tenant`` records the request's :class:`RateLimitState` in the ASGI scope; this pure
ASGI middleware adds its fields when the response starts. Doing it at the ASGI level covers
what a dependency alone cannot: problem+json errors raised by the route, 422s and routes that
return a ``Response`` themselves. Fields the response already carries (a 429 sets its own) are
left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.limits.service import RateLimitState

SCOPE_KEY: Final = "gateway.limits.api_call"


@dataclass(frozen=True)
class ApiCallLimits:
    """What the API limiter decided for this request, and which key's bucket it used."""

    api_key_prefix: str
    state: RateLimitState


def attach(scope: Scope | dict[str, Any], call: ApiCallLimits) -> None:
    scope[SCOPE_KEY] = call


def attached(scope: Scope | dict[str, Any]) -> ApiCallLimits | None:
    call = scope.get(SCOPE_KEY)
    return call if isinstance(call, ApiCallLimits) else None


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                call = attached(scope)
                if call is not None and call.state.limit is not None:
                    headers = list(message.get("headers", []))
                    present = {bytes(name).lower() for name, _ in headers}
                    for name, value in call.state.headers().items():
                        raw = name.lower().encode("latin-1")
                        if raw not in present:
                            headers.append((raw, value.encode("latin-1")))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
