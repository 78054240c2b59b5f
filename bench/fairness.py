"""Fairness under load: does one tenant hammering the API raise another tenant's p99?

Starts one ``gateway serve`` process on loopback (embedded mode: SQLite and the in-process
limiter, in a fresh data directory), creates two tenants and measures the *normal* tenant's
latency, open loop at ``--normal-rps``, in three phases of ``--duration`` seconds, repeated
``--rounds`` times (interleaved, so drift in machine load hits every phase alike):

    alone       the normal tenant only
    noisy       + the noisy tenant at 10x its limit (``--noisy-limit-rps``), refused with 429
    unlimited   the same noise with the noisy tenant's limits set to unlimited (what
                ``gateway tenants limits noisy --rpm unlimited --key-rpm unlimited`` does):
                what the limit buys, for reference

The noise comes from a separate process (so the measuring client's event loop stays idle)
with a hand-written keep-alive HTTP/1.1 client (so it takes little CPU from the server).
Latency is measured from the moment each request is sent; requests are sent on schedule
whatever the previous ones did (open loop), so a slow server cannot hide its latency.

    uv run python bench/fairness.py [--duration 10] [--rounds 3] [--normal-rps 20]
                                    [--noisy-limit-rps 10]
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
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

from gateway.cli.common import database
from gateway.kit.crypto import generate_key_line
from gateway.kit.migrations import upgrade
from gateway.kit.settings import Settings
from gateway.limits import service as limits_service
from gateway.tenants import repository as tenant_repo
from gateway.tenants import service as tenant_service


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    skipped: int = 0
    seconds: float = 0.0
    server_cpu: float = float("nan")  # server CPU seconds per second of the phase

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def sent_rate(self) -> float:
        return sum(self.statuses.values()) / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Noise:
    """The noisy tenant's steady state: requests sent, answered 200 and 429, per second."""

    rate: float
    ok_rate: float
    limited_rate: float
    skipped: int


Send = Callable[[], Awaitable[int]]


async def open_loop(send: Send, rps: float, duration: float, max_in_flight: int = 256) -> Stats:
    """Call ``send`` every 1/rps seconds for ``duration`` seconds; await the stragglers."""
    stats = Stats()
    in_flight: set[asyncio.Task[None]] = set()

    async def one() -> None:
        started = time.perf_counter()
        try:
            status = await send()
        except (OSError, httpx.HTTPError, asyncio.IncompleteReadError):
            stats.statuses[0] += 1
            return
        stats.latencies.append(time.perf_counter() - started)
        stats.statuses[status] += 1

    interval = 1.0 / rps
    start = time.perf_counter()
    n = 0
    while (due := start + n * interval) < start + duration:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        n += 1
        if len(in_flight) >= max_in_flight:
            stats.skipped += 1
            continue
        task = asyncio.create_task(one())
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    if in_flight:
        await asyncio.wait(set(in_flight), timeout=30)
    stats.seconds = time.perf_counter() - start
    return stats


def _client(base_url: str) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30, trust_env=False)


class RawPool:
    """Keep-alive HTTP/1.1 connections and a hand-written GET: a load generator costing a
    fraction of httpx's CPU, so on a small machine the noise steals little from the server."""

    def __init__(self, port: int, api_key: str, size: int = 32) -> None:
        self.port = port
        self.size = size
        self.request = (
            f"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {api_key}\r\n\r\n"
        ).encode()
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.writers: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        for _ in range(self.size):
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.writers.append(writer)
            self.idle.put_nowait((reader, writer))

    async def get(self) -> int:
        reader, writer = await self.idle.get()
        writer.write(self.request)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        self.idle.put_nowait((reader, writer))
        return status

    async def close(self) -> None:
        for writer in self.writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _drain_burst(pool: RawPool, cap: int) -> None:
    """Spend the bucket's burst quickly (8 requests in flight) until the first 429, at most
    ``cap`` requests: what follows is the steady state a hammering client lives in."""
    sent = 0
    limited = asyncio.Event()

    async def worker() -> None:
        nonlocal sent
        while sent < cap and not limited.is_set():
            sent += 1
            if await pool.get() == 429:
                limited.set()

    await asyncio.gather(*(worker() for _ in range(8)))


