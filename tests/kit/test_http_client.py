"""The client factory end to end, against loopback listeners only.

Network rule: the autouse ``dial_log`` fixture replaces aiohttp's dialler so that any attempt to
open a connection to a non-loopback address is recorded and refused before a socket exists.
Public and private destinations are reached through stub resolvers; only 127.0.0.1 is dialled.
"""

from __future__ import annotations

import asyncio
import errno
import gzip
import ipaddress
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp.connector
import httpx
import pytest
import respx
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.kit import http as kit_http
from gateway.kit.http import (
    GuardedAiohttpTransport,
    ResponseTooLarge,
    create_http_client,
    read_capped,
    send_following_redirects,
)
from gateway.kit.ssrf import DestinationBlocked, EgressPolicy
from tests.kit.test_ssrf import BLOCKED_URLS

NO_EXCEPTIONS = EgressPolicy()
LOOPBACK_ALLOWED = EgressPolicy.from_setting("127.0.0.0/8")
PUBLIC_V4 = "93.184.216.34"

# --- fixtures ---------------------------------------------------------------------------------


@dataclass
class DialLog:
    attempts: list[tuple[str, int]] = field(default_factory=list)

    @property
    def non_loopback(self) -> list[tuple[str, int]]:
        return [a for a in self.attempts if not _is_loopback(a[0])]


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@pytest.fixture(autouse=True)
def dial_log(monkeypatch: pytest.MonkeyPatch) -> DialLog:
    """Record every address aiohttp dials; refuse non-loopback ones before a socket exists."""
    log = DialLog()
    real_start_connection = aiohttp.connector.aiohappyeyeballs.start_connection

    async def start_connection(addr_infos: list[Any], **kwargs: Any) -> socket.socket:
        addresses = [(str(info[4][0]), int(info[4][1])) for info in addr_infos]
        log.attempts.extend(addresses)
        if not all(_is_loopback(address) for address, _ in addresses):
            raise OSError(errno.ECONNREFUSED, "test network rule: only loopback is dialled")
        return await real_start_connection(addr_infos, **kwargs)

    monkeypatch.setattr(aiohttp.connector.aiohappyeyeballs, "start_connection", start_connection)
    return log


class StubResolver(AbstractResolver):
    """aiohttp resolver answering from a table; a list of lists answers differently per call."""

    def __init__(self, answers: dict[str, list[str] | list[list[str]]]) -> None:
        self._answers = {k: list(v) for k, v in answers.items()}
        self.calls: list[tuple[str, int]] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append((host, port))
        answer = self._answers[host]
        addresses = answer.pop(0) if isinstance(answer[0], list) else answer
        assert isinstance(addresses, list)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        pass


Responder = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class LoopbackServer:
    port: int
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def paths(self) -> list[str]:
        return [head.split(b" ", 2)[1].decode() for head in self.requests]


def _response(status: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _ok(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(_response("200 OK", b'{"ok":true}', {"Content-Type": "application/json"}))


@asynccontextmanager
async def loopback_server(respond: Responder = _ok) -> AsyncIterator[LoopbackServer]:
    """An HTTP/1.1 server on 127.0.0.1 that counts connections and records request heads."""
    handlers: set[asyncio.Task[Any]] = set()
    state = LoopbackServer(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                state.requests.append(head)
                for line in head.lower().split(b"\r\n"):
                    if line.startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":")[1]))
                await respond(head, reader, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # Finish normally: asyncio (3.11) logs an error for a cancelled connection handler.
            pass
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def _header(head: bytes, name: str) -> str | None:
    for line in head.decode("latin-1").split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return None


# --- F12 at the client: 0 connections --------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://2130706433:{port}/",
        "http://localhost:{port}/",
    ],
)
async def test_empty_allowlist_makes_zero_connections_to_loopback(
    template: str, dial_log: DialLog
) -> None:
    async with loopback_server() as server, create_http_client(policy=NO_EXCEPTIONS) as client:
        with pytest.raises(DestinationBlocked):
            await client.get(template.format(port=server.port))
    assert server.connections == 0
    assert dial_log.attempts == []


