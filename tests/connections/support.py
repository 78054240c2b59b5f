"""Shared helpers of the connect tests: loopback servers, mock platforms, the browser flow.

Mocks run on real loopback ports (uvicorn in a thread) because the gateway reaches providers
through its one SSRF-guarded HTTP client; ``GATEWAY_PROVIDER_BASE_URLS`` (``settings.
provider_base_urls``) points each provider at its mock for the duration of one test.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import sqlalchemy as sa
import uvicorn
from sqlmodel import SQLModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.kit.runtime import Runtime
from gateway.models import Connection
from gateway.models.base import utcnow
from tests.conftest import TenantCtx
from tests.mocks.oauth_server import MockAuthServer

MOCK_CLIENT_ID, MOCK_CLIENT_SECRET = "mock-client-id", "mock-client-secret"


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (random port) in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class Switchboard:
    """One loopback server for a whole test session, hosting many mock apps under path
    prefixes (``http://127.0.0.1:<port>/m7/…`` → mock 7 sees ``/…``). Provider bases may carry a
    path prefix, so each mock still gets its own base URL, without a server start per test."""

    def __init__(self) -> None:
        self.base = ""
        self._apps: dict[str, ASGIApp] = {}
        self._ids = itertools.count(1)

    def mount(self, app: ASGIApp) -> tuple[str, str]:
        """Host ``app``; returns its key and base URL."""
        key = f"m{next(self._ids)}"
        self._apps[key] = app
        return key, f"{self.base}/{key}"

    def unmount(self, key: str) -> None:
        self._apps.pop(key, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        _, key, rest = (scope["path"] + "/").split("/", 2)
        app = self._apps.get(key)
        if app is None:
            await Response("no such mock", status_code=404)(scope, receive, send)
            return
        path = "/" + rest[:-1] if rest else "/"
        await app({**scope, "path": path, "raw_path": path.encode()}, receive, send)


class SlowTokenEndpoint:
    """ASGI wrapper delaying POSTs to ``path`` (keeps a refresh in flight long enough to
    observe it, or to make concurrent refreshers really overlap)."""

    def __init__(self, app: ASGIApp, path: str, delay: float) -> None:
        self.app, self.path, self.delay = app, path, delay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


# --------------------------------------------------------------------------- platform mock


@dataclass
class PlatformMock:
    """Credential endpoints of Telegram, Discord, DingTalk, WeCom and Lark in one ASGI app.

    Valid credentials: bot token :attr:`bot_token`, app/corp secret :attr:`app_secret`. App
    tokens are numbered (``<prefix>-1``, ``-2``, …) so a test can tell a re-fetch happened.
    """

    bot_token: str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    app_secret: str = "mock-app-secret-0001"
    expire: int = 7200
    calls: Counter[str] = field(default_factory=Counter)
    _serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/getMe", self._telegram, methods=["GET"]),
                Route("/api/v10/users/@me", self._discord, methods=["GET"]),
                Route("/v1.0/oauth2/accessToken", self._dingtalk, methods=["POST"]),
                Route("/cgi-bin/gettoken", self._wecom_token, methods=["GET"]),
                Route("/cgi-bin/auth/getuserinfo", self._wecom_user, methods=["GET"]),
                Route(
                    "/open-apis/auth/v3/tenant_access_token/internal", self._lark, methods=["POST"]
                ),
            ]
        )

    def _token(self, prefix: str) -> str:
        return f"{prefix}-{next(self._serial)}"

    async def _telegram(self, request: Request) -> Response:
        self.calls["telegram"] += 1
        if request.path_params["token"] != self.bot_token:
            body = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return JSONResponse(body, status_code=401)
        result = {"id": 123456789, "is_bot": True, "first_name": "Mock", "username": "mock_bot"}
        return JSONResponse({"ok": True, "result": result})

    async def _discord(self, request: Request) -> Response:
        self.calls["discord"] += 1
        if request.headers.get("authorization") != f"Bot {self.bot_token}":
            return JSONResponse({"message": "401: Unauthorized", "code": 0}, status_code=401)
        return JSONResponse({"id": "999000111", "username": "mockbot", "bot": True})

    async def _dingtalk(self, request: Request) -> Response:
        self.calls["dingtalk"] += 1
        body = await request.json()
        if body.get("appSecret") != self.app_secret:
            return JSONResponse(
                {"code": "invalidClientSecret", "message": "app secret is invalid"},
                status_code=400,
            )
        return JSONResponse({"accessToken": self._token("dt-app"), "expireIn": self.expire})

    async def _wecom_token(self, request: Request) -> Response:
        self.calls["wecom"] += 1
        if request.query_params.get("corpsecret") != self.app_secret:
            return JSONResponse({"errcode": 40001, "errmsg": "invalid credential"})
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "access_token": self._token("wc-corp"),
                "expires_in": self.expire,
            }
        )

    async def _wecom_user(self, request: Request) -> Response:
        self.calls["wecom_userinfo"] += 1
        if request.query_params.get("code") != "wecom-code":
            return JSONResponse({"errcode": 40029, "errmsg": "invalid code"})
        return JSONResponse({"errcode": 0, "errmsg": "ok", "userid": "zhangsan"})

    async def _lark(self, request: Request) -> Response:
        self.calls["lark"] += 1
        body = await request.json()
        if body.get("app_secret") != self.app_secret:
            return JSONResponse({"code": 10014, "msg": "app secret invalid"})
        return JSONResponse(
            {
                "code": 0,
                "msg": "ok",
                "tenant_access_token": self._token("t-lark"),
                "expire": self.expire,
            }
        )


# --------------------------------------------------------------------------- the browser flow


async def set_client(
    client: httpx.AsyncClient, tenant: TenantCtx, provider: str, **extra: Any
) -> None:
    body = {"client_id": MOCK_CLIENT_ID, "client_secret": MOCK_CLIENT_SECRET, **extra}
    response = await client.put(
        f"/v1/providers/{provider}/oauth-client", json=body, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


@dataclass
class FlowLegs:
    """What a browser saw at each step (for assertions on every leg)."""

    authorize: httpx.Response
    start: httpx.Response
    consent: httpx.Response | None = None
    callback: httpx.Response | None = None

    @property
    def provider_url(self) -> str:
        return self.start.headers["location"]

    @property
    def state(self) -> str:
        return parse_qs(urlsplit(self.provider_url).query)["state"][0]

    @property
    def callback_url(self) -> str:
        assert self.consent is not None
        return self.consent.headers["location"]


async def begin_flow(
    client: httpx.AsyncClient, tenant: TenantCtx, provider: str, **body: Any
) -> FlowLegs:
    """Authorize (API) → start (browser, sets the cookie) → provider consent (mock)."""
    authorize = await client.post(
        f"/v1/connections/{provider}/authorize", json=body, headers=tenant.headers
    )
    assert authorize.status_code == 200, authorize.text
    start_url = authorize.json()["authorization_url"]
    start = await client.get(start_url)
    assert start.status_code == 302, start.text
    legs = FlowLegs(authorize, start)
    async with httpx.AsyncClient(timeout=10) as browser_to_provider:
        legs.consent = await browser_to_provider.get(legs.provider_url)
    assert legs.consent.status_code == 302, legs.consent.text
    return legs


async def run_flow(
    client: httpx.AsyncClient, tenant: TenantCtx, provider: str, **body: Any
) -> FlowLegs:
    legs = await begin_flow(client, tenant, provider, **body)
    legs.callback = await client.get(legs.callback_url)
    return legs


def connection_id_of(legs: FlowLegs) -> str:
    """The connection id a successful flow reported (page or ``return_to`` redirect)."""
    assert legs.callback is not None
    response = legs.callback
    if response.status_code == 302:
        return parse_qs(urlsplit(response.headers["location"]).query)["connection_id"][0]
    assert response.status_code == 200, response.text
    marker = "<code>con_"
    start = response.text.index(marker) + len("<code>")
    return response.text[start : response.text.index("</code>", start)]


async def connections_of(client: httpx.AsyncClient, tenant: TenantCtx) -> list[dict[str, Any]]:
    response = await client.get("/v1/connections", headers=tenant.headers)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def dump_database(runtime: Runtime) -> str:
    """Every row of every table, every column, as text."""
    parts: list[str] = []
    async with runtime.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await conn.execute(sa.select(table))).all():
                parts.append(" | ".join(str(value) for value in row))
    return "\n".join(parts)


def issued_tokens(mock: MockAuthServer) -> list[str]:
    return [token.value for token in mock.issued]


async def connect_via_flow(
    client: httpx.AsyncClient, tenant: TenantCtx, provider: str, **body: Any
) -> str:
    """Run the whole browser flow (the provider's mock must be set up) → connection id."""
    await set_client(client, tenant, provider)
    return connection_id_of(await run_flow(client, tenant, provider, **body))


async def expire_connection(runtime: Runtime, connection_id: str, *, ago_seconds: int) -> None:
    """Make the stored token look expired (or expiring, with a negative ``ago_seconds``)."""
    async with runtime.sessionmaker() as session:
        await session.execute(
            sa.update(Connection)
            .where(Connection.id == connection_id)
            .values(expires_at=utcnow() - timedelta(seconds=ago_seconds))
        )
        await session.commit()