async def _noise(port: int, api_key: str, rps: float, burst: int, duration: float) -> None:
    """The noisy tenant: drain its burst, then send at ``rps`` for ``duration`` (reported)."""
    pool = RawPool(port, api_key)
    await pool.open()
    print("ready", flush=True)
    try:
        if burst:
            await _drain_burst(pool, burst + 50)
        print("steady", flush=True)
        stats = await open_loop(pool.get, rps, duration, max_in_flight=pool.size)
    finally:
        await pool.close()
    seconds = stats.seconds or 1.0
    report = {
        "rate": stats.sent_rate,
        "ok_rate": stats.statuses[200] / seconds,
        "limited_rate": stats.statuses[429] / seconds,
        "skipped": stats.skipped,
    }
    print(json.dumps(report), flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _setup(settings: Settings, normal_rpm: int) -> dict[str, str]:
    """Migrate the fresh database and create the two tenants (what the CLI would do)."""
    keys = {}
    async with database(settings) as maker:
        await upgrade(maker.kw["bind"], settings)
        async with maker() as session:
            for name in ("normal", "noisy"):
                tenant = await tenant_service.create_tenant(session, name)
                keys[name] = (await tenant_service.create_api_key(session, tenant)).plaintext
                if name == "normal":
                    await limits_service.set_tenant_limits(
                        session, tenant.id, {"api_rpm": normal_rpm, "api_key_rpm": normal_rpm}
                    )
            await session.commit()
    return keys


async def _limit_noisy(settings: Settings, rpm: int) -> None:
    """Set the noisy tenant's limits (0 = unlimited), as `gateway tenants limits noisy` does."""
    async with database(settings) as maker, maker() as session:
        noisy = await tenant_repo.get_tenant_by_name(session, "noisy")
        assert noisy is not None
        await limits_service.set_tenant_limits(
            session, noisy.id, {"api_rpm": rpm, "api_key_rpm": rpm}
        )
        await session.commit()


def _wait_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gateway serve exited during startup")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("gateway serve did not become ready")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _phase(
    port: int,
    server_pid: int,
    normal_key: str,
    args: argparse.Namespace,
    noisy_key: str | None,
    burst: int,
) -> tuple[Stats, Noise | None]:
    noise = None
    if noisy_key is not None:
        noise = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--noise",
            str(port),
            noisy_key,
            str(args.noisy_limit_rps * 10),
            str(burst),
            str(args.duration + 2),
            stdout=asyncio.subprocess.PIPE,
        )
        assert noise.stdout is not None
        await noise.stdout.readline()  # "ready": imports done
        await noise.stdout.readline()  # "steady": burst spent, sending at 10x the limit
    async with _client(f"http://127.0.0.1:{port}") as client:
        headers = {"Authorization": f"Bearer {normal_key}"}

        async def send() -> int:
            return (await client.get("/v1/me", headers=headers)).status_code

        await open_loop(send, args.normal_rps, 1.0)  # warm-up
        cpu_before = _cpu_seconds(server_pid)
        stats = await open_loop(send, args.normal_rps, args.duration)
        stats.server_cpu = (_cpu_seconds(server_pid) - cpu_before) / stats.seconds
    report = None
    if noise is not None:
        out, _ = await noise.communicate()
        report = Noise(**json.loads(out.decode().strip().splitlines()[-1]))
    return stats, report


