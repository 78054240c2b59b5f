"""Tool invocation overhead: the gateway's invoke path vs a direct call and bare passthroughs.

Three processes on loopback: a mock API (raw ASGI on uvicorn + uvloop + httptools), the gateway
(``create_app`` on uvicorn, plus two bench-only routes that forward the body to the mock with the
same shared client, ``runtime.http``: ``/bench/passthrough`` bare, ``/bench/passthrough-auth``
behind the same API-key dependency as every /v1 route; both at the front of the route table, as
the invoke route is), and this load generator (aiohttp, closed loop). The gateway holds one
custom tool imported from an OpenAPI document, with an API key injected into every call, so an
invoke goes through what a real one does: API-key auth, daily-quota count, tool lookup
(cached), JSON Schema validation, credential injection (decrypted once per cache TTL), the
SSRF-guarded send, classification, and the invocation-log row (group-committed by the log
writer after the response).

Measured side by side, cells interleaved within each round (median of the rounds):

    c=1:  direct call to the mock, passthroughs, invoke   -> added p50 = invoke - direct
    c=16: the same                                        -> throughput: invoke / passthrough
    gateway CPU per request (/proc, all threads)          -> steadier on a shared machine

    uv run python bench/tool_invoke.py [--duration 5] [--rounds 3]
        [--database-url postgresql+asyncpg://.../scratch_db] [--redis-url redis://...]

Default database: a fresh SQLite file (embedded mode). The API rate limits are switched off:
they are policies, and this measures overhead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from fastapi import Request, Response

from gateway.deps import TenantDep

ITEM = {"name": "widget", "qty": 3}
OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Bench items", "version": "1"},
    "paths": {
        "/items/{id}": {
            "post": {
                "operationId": "createItem",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "maxLength": 100},
                                    "qty": {"type": "integer", "minimum": 1},
                                },
                            }
                        }
                    },
                },
            }
        }
    },
    "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}},
    "security": [{"key": []}],
}


# --- the two servers (run in subprocesses) -----------------------------------------------------

#: The load generator's pooled connections sit idle while other cells run; with uvicorn's 5 s
#: default a server could close one just as it was reused ("Can not write request body").
KEEP_ALIVE_SECONDS = 300


async def _mock_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every request with 200 and a small JSON body, as fast as uvicorn allows."""
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    body = b'{"id":1,"name":"widget","qty":3,"created":true}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"47")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def serve_mock(port: int) -> None:
    import uvicorn

    uvicorn.run(
        _mock_app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def serve_gateway(port: int, mock_port: int) -> None:
    import uvicorn

    from gateway.app import create_app
    from gateway.kit.settings import Settings

    app = create_app(Settings())
    target = f"http://127.0.0.1:{mock_port}/items/1"

    async def passthrough(request: Request) -> Response:
        """Bench only: forward the body to the mock with the gateway's shared client."""
        client = request.app.state.runtime.http
        upstream = await client.post(
            target, content=await request.body(), headers={"Content-Type": "application/json"}
        )
        return Response(upstream.content, upstream.status_code, media_type="application/json")

    async def authenticated_passthrough(request: Request, tenant: TenantDep) -> Response:
        """The same, behind the API-key authentication every /v1 route has."""
        return await passthrough(request)

    app.add_api_route("/bench/passthrough", passthrough, methods=["POST"])
    app.add_api_route("/bench/passthrough-auth", authenticated_passthrough, methods=["POST"])
    # At the front of the route table, like the invoke route (``tools.router.invoke_route``):
    # a route at the end pays ~0.1 ms of FastAPI route matching that has nothing to do with
    # what it does, which would flatter every ratio against the passthroughs.
    routes = app.router.routes
    routes[:0] = [routes.pop(), routes.pop()]
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


# --- setup ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited during startup")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not start")


def _environment(args: argparse.Namespace, data_dir: str) -> dict[str, str]:
    from gateway.kit.crypto import generate_key_line

    env = {
        "GATEWAY_ENV": "development",
        "GATEWAY_DATA_DIR": data_dir,
        "GATEWAY_ENCRYPTION_KEYS": generate_key_line("bench"),
        "GATEWAY_OUTBOUND_ALLOWLIST": "127.0.0.0/8",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_API_RATE_LIMIT_RPM": "0",
        "GATEWAY_API_KEY_RATE_LIMIT_RPM": "0",
        "GATEWAY_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{data_dir}/bench.db",
        "GATEWAY_REDIS_URL": args.redis_url or "",
    }
    return env


async def _prepare_database() -> str:
    """Migrate and create a tenant; returns its API key."""
    from gateway.kit.db import create_engine, create_sessionmaker
    from gateway.kit.migrations import upgrade
    from gateway.kit.settings import Settings
    from gateway.tenants import service as tenant_service

    settings = Settings()
    engine = create_engine(settings)
    try:
        await upgrade(engine, settings)
        async with create_sessionmaker(engine)() as session:
            tenant = await tenant_service.create_tenant(
                session, f"bench-{os.getpid()}-{time.time_ns()}"
            )
            issued = await tenant_service.create_api_key(session, tenant)
            await session.commit()
            return issued.plaintext
    finally:
        await engine.dispose()


# --- load ----------------------------------------------------------------------------------------


@dataclass
class Cell:
    requests: int
    seconds: float
    latencies: list[float]
    #: CPU the gateway process spent per request (all its threads), in microseconds: steadier
    #: than req/s on a shared machine, and what bounds a CPU-bound process's throughput.
    cpu_us: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000


Call = Callable[[aiohttp.ClientSession], Awaitable[None]]


def process_cpu_seconds(pid: int | None) -> float:
    """user + system CPU of ``pid`` (Linux ``/proc``), 0 when unavailable."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(
    session: aiohttp.ClientSession,
    call: Call,
    concurrency: int,
    duration: float,
    pid: int | None = None,
) -> Cell:
    latencies: list[float] = []
    stop_at = 0.0

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            await call(session)
            latencies.append(time.perf_counter() - started)

    stop_at = time.perf_counter() + min(1.0, duration / 4)  # warm-up: open connections
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.clear()
    cpu_before = process_cpu_seconds(pid)
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cell = Cell(len(latencies), time.perf_counter() - started, latencies)
    if latencies and pid is not None:
        cell.cpu_us = (process_cpu_seconds(pid) - cpu_before) / len(latencies) * 1e6
    return cell


def _post(
    url: str, body: dict[str, Any], headers: dict[str, str], check: Callable[[Any], bool]
) -> Call:
    payload = json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **headers}

    async def call(session: aiohttp.ClientSession) -> None:
        async with session.post(url, data=payload, headers=all_headers) as response:
            data = await response.json()
            if response.status != 200 or not check(data):
                raise RuntimeError(f"{url}: HTTP {response.status}: {str(data)[:300]}")

    return call


async def run(
    args: argparse.Namespace, api_key: str, gateway: str, mock: str, gateway_pid: int
) -> dict[str, dict[int, Cell]]:
    auth = {"Authorization": f"Bearer {api_key}"}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(
            f"{gateway}/v1/toolsets",
            json={
                "name": "bench",
                "openapi": OPENAPI,
                "server_url": mock,
                "auth": {"type": "api_key", "value": "bench-secret-key-0123456789"},
            },
            headers=auth,
        ) as created:
            if created.status != 201:
                raise RuntimeError(f"toolset import failed: {await created.text()}")
        cells = {
            "direct call to the mock": _post(f"{mock}/items/1", ITEM, {}, lambda d: d["created"]),
            "bare passthrough (same client)": _post(
                f"{gateway}/bench/passthrough", ITEM, {}, lambda d: d["created"]
            ),
            "passthrough + API-key auth": _post(
                f"{gateway}/bench/passthrough-auth", ITEM, auth, lambda d: d["created"]
            ),
            "gateway invoke (custom tool)": _post(
                f"{gateway}/v1/tools/bench.createItem/invoke",
                {"parameters": {"id": 1, "body": ITEM}},
                auth,
                lambda d: d["ok"] and d["output"]["created"],
            ),
        }
        samples: dict[str, dict[int, list[Cell]]] = {n: {1: [], 16: []} for n in cells}
        for _ in range(args.rounds):
            for concurrency in (1, 16):
                for name, call in cells.items():
                    pid = None if name.startswith("direct") else gateway_pid
                    samples[name][concurrency].append(
                        await measure(session, call, concurrency, args.duration, pid)
                    )
    return {
        name: {c: sorted(v, key=lambda cell: cell.rate)[len(v) // 2] for c, v in per.items()}
        for name, per in samples.items()
    }


def report(results: dict[str, dict[int, Cell]], args: argparse.Namespace) -> None:
    database = "postgresql" if args.database_url else "sqlite"
    print(
        f"database={database}, queue={'redis' if args.redis_url else 'in-process'}, "
        f"{args.duration:g} s per cell, median of {args.rounds} round(s)"
    )
    header = (
        f"{'':34} {'c=1 req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'c=16 req/s':>11} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'CPU us/req':>11}"
    )
    print(header)
    print("-" * len(header))
    for name, cells in results.items():
        one, sixteen = cells[1], cells[16]
        cpu = f"{sixteen.cpu_us:11,.0f}" if sixteen.cpu_us else f"{'-':>11}"
        print(
            f"{name:34} {one.rate:10,.0f} {one.p50:8.2f} {one.percentile(0.99):8.2f} "
            f"{sixteen.rate:11,.0f} {sixteen.p50:8.2f} {sixteen.percentile(0.99):8.2f} {cpu}"
        )
    direct, passthrough, authenticated, invoke = (results[n] for n in results)
    print()
    print("added p50 at c=1 over a direct call to the mock (goal for invoke: <= 1.00 ms)")
    for name, cells in (
        ("bare passthrough", passthrough),
        ("passthrough + auth", authenticated),
        ("invoke", invoke),
    ):
        print(f"  {name:24} {cells[1].p50 - direct[1].p50:6.2f} ms")
    print("throughput at c=16 (goal for invoke: >= 0.80x the passthrough)")
    print(f"  invoke / bare passthrough       {invoke[16].rate / passthrough[16].rate:6.2f}x")
    print(
        f"  invoke / passthrough + auth     {invoke[16].rate / authenticated[16].rate:6.2f}x"
        "   (same API-key auth on both: validation, credentials, retries, logging)"
    )
    print("gateway CPU per request at c=16 (the ceiling on a CPU-bound process), ratio inverted")
    print(f"  passthrough / invoke            {passthrough[16].cpu_us / invoke[16].cpu_us:6.2f}x")
    print(f"  passthrough + auth / invoke     {authenticated[16].cpu_us / invoke[16].cpu_us:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--database-url", help="a scratch database (default: fresh SQLite)")
    parser.add_argument("--redis-url", help="use Redis (arq queue, Redis token buckets)")
    parser.add_argument("--serve-mock", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-gateway", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mock-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_mock:
        serve_mock(args.serve_mock)
        return
    if args.serve_gateway:
        serve_gateway(args.serve_gateway, args.mock_port)
        return

    with tempfile.TemporaryDirectory(prefix="bench-tools-") as data_dir:
        os.environ.update(_environment(args, data_dir))
        if not args.redis_url:
            os.environ.pop("GATEWAY_REDIS_URL", None)
        api_key = asyncio.run(_prepare_database())
        mock_port, gateway_port = _free_port(), _free_port()
        processes = [
            subprocess.Popen([sys.executable, __file__, "--serve-mock", str(mock_port)]),
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--serve-gateway",
                    str(gateway_port),
                    "--mock-port",
                    str(mock_port),
                ]
            ),
        ]
        try:
            _wait_listening(mock_port, processes[0])
            _wait_listening(gateway_port, processes[1])
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                results = runner.run(
                    run(
                        args,
                        api_key,
                        f"http://127.0.0.1:{gateway_port}",
                        f"http://127.0.0.1:{mock_port}",
                        processes[1].pid,
                    )
                )
            report(results, args)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


if __name__ == "__main__":
    main()
