"""Soak (reliability.md F14): webhook ingress at a fixed rate for minutes, with a real worker.

Processes on loopback: the gateway (``uvicorn gateway.app:create_app``, production mode, one
process) against PostgreSQL and Redis, one ``gateway worker`` (arq) processing the inbox, and
this open-loop load generator (aiohttp): requests leave on a fixed schedule whatever the answers
do, so a slow server shows up as latency, not as a lower offered rate. Every request is a unique
signed ~1 KB Slack ``event_callback``.

Printed every ``--report-every`` seconds and at the end:

- answers: 2xx / 429 / other 4xx / 5xx / transport errors, latency p50 / p99 / max;
- queue lag: age of the oldest ``pending`` inbox row, sampled every 2 s (p95 over the run);
- gateway RSS after warm-up (first report) and at the end, and the growth between them;
- after the load stops: seconds until no event is left ``pending``/``processing`` (the backlog
  drained), and that every 2xx answer has its stored row.

    uv run python bench/soak.py --rate 400 --duration 600      # F14: 10 min at 2x 200/s
    uv run python bench/soak.py --rate 400 --duration 60       # a quick look

Pass criteria (reliability.md F14): p99 < 300 ms, 0 x 5xx, queue lag p95 < 5 s, backlog
drained <= 2 min after the load stops; issue #6 adds RSS growth < 20 MiB after warm-up. The
script prints PASS/FAIL for each and exits non-zero on a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import (
    ROOT,
    SIGNING_SECRET,
    _drop_queue,
    _sql,
    body_parts,
    create_endpoint,
    free_port,
    gateway_env,
    prepare_database,
    wait_http,
)

MAX_IN_FLIGHT = 2_000


@dataclass
class Window:
    """Answers in one reporting window (and, merged, over the run)."""

    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    limited: int = 0
    client_errors: int = 0
    server_errors: int = 0
    transport_errors: int = 0

    def merge(self, other: Window) -> None:
        self.latencies += other.latencies
        self.ok += other.ok
        self.limited += other.limited
        self.client_errors += other.client_errors
        self.server_errors += other.server_errors
        self.transport_errors += other.transport_errors

    def line(self) -> str:
        lat = sorted(self.latencies) or [0.0]
        p50 = lat[len(lat) // 2] * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"2xx {self.ok:7d}  429 {self.limited}  4xx {self.client_errors}  "
            f"5xx {self.server_errors}  errors {self.transport_errors}  "
            f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {lat[-1] * 1000:7.1f} ms"
        )

    def p99_ms(self) -> float:
        lat = sorted(self.latencies) or [0.0]
        return lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Deliveries:
    """Unique signed Slack deliveries, made on demand (HMAC costs a few µs)."""

    def __init__(self) -> None:
        self.prefix, self.suffix = body_parts()
        self.run = secrets.token_hex(4)
        self.n = 0

    def next(self) -> tuple[bytes, dict[str, str]]:
        self.n += 1
        timestamp = str(int(time.time()))
        body = f"{self.prefix}Evsoak{self.run}{self.n:09d}{self.suffix}".encode()
        digest = hmac.new(
            SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256
        ).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": f"v0={digest}",
        }
        return body, headers


async def backlog(conn: asyncpg.Pool) -> tuple[int, float]:
    """(events not yet processed, age in seconds of the oldest pending one)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS n, extract(epoch FROM now() - min(received_at)) AS age "
        "FROM events WHERE status IN ('pending', 'processing')"
    )
    assert row is not None
    return int(row["n"]), float(row["age"] or 0.0)