PHASES = ("alone", "noisy", "unlimited")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per phase")
    parser.add_argument("--rounds", type=int, default=3, help="phases run interleaved, N times")
    parser.add_argument("--normal-rps", type=float, default=20.0)
    parser.add_argument("--noisy-limit-rps", type=int, default=10, help="noise is 10x this")
    parser.add_argument("--noise", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.noise:
        port, key, rps, burst, duration = args.noise
        asyncio.run(_noise(int(port), key, float(rps), int(burst), float(duration)))
        return

    results: dict[str, list[tuple[Stats, Noise | None]]] = {p: [] for p in PHASES}
    with tempfile.TemporaryDirectory(prefix="gw-fairness-") as data:
        key_line = generate_key_line("bench")
        settings = Settings(
            _env_file=None,
            data_dir=Path(data),
            encryption_keys=SecretStr(key_line),
            limits_cache_seconds=1,
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            GATEWAY_DATA_DIR=data,
            GATEWAY_ENCRYPTION_KEYS=key_line,
            GATEWAY_LOG_LEVEL="WARNING",
            GATEWAY_LIMITS_CACHE_SECONDS="1",
        )
        keys = asyncio.run(_setup(settings, int(args.normal_rps * 60 * 4)))
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready(base_url, server)
            for _ in range(args.rounds):
                for phase in PHASES:
                    noisy_rpm = 0 if phase == "unlimited" else args.noisy_limit_rps * 60
                    asyncio.run(_limit_noisy(settings, noisy_rpm))
                    time.sleep(1.2)  # the server's limits cache (1 s here) picks it up
                    noisy_key = None if phase == "alone" else keys["noisy"]
                    burst = noisy_rpm  # a bucket of N per minute holds N
                    results[phase].append(
                        asyncio.run(
                            _phase(port, server.pid, keys["normal"], args, noisy_key, burst)
                        )
                    )
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    _report(results, args)


def _report(results: dict[str, list[tuple[Stats, Noise | None]]], args: argparse.Namespace) -> None:
    print(
        f"one uvicorn process, SQLite, in-process limiter; {args.rounds} rounds x "
        f"{args.duration:g} s per phase; normal tenant GET /v1/me at {args.normal_rps:g} req/s; "
        f"noisy tenant limit {args.noisy_limit_rps} req/s, sending {args.noisy_limit_rps * 10} "
        "req/s once its burst is spent"
    )
    print()
    columns = ["phase", "normal p50 ms", "p95 ms", "p99 ms", "p99 per round ms"]
    columns += ["median round p99 ms", "max ms", "normal non-200", "server CPU"]
    columns += ["noisy sent/s", "noisy 200/s", "noisy 429/s"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    medians: dict[str, float] = {}
    for name, runs in results.items():
        merged = Stats()
        for stats, _ in runs:
            merged.latencies += stats.latencies
            merged.statuses.update(stats.statuses)
            merged.skipped += stats.skipped
        rounds = [stats.pct(0.99) for stats, _ in runs]
        medians[name] = statistics.median(rounds)
        bad = sum(n for status, n in merged.statuses.items() if status != 200) + merged.skipped
        noises = [noise for _, noise in runs if noise is not None]
        noisy = ["-", "-", "-"]
        if noises:
            noisy = [
                f"{statistics.mean(n.rate for n in noises):.0f}",
                f"{statistics.mean(n.ok_rate for n in noises):.1f}",
                f"{statistics.mean(n.limited_rate for n in noises):.1f}",
            ]
        cells = [name, *(f"{merged.pct(q):.1f}" for q in (0.50, 0.95, 0.99))]
        cells += [" / ".join(f"{p:.0f}" for p in rounds), f"{medians[name]:.1f}"]
        cpu = statistics.mean(stats.server_cpu for stats, _ in runs)
        cells += [f"{max(merged.latencies) * 1000:.1f}", str(bad), f"{cpu:.0%}", *noisy]
        print("| " + " | ".join(cells) + " |")
    print()
    for name in ("noisy", "unlimited"):
        ratio = medians[name] / medians["alone"]
        print(f"normal tenant p99 (median of rounds), {name} / alone: {ratio:.2f}x")


if __name__ == "__main__":
    main()