@pytest.mark.parametrize(
    ("template", "policy"),
    [
        ("http://127.0.0.1:{port}/", LOOPBACK_ALLOWED),
        ("http://[::ffff:127.0.0.1]:{port}/", LOOPBACK_ALLOWED),
        ("http://localhost:{port}/", EgressPolicy.from_setting("127.0.0.0/8,::1")),
        ("http://localhost:{port}/", EgressPolicy.from_setting("localhost")),
    ],
)
async def test_allowlist_reaches_the_same_listener(template: str, policy: EgressPolicy) -> None:
    async with loopback_server() as server, create_http_client(policy=policy) as client:
        response = await client.get(template.format(port=server.port))
    assert response.json() == {"ok": True}
    assert server.connections == 1


@pytest.mark.parametrize(("url", "reason"), BLOCKED_URLS)
async def test_f12_matrix_is_refused_by_the_client_before_dialling(
    url: str, reason: str, dial_log: DialLog
) -> None:
    async with create_http_client(policy=NO_EXCEPTIONS) as client:
        with pytest.raises(DestinationBlocked):
            await client.get(url)
    assert dial_log.attempts == []


async def test_public_name_is_dialled_at_its_vetted_address(dial_log: DialLog) -> None:
    resolver = StubResolver({"api.example.com": [PUBLIC_V4]})
    async with create_http_client(policy=NO_EXCEPTIONS, resolver=resolver) as client:
        # The stub dialler refuses public addresses: the attempt is recorded, nothing is sent.
        with pytest.raises(httpx.ConnectError):
            await client.get("http://api.example.com/")
    assert dial_log.attempts == [(PUBLIC_V4, 80)]


async def test_mixed_dns_answer_is_refused_before_dialling(dial_log: DialLog) -> None:
    resolver = StubResolver({"mixed.example.com": [PUBLIC_V4, "10.0.0.5"]})
    async with create_http_client(policy=NO_EXCEPTIONS, resolver=resolver) as client:
        with pytest.raises(DestinationBlocked, match="private"):
            await client.get("https://mixed.example.com/")
    assert dial_log.attempts == []


async def test_rebinding_resolver_public_then_metadata(dial_log: DialLog) -> None:
    resolver = StubResolver({"rebind.example.com": [[PUBLIC_V4], ["169.254.169.254"]]})
    async with create_http_client(policy=NO_EXCEPTIONS, resolver=resolver) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://rebind.example.com/")
        # A new (host, port) forces a new lookup; the rebinding answer is refused.
        with pytest.raises(DestinationBlocked, match="link-local"):
            await client.get("http://rebind.example.com:8080/")
    assert len(resolver.calls) == 2
    assert dial_log.attempts == [(PUBLIC_V4, 80)]