async def soak(args: argparse.Namespace, url: str, path: str, gateway_pid: int, dsn: str) -> bool:
    deliveries = Deliveries()
    window, total = Window(), Window()
    in_flight: set[asyncio.Task[None]] = set()
    lags: list[float] = []
    conn = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))

    async def one(body: bytes, headers: dict[str, str]) -> None:
        start = time.perf_counter()
        try:
            async with session.post(f"{url}{path}", data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            window.transport_errors += 1
            return
        window.latencies.append(time.perf_counter() - start)
        if status < 300:
            window.ok += 1
        elif status == 429:
            window.limited += 1
        elif status < 500:
            window.client_errors += 1
        else:
            window.server_errors += 1

    async def sample_lag(stop: asyncio.Event) -> None:
        while not stop.is_set():
            _, age = await backlog(conn)
            lags.append(age)
            await asyncio.sleep(2.0)

    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_lag(stop))
    rss_warm = None
    began = time.perf_counter()
    interval = 1.0 / args.rate
    sent = 0
    next_report = began + args.report_every
    skipped = 0
    try:
        while (now := time.perf_counter()) - began < args.duration:
            due = int((now - began) / interval) + 1
            while sent < due:
                sent += 1
                if len(in_flight) >= MAX_IN_FLIGHT:
                    skipped += 1
                    continue
                task = asyncio.create_task(one(*deliveries.next()))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if now >= next_report:
                next_report += args.report_every
                rss = rss_mib(gateway_pid)
                rss_warm = rss if rss_warm is None else rss_warm
                count, age = await backlog(conn)
                print(
                    f"t={now - began:5.0f}s  {window.line()}  backlog {count} (oldest {age:.1f} s)"
                    f"  RSS {rss:.1f} MiB",
                    flush=True,
                )
                total.merge(window)
                window = Window()
            await asyncio.sleep(min(interval, 0.005))
        if in_flight:
            await asyncio.wait(in_flight, timeout=30)
        total.merge(window)
        rss_end = rss_mib(gateway_pid)
        stopped = time.perf_counter()
        drained_after = None
        while time.perf_counter() - stopped < args.drain_timeout:
            count, _ = await backlog(conn)
            if count == 0:
                drained_after = time.perf_counter() - stopped
                break
            await asyncio.sleep(0.5)
        stop.set()
        await sampler
        stored = await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await session.close()
        await conn.close()

    offered = sent / args.duration
    print(
        f"\noffered {offered:.0f} req/s for {args.duration:.0f} s ({sent} requests, {skipped} "
        f"not sent: {MAX_IN_FLIGHT} already in flight)"
    )
    print(f"total   {total.line()}")
    lag_p95 = statistics.quantiles(lags, n=20)[-1] if len(lags) >= 2 else (lags or [0.0])[0]
    growth = rss_end - (rss_warm or rss_end)
    print(f"queue lag p95 {lag_p95:.2f} s (max {max(lags or [0.0]):.2f} s, {len(lags)} samples)")
    print(f"gateway RSS {rss_warm or 0:.1f} MiB after warm-up -> {rss_end:.1f} MiB at the end")
    drained = f"{drained_after:.1f} s" if drained_after is not None else "NOT drained"
    print(
        f"backlog drained {drained} after the load stopped; stored rows {stored} "
        f">= 2xx answers {total.ok}"
    )
    checks = [
        ("p99 < 300 ms", total.p99_ms() < 300),
        (
            "0 x 5xx and 0 transport errors",
            total.server_errors == 0 and total.transport_errors == 0,
        ),
        ("queue lag p95 < 5 s", lag_p95 < 5.0),
        ("backlog drained <= 120 s", drained_after is not None and drained_after <= 120),
        ("RSS growth < 20 MiB after warm-up", growth < 20.0),
        ("every 2xx stored", stored >= total.ok),
        ("offered rate reached", skipped == 0 and offered >= 0.95 * args.rate),
    ]
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return all(ok for _, ok in checks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=400.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--report-every", type=float, default=30.0)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    from gateway.kit.crypto import generate_key_line

    db_name = f"gwsoak_{secrets.token_hex(4)}"
    database_url = make_url(args.database_url).set(database=db_name)
    queue = f"gwsoak:{secrets.token_hex(4)}"
    port = free_port()
    env = gateway_env(
        database_url.render_as_string(False), args.redis_url, queue, generate_key_line(), port
    )
    flags = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    gateway_cmd = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory"]
    gateway_cmd += ["--host", "127.0.0.1", "--port", str(port), *flags]
    url = f"http://127.0.0.1:{port}"
    dsn = database_url.set(drivername="postgresql").render_as_string(False)
    asyncio.run(_sql(args.database_url, f'CREATE DATABASE "{db_name}"'))
    procs: list[subprocess.Popen[bytes]] = []
    passed = False
    try:
        _, api_key = prepare_database(env)
        endpoint_id = create_endpoint(gateway_cmd, env, url, api_key)
        procs.append(subprocess.Popen(gateway_cmd, env=env, cwd=ROOT))
        wait_http(f"{url}/healthz")
        worker = [sys.executable, "-m", "gateway.cli.main", "worker"]
        procs.append(subprocess.Popen(worker, env=env, cwd=ROOT))
        print(
            f"gateway pid {procs[0].pid}, worker pid {procs[1].pid}; {args.rate:.0f} req/s for "
            f"{args.duration:.0f} s",
            flush=True,
        )
        passed = asyncio.run(soak(args, url, f"/webhooks/slack/{endpoint_id}", procs[0].pid, dsn))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        asyncio.run(_sql(args.database_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        asyncio.run(_drop_queue(args.redis_url, queue))
    sys.exit(0 if passed else 1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
