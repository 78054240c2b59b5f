"""The mock authorization server served by uvicorn on a loopback port (as other suites run it).

Proves it is a plain ASGI app with thread-safe state, and that real client timeouts surface as
TokenEndpointUnavailable. Loopback only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn

from gateway.providers.lark.oauth import LARK_OAUTH
from gateway.providers.oauth import (
    InvalidGrant,
    TokenEndpointUnavailable,
    build_authorization_url,
    exchange_code,
    pkce_pair,
    refresh,
)
from tests.mocks.oauth_server import MockAuthServer, create_mock_oauth_server


@pytest.fixture
def served() -> Iterator[tuple[MockAuthServer, str]]:
    mock = create_mock_oauth_server("lark", require_pkce=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        mock.app, log_level="warning", lifespan="off", ws="none", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield mock, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def test_flow_over_loopback_and_timeouts(served: tuple[MockAuthServer, str]) -> None:
    mock, base = served
    spec = LARK_OAUTH.rebased(base)
    redirect = "http://127.0.0.1:1/callback"
    verifier, challenge = pkce_pair()
    async with httpx.AsyncClient(timeout=2.0) as http:
        url = build_authorization_url(
            spec,
            client_id=mock.client_id,
            redirect_uri=redirect,
            state="s",
            code_challenge=challenge,
        )
        location = (await http.get(url)).headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        cid, secret = mock.client_id, mock.client_secret
        tokens = await exchange_code(
            http,
            spec,
            code=code,
            redirect_uri=redirect,
            code_verifier=verifier,
            client_id=cid,
            client_secret=secret,
        )
        assert tokens.refresh_token is not None

        mock.fail_next(200, delay=1.5)  # slower than the client's read timeout below
        async with httpx.AsyncClient(timeout=0.3) as impatient:
            with pytest.raises(TokenEndpointUnavailable, match="ReadTimeout"):
                await refresh(
                    impatient,
                    spec,
                    refresh_token=tokens.refresh_token,
                    client_id=cid,
                    client_secret=secret,
                )
        rotated = await refresh(
            http, spec, refresh_token=tokens.refresh_token, client_id=cid, client_secret=secret
        )
        with pytest.raises(InvalidGrant):
            await refresh(
                http, spec, refresh_token=tokens.refresh_token, client_id=cid, client_secret=secret
            )
        state = (await http.get(f"{base}/_mock/state")).json()
    assert rotated.refresh_token is not None
    assert not mock.is_active(rotated.refresh_token.get_secret_value())
    assert state["refresh_calls"] == 3
    assert state["revoked_families"] == 1