async def test_rebinding_connection_goes_to_the_vetted_address(dial_log: DialLog) -> None:
    # 127.0.0.1 (allow-listed) stands in for "public" so that a real connection can be observed.
    resolver = StubResolver({"rebind.test": [["127.0.0.1"], ["10.0.0.5"], ["10.0.0.5"]]})
    async with (
        loopback_server() as server,
        loopback_server() as second,
        create_http_client(policy=LOOPBACK_ALLOWED, resolver=resolver) as client,
    ):
        first = await client.get(server.url(host="rebind.test"))
        again = await client.get(server.url("/again", host="rebind.test"))  # cached, pinned
        with pytest.raises(DestinationBlocked):
            await client.get(second.url(host="rebind.test"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert server.paths() == ["/", "/again"]
    assert second.connections == 0
    assert dial_log.non_loopback == []
    assert _header(server.requests[0], "host") == f"rebind.test:{server.port}"  # Host kept


async def test_dial_time_check_catches_what_an_earlier_layer_missed(
    monkeypatch: pytest.MonkeyPatch, dial_log: DialLog
) -> None:
    # Simulate a resolver-vetting bug: the socket factory must still refuse the address.
    monkeypatch.setattr(kit_http, "vet_resolved", lambda host, addresses, policy: [])
    resolver = StubResolver({"evil.test": ["127.0.0.1"]})
    async with (
        loopback_server() as server,
        create_http_client(policy=NO_EXCEPTIONS, resolver=resolver) as client,
    ):
        with pytest.raises(httpx.ConnectError, match=r"egress policy refuses 127\.0\.0\.1"):
            await client.get(server.url(host="evil.test"))
    assert server.connections == 0
    assert dial_log.attempts == [("127.0.0.1", server.port)]


async def test_userinfo_is_refused_even_for_an_allowed_host() -> None:
    async with loopback_server() as server, create_http_client(policy=LOOPBACK_ALLOWED) as client:
        with pytest.raises(DestinationBlocked, match="credentials"):
            await client.get(f"http://a@127.0.0.1:{server.port}/")
    assert server.connections == 0


async def test_without_policy_the_client_is_unguarded_but_uses_the_same_transport() -> None:
    async with loopback_server() as server, create_http_client(policy=None) as client:
        response = await client.get(server.url())
        assert isinstance(client._transport, GuardedAiohttpTransport)
    assert response.status_code == 200
    assert server.connections == 1


async def test_blocked_requests_do_not_leak_pool_slots() -> None:
    resolver = StubResolver({"private.test": ["10.0.0.5"]})
    async with (
        loopback_server() as server,
        create_http_client(
            policy=LOOPBACK_ALLOWED, resolver=resolver, max_connections=1, timeout=2
        ) as client,
    ):
        for _ in range(3):
            with pytest.raises(DestinationBlocked):
                await client.get("http://private.test/")
        # With a leaked slot this would wait for the pool until the timeout.
        assert (await client.get(server.url())).status_code == 200


async def test_refused_connection_is_a_connect_error_not_a_timeout() -> None:
    # httpx-aiohttp 0.2.0 alone reports this as ConnectTimeout; retry logic must tell them apart.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    async with create_http_client(policy=LOOPBACK_ALLOWED) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            await client.get(f"http://127.0.0.1:{closed_port}/")
    assert not isinstance(caught.value, httpx.TimeoutException)


async def test_server_dropping_the_request_is_a_protocol_error_not_a_connect_error() -> None:
    # The request was sent: callers must not treat this as "never reached the server".
    async def drop(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        writer.close()
        raise ConnectionResetError

    async with loopback_server(drop) as server, create_http_client(policy=LOOPBACK_ALLOWED) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post(server.url(), json={"charge": 1})


# --- redirects ---------------------------------------------------------------------------------


def _redirects(table: dict[str, tuple[str, str]]) -> Responder:
    async def respond(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        path = head.split(b" ", 2)[1].decode()
        if path in table:
            status, location = table[path]
            writer.write(_response(status, headers={"Location": location}))
        else:
            writer.write(_response("200 OK", b"final"))

    return respond


async def test_redirect_to_metadata_address_is_refused(dial_log: DialLog) -> None:
    respond = _redirects({"/": ("302 Found", "http://169.254.169.254/latest/meta-data/")})
    async with (
        loopback_server(respond) as server,
        create_http_client(policy=LOOPBACK_ALLOWED) as client,
    ):
        with pytest.raises(DestinationBlocked, match="link-local"):
            await send_following_redirects(
                client, client.build_request("GET", server.url()), LOOPBACK_ALLOWED
            )
    assert server.connections == 1
    assert dial_log.non_loopback == []


async def test_redirect_to_a_name_resolving_to_metadata_is_refused(dial_log: DialLog) -> None:
    resolver = StubResolver({"metadata.test": ["169.254.169.254"]})
    respond = _redirects({"/": ("302 Found", "http://metadata.test/computeMetadata/v1/")})
    async with (
        loopback_server(respond) as server,
        create_http_client(policy=LOOPBACK_ALLOWED, resolver=resolver) as client,
    ):
        request = client.build_request("GET", server.url())
        with pytest.raises(DestinationBlocked, match="metadata"):
            await send_following_redirects(client, request, LOOPBACK_ALLOWED)
    assert resolver.calls == [("metadata.test", 80)]
    assert dial_log.non_loopback == []


async def test_same_origin_redirect_keeps_credentials_and_303_switches_to_get() -> None:
    respond = _redirects({"/start": ("303 See Other", "/final")})
    async with (
        loopback_server(respond) as server,
        create_http_client(policy=LOOPBACK_ALLOWED) as client,
    ):
        request = client.build_request(
            "POST", server.url("/start"), json={"a": 1}, headers={"Authorization": "Bearer t"}
        )
        response = await send_following_redirects(client, request, LOOPBACK_ALLOWED)
        assert await read_capped(response) == b"final"
    final = server.requests[-1]
    assert final.startswith(b"GET /final ")
    assert _header(final, "authorization") == "Bearer t"
    assert _header(final, "content-type") is None


async def test_cross_origin_redirect_drops_credentials_and_307_replays_the_body() -> None:
    resolver = StubResolver({"other.test": ["127.0.0.1"]})
    async with loopback_server() as target:
        respond = _redirects(
            {"/start": ("307 Temporary Redirect", target.url("/final", "other.test"))}
        )
        async with (
            loopback_server(respond) as origin,
            create_http_client(policy=LOOPBACK_ALLOWED, resolver=resolver) as client,
        ):
            request = client.build_request(
                "POST",
                origin.url("/start"),
                content=b"payload",
                headers={
                    "Authorization": "Bearer secret",
                    "X-Api-Key": "secret",
                    "Cookie": "sid=secret",
                    "Content-Type": "text/plain",
                },
            )
            response = await send_following_redirects(client, request, LOOPBACK_ALLOWED)
            await read_capped(response)
    final = target.requests[-1]
    assert final.startswith(b"POST /final ")
    assert b"secret" not in final
    assert _header(final, "host") == f"other.test:{target.port}"
    assert _header(final, "content-length") == "7"
    assert _header(final, "content-type") == "text/plain"


async def test_redirect_loops_stop_after_max_hops() -> None:
    respond = _redirects({"/loop": ("302 Found", "/loop")})
    async with (
        loopback_server(respond) as server,
        create_http_client(policy=LOOPBACK_ALLOWED) as client,
    ):
        with pytest.raises(httpx.TooManyRedirects):
            await send_following_redirects(
                client, client.build_request("GET", server.url("/loop")), LOOPBACK_ALLOWED
            )
    assert server.paths() == ["/loop"] * 4  # the request and 3 hops


# --- F11: size cap and total deadline -----------------------------------------------------------


async def _endless_chunked(
    head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    while True:  # until the client hangs up
        writer.write(chunk)
        await writer.drain()


async def test_endless_response_is_cut_at_the_cap_with_bounded_memory() -> None:
    limit = 1024 * 1024
    async with (
        loopback_server(_endless_chunked) as server,
        create_http_client(policy=LOOPBACK_ALLOWED, timeout=10, max_response_bytes=limit) as client,
    ):
        tracemalloc.start()
        try:
            with pytest.raises(ResponseTooLarge) as caught:
                await client.get(server.url())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert caught.value.status_code == 502
    assert caught.value.limit_bytes == limit
    assert peak < 4 * limit


async def test_read_capped_limits_the_decoded_size_of_a_gzip_bomb() -> None:
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    assert len(bomb) < 64 * 1024  # well under the transport's raw cap

    async def respond(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        writer.write(_response("200 OK", bomb, {"Content-Encoding": "gzip"}))

    async with (
        loopback_server(respond) as server,
        create_http_client(policy=LOOPBACK_ALLOWED) as client,
    ):
        async with client.stream("GET", server.url()) as response:
            with pytest.raises(ResponseTooLarge):
                await read_capped(response, limit_bytes=1024 * 1024)
            assert response.is_closed


async def test_read_capped_refuses_a_declared_oversize_body_without_reading_it() -> None:
    async def respond(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\nfirst bytes")
        await writer.drain()
        await asyncio.sleep(60)  # the rest never comes

    async with (
        loopback_server(respond) as server,
        create_http_client(policy=LOOPBACK_ALLOWED, timeout=5) as client,
    ):
        started = time.monotonic()
        async with client.stream("GET", server.url()) as response:
            with pytest.raises(ResponseTooLarge):
                await read_capped(response, limit_bytes=1024)
    assert time.monotonic() - started < 1


async def test_read_capped_returns_the_body_and_closes() -> None:
    async with loopback_server() as server, create_http_client(policy=LOOPBACK_ALLOWED) as client:
        async with client.stream("GET", server.url()) as response:
            assert await read_capped(response, limit_bytes=11) == b'{"ok":true}'
            assert response.is_closed


async def test_hanging_endpoint_is_aborted_at_the_timeout() -> None:
    async def hang(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await asyncio.sleep(120)

    async with (
        loopback_server(hang) as server,
        create_http_client(policy=LOOPBACK_ALLOWED, timeout=0.5) as client,
    ):
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            await client.get(server.url())
    assert 0.4 < time.monotonic() - started < 2


async def test_trickling_endpoint_is_aborted_at_the_total_deadline() -> None:
    # One byte every 50 ms never trips a 0.5 s per-read timeout; only a total deadline helps.
    async def trickle(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with (
        loopback_server(trickle) as server,
        create_http_client(policy=LOOPBACK_ALLOWED, timeout=0.5) as client,
    ):
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout, match="total deadline"):
            await client.get(server.url())
    assert 0.4 < time.monotonic() - started < 2


async def test_a_request_without_timeouts_has_no_total_deadline() -> None:
    async def slow(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        await asyncio.sleep(0.3)
        writer.write(_response("200 OK", b"late"))

    async with (
        loopback_server(slow) as server,
        create_http_client(policy=LOOPBACK_ALLOWED, timeout=0.1) as client,
    ):
        response = await client.get(server.url(), timeout=None)
    assert response.content == b"late"


# --- environment, cookies, lifecycle -----------------------------------------------------------


async def test_proxy_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    async with loopback_server() as proxy, loopback_server() as target:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url())
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with create_http_client(policy=LOOPBACK_ALLOWED) as client:
            assert (await client.get(target.url())).status_code == 200
        assert (target.connections, proxy.connections) == (1, 0)
        # Control: a default client does follow the environment, so the setup is effective.
        async with httpx.AsyncClient() as default_client:
            await default_client.get(target.url("/via-proxy"))
        assert proxy.connections == 1


async def test_cookies_from_one_response_are_never_sent_again() -> None:
    async def set_cookie(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        writer.write(_response("200 OK", b"", {"Set-Cookie": "sid=tenant-a; Path=/"}))

    async with (
        loopback_server(set_cookie) as server,
        create_http_client(policy=LOOPBACK_ALLOWED) as client,
    ):
        await client.get(server.url("/tenant-a"))
        client.cookies = {"planted": "x"}  # the shared store cannot be given any either
        client.cookies.set("planted", "y")
        await client.get(server.url("/tenant-b"))
    assert [_header(head, "cookie") for head in server.requests] == [None, None]
    assert not client.cookies


async def test_closing_the_client_closes_the_aiohttp_session() -> None:
    async with loopback_server() as server:
        client = create_http_client(policy=LOOPBACK_ALLOWED)
        await client.get(server.url())
        transport = client._transport
        assert isinstance(transport, GuardedAiohttpTransport)
        session = transport._inner.client
        assert isinstance(session, aiohttp.ClientSession)
        assert not session.closed
        await client.aclose()
        assert session.closed


# --- respx --------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [None, NO_EXCEPTIONS])
async def test_respx_httpx_mocker_intercepts_the_factory_client(
    policy: EgressPolicy | None, dial_log: DialLog
) -> None:
    with respx.mock(using="httpx") as mock:
        route = mock.post("https://slack.com/api/chat.postMessage").respond(json={"ok": True})
        async with create_http_client(policy=policy) as client:
            response = await client.post("https://slack.com/api/chat.postMessage", json={})
    assert response.json() == {"ok": True}
    assert route.call_count == 1
    assert dial_log.attempts == []


async def test_respx_default_mocker_does_not_intercept_the_factory_client() -> None:
    # respx's default patches httpcore, which this transport never uses: the request goes out.
    async with loopback_server() as server:
        with respx.mock(assert_all_called=False) as mock:
            route = mock.get(server.url()).respond(status_code=599)
            async with create_http_client(policy=None) as client:
                response = await client.get(server.url())
        assert (response.status_code, route.call_count, server.connections) == (200, 0, 1)
