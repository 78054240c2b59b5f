"""Outbound throughput: httpx's default transport vs the gateway's client factory.

Justifies the transport choice in ``gateway.kit.http`` (see shared/performance.md): one process
POSTs small JSON to a loopback FastAPI mock (uvicorn + uvloop + httptools, in a subprocess) at
concurrency 1 and 16, for a fixed duration per cell, and prints req/s, p50 latency and ratios.
Absolute numbers drift between runs and machines; compare the ratios from one run.

    uv run python bench/outbound_transport.py [--duration 5] [--rounds 1] [--loop uvloop|asyncio]

Loopback only: the mock binds 127.0.0.1 and the guarded client's allowlist is 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from httpx_aiohttp import AiohttpTransport

from gateway.kit.http import create_http_client
from gateway.kit.ssrf import EgressPolicy

PAYLOAD = {"event": "message.created", "channel": "C123", "text": "hello", "ts": 1700000000.1}
CONCURRENCIES = (1, 16)


def serve(port: int) -> None:
    """Run the mock provider: 200 + small JSON for every POST /hook."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/hook")
    async def hook() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


@dataclass
class Cell:
    requests: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000


async def measure(client: httpx.AsyncClient, url: str, concurrency: int, duration: float) -> Cell:
    """Closed-loop load: ``concurrency`` workers each send back-to-back until the time is up."""
    latencies: list[float] = []
    stop_at = 0.0

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            response = await client.post(url, json=PAYLOAD)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)

    # Warm-up: open the pool's connections so both clients start from the same state.
    stop_at = time.perf_counter() + min(1.0, duration / 5)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.clear()
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Cell(len(latencies), time.perf_counter() - started, latencies)


async def run(url: str, duration: float, rounds: int) -> dict[str, dict[int, Cell]]:
    clients: dict[str, Callable[[], httpx.AsyncClient]] = {
        "httpx.AsyncClient() default": httpx.AsyncClient,
        # Same transport without the guard, deadline and cap: isolates what the guard costs.
        "httpx + AiohttpTransport() bare": lambda: httpx.AsyncClient(
            transport=AiohttpTransport(trust_env=False), trust_env=False
        ),
        "create_http_client (aiohttp, guarded)": lambda: create_http_client(
            policy=EgressPolicy.from_setting("127.0.0.0/8")
        ),
    }
    samples: dict[str, dict[int, list[Cell]]] = {n: {c: [] for c in CONCURRENCIES} for n in clients}
    # Clients take turns within each round so that drift in machine load hits all of them alike.
    for _ in range(rounds):
        for concurrency in CONCURRENCIES:
            for name, make in clients.items():
                async with make() as client:
                    cell = await measure(client, url, concurrency, duration)
                samples[name][concurrency].append(cell)
    # Report the round with the median rate per cell.
    return {
        name: {
            c: sorted(cells, key=lambda cell: cell.rate)[len(cells) // 2]
            for c, cells in per_concurrency.items()
        }
        for name, per_concurrency in samples.items()
    }


def report(
    results: dict[str, dict[int, Cell]], loop_name: str, duration: float, rounds: int
) -> None:
    header = f"{'client':40} " + " ".join(
        f"{f'c={c} req/s':>12} {f'c={c} p50 ms':>12}" for c in CONCURRENCIES
    )
    print(
        f"loop={loop_name}, {duration:g} s per cell, median of {rounds} round(s), "
        f"POST {len(json.dumps(PAYLOAD))} B JSON"
    )
    print(header)
    print("-" * len(header))
    for name, cells in results.items():
        row = " ".join(f"{cells[c].rate:12,.0f} {cells[c].p50_ms:12.2f}" for c in CONCURRENCIES)
        print(f"{name:40} {row}")
    default, bare, guarded = results.values()
    # Throughput ratio, and latency ratio (other p50 / guarded p50): > 1 means guarded is better.
    for label, other in (("guarded vs default", default), ("guarded vs bare aiohttp", bare)):
        ratios = " ".join(
            f"{guarded[c].rate / other[c].rate:11.2f}x {other[c].p50_ms / guarded[c].p50_ms:11.2f}x"
            for c in CONCURRENCIES
        )
        print(f"{'ratio ' + label:40} {ratios}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("mock server exited during startup")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("mock server did not start listening")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per cell")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    port = _free_port()
    mock = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        _wait_until_listening(port, mock, timeout=20)
        url = f"http://127.0.0.1:{port}/hook"
        if args.loop == "uvloop":
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                results = runner.run(run(url, args.duration, args.rounds))
        else:
            results = asyncio.run(run(url, args.duration, args.rounds))
        report(results, args.loop, args.duration, args.rounds)
    finally:
        mock.terminate()
        try:
            mock.wait(timeout=10)
        except subprocess.TimeoutExpired:
            mock.kill()
            mock.wait()


if __name__ == "__main__":
    main()
