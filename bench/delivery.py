"""Event delivery throughput: one worker process delivering to a loopback subscriber.

Seeds N unified events with one delivery each (one subscription), queues the jobs fan-out would
queue for them (``deliver_many`` jobs of up to 100 deliveries; ``--shape single``: one
``deliver`` job per delivery, the old shape), then lets ONE process run them — read the
delivery/subscription/event, decrypt the raw payload and the signing secret, sign (Standard
Webhooks), POST through the shared SSRF-guarded client, record the attempt and the outcome — and
measures the wall time until every delivery is ``succeeded``. The subscriber is a uvicorn
(uvloop + httptools) process answering 200, and it counts what it received, so the figure is
checked end to end.

    uv run python bench/delivery.py [--events 5000] [--rounds 3] [--shape batch|single]
        [--database-url postgresql+asyncpg://…] [--redis-url redis://…] [--concurrency 32]
    uv run python bench/delivery.py --matrix --database-url … --redis-url …

Without ``--redis-url`` the in-process dispatcher runs the jobs (embedded mode); with it an arq
``Worker`` in this process does, configured like ``gateway.worker.WorkerSettings`` (burst mode;
``max_jobs`` = ``--concurrency``). Without ``--database-url`` a fresh SQLite file is used; with
it, a fresh database is created beside the given one and dropped afterwards. ``--matrix`` runs
SQLite in-process, PostgreSQL in-process and PostgreSQL + arq one after the other and prints a
summary. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from gateway import jobs
from gateway.kit.crypto import FieldContext, generate_key_line
from gateway.kit.db import PendingJob, create_engine
from gateway.kit.ids import new_id
from gateway.kit.migrations import upgrade
from gateway.kit.queue import InProcessQueue
from gateway.kit.runtime import Runtime, open_runtime
from gateway.kit.settings import Settings
from gateway.models import Delivery, Event
from gateway.models.base import utcnow
from gateway.subscriptions import service
from gateway.subscriptions.policy import (
    deliver_job,
    deliver_job_id,
    deliver_many_jobs,
    delivery_policy,
    set_delivery_policy,
)
from gateway.subscriptions.schemas import SubscriptionCreate
from gateway.tenants import service as tenant_service

PAYLOAD = {
    "token": "x",
    "team_id": "T1",
    "event": {"type": "message", "channel": "C1", "user": "U1", "text": "hello " * 20},
    "event_id": "Ev1",
}
DATA = {
    "conversation": {"id": "C1", "type": "channel"},
    "sender": {"id": "U1"},
    "text": "hello " * 20,
}


def serve(port: int) -> None:
    """The subscriber: 200 for every POST, GET /count says how many POSTs arrived."""
    import uvicorn

    received = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal received
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        if scope["method"] == "POST":
            received += 1
            body = b"ok"
        else:
            body = str(received).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def subscriber_process(port: int) -> Any:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/count", timeout=0.5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise SystemExit("subscriber did not start")
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def received_count(port: int) -> int:
    async with httpx.AsyncClient() as client:
        return int((await client.get(f"http://127.0.0.1:{port}/count")).text)


@contextlib.asynccontextmanager
async def fresh_database(base_url: str | None, data_dir: Path) -> AsyncIterator[str]:
    if base_url is None:
        yield f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
        return
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy.engine import make_url

    url = make_url(base_url)
    name = f"gwbench_{secrets.token_hex(4)}"
    params = {
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "database": url.database or "postgres",
    }
    conn = await asyncpg.connect(**params)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(**params)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def seed(runtime: Runtime, url: str, events: int) -> list[str]:
    """One tenant, one subscription, ``events`` processed events each with a pending delivery."""
    now = utcnow()
    async with runtime.sessionmaker() as session:
        tenant = await tenant_service.create_tenant(session, f"bench-{secrets.token_hex(4)}")
        issued = await service.create_subscription(
            session,
            tenant.id,
            SubscriptionCreate(url=url, event_types=["message.*"]),
            keyring=runtime.keyring,
            egress=runtime.egress,
            now=now,
        )
        await session.commit()
    raw = json.dumps(PAYLOAD).encode()
    event_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for n in range(events):
        event_id = new_id("evt")
        where = FieldContext("events", "payload_enc", event_id, tenant.id)
        event_rows.append(
            {
                "id": event_id,
                "tenant_id": tenant.id,
                "endpoint_id": None,
                "connection_id": None,
                "provider": "slack",
                "provider_event_id": f"bench-{n}",
                "raw_type": "message",
                "type": "message.received",
                "status": "processed",
                "payload_enc": runtime.keyring.encrypt(raw, where),
                "data": DATA,
                "attempts": 1,
                "received_at": now,
                "occurred_at": now,
                "processed_at": now,
            }
        )
        delivery_rows.append(
            {
                "id": new_id("dlv"),
                "tenant_id": tenant.id,
                "subscription_id": issued.subscription.id,
                "event_id": event_id,
                "event_type": "message.received",
                "status": "pending",
                "attempts": 0,
                "max_attempts": 8,
                "job_seq": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
        )
    async with runtime.engine.begin() as conn:
        for start in range(0, events, 1000):
            await conn.execute(sa.insert(Event.__table__), event_rows[start : start + 1000])  # type: ignore[attr-defined]
            await conn.execute(
                sa.insert(Delivery.__table__),  # type: ignore[attr-defined]
                delivery_rows[start : start + 1000],
            )
    return [row["id"] for row in delivery_rows]


async def succeeded(runtime: Runtime) -> int:
    """Deliveries in status ``succeeded`` (rounds compare before/after)."""
    table = Delivery.__table__  # type: ignore[attr-defined]
    async with runtime.engine.connect() as conn:
        result = await conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.status == "succeeded")
        )
        return int(result.scalar_one())


async def pending(runtime: Runtime) -> int:
    """Deliveries still pending (an index range scan: cheap enough to poll)."""
    table = Delivery.__table__  # type: ignore[attr-defined]
    async with runtime.engine.connect() as conn:
        result = await conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.status == "pending")
        )
        return int(result.scalar_one())


def cpu_seconds() -> float:
    """CPU time of this process, every thread included (aiosqlite runs SQLite in one)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def raw_post_rate(
    runtime: Runtime, port: int, requests: int, concurrency: int
) -> tuple[float, float]:
    """Reference in the same run: bare POSTs of a same-sized body through the same client."""
    body = json.dumps({"data": DATA, "raw": PAYLOAD}).encode()
    url = f"http://127.0.0.1:{port}/hook"
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            response = await runtime.http.post(url, content=body)
            response.raise_for_status()

    started, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started), (cpu_seconds() - cpu) / requests * 1000


def queued_jobs(args: argparse.Namespace, ids: list[str]) -> list[PendingJob]:
    """What fan-out queues for these first attempts (or the old one-job-per-delivery shape)."""
    if args.shape == "single":
        return [deliver_job(delivery_id, 0) for delivery_id in ids]
    return deliver_many_jobs(deliver_job_id(delivery_id, 0) for delivery_id in ids)


async def requeued(runtime: Runtime) -> int:
    """Deliveries that found their subscriber busy and went on as a job of their own."""
    table = Delivery.__table__  # type: ignore[attr-defined]
    async with runtime.engine.connect() as conn:
        result = await conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.job_seq > 1)
        )
        return int(result.scalar_one())


@dataclass(frozen=True)
class Round:
    rate: float
    cpu_ms: float
    requeued: int


async def run_round(runtime: Runtime, args: argparse.Namespace, port: int) -> Round:
    ids = await seed(runtime, f"http://127.0.0.1:{port}/hook", args.events)
    before_ok, before_requeued = await succeeded(runtime), await requeued(runtime)
    before_received = await received_count(port)
    assert runtime.queue is not None
    if runtime.settings.redis_url:
        from arq.worker import Worker, func

        from gateway.worker import WorkerSettings

        await runtime.dispatch(queued_jobs(args, ids))
        # enqueueing is the API's cost, not the worker's
        started, cpu = time.perf_counter(), cpu_seconds()
        worker = Worker(
            functions=[func(fn, name=name) for name, fn in jobs.TASKS.items()],  # type: ignore[arg-type]
            redis_settings=_redis_settings(runtime.settings.redis_url),
            queue_name=runtime.settings.queue_name,
            burst=True,
            poll_delay=args.poll_delay,
            max_jobs=args.concurrency,
            job_timeout=WorkerSettings.job_timeout,
            max_tries=WorkerSettings.max_tries,
            keep_result=WorkerSettings.keep_result,
            ctx={"runtime": runtime},
            handle_signals=False,
        )
        try:
            await worker.async_run()
        finally:
            await worker.close()
    else:
        started, cpu = time.perf_counter(), cpu_seconds()
        await runtime.dispatch(queued_jobs(args, ids))
        # Poll the outcome rather than ``queue.drain()``, whose wait over every queued task
        # would cost more than the work at this size.
        deadline = time.perf_counter() + 600
        while await pending(runtime):
            if time.perf_counter() > deadline:
                raise SystemExit("timed out")
            await asyncio.sleep(0.05)
    elapsed, cpu_ms = time.perf_counter() - started, (cpu_seconds() - cpu) / args.events * 1000
    delivered = await succeeded(runtime) - before_ok
    arrived = await received_count(port) - before_received
    if delivered != args.events or arrived != args.events:
        raise SystemExit(f"incomplete: {delivered} succeeded, {arrived} received of {args.events}")
    return Round(args.events / elapsed, cpu_ms, await requeued(runtime) - before_requeued)


def _redis_settings(url: str) -> Any:
    from arq.connections import RedisSettings

    return RedisSettings.from_dsn(url)


async def profile_round(runtime: Runtime, args: argparse.Namespace, port: int) -> None:
    """One more round under cProfile (slower; only the proportions mean something)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await run_round(runtime, args, port)
    finally:
        profiler.disable()
    path = Path(tempfile.gettempdir()) / f"delivery-{os.getpid()}.pstats"
    profiler.dump_stats(path)
    stats = pstats.Stats(profiler).strip_dirs()
    print(f"profile of one round (saved to {path}), top {args.profile} functions by own time:")
    stats.sort_stats("tottime").print_stats(args.profile)


@dataclass(frozen=True)
class Config:
    database: str
    queue: str
    rounds: list[Round]
    bare: list[tuple[float, float]]

    @property
    def per_cpu_second(self) -> float:
        return 1000 / statistics.median(r.cpu_ms for r in self.rounds)

    @property
    def median_rate(self) -> float:
        return statistics.median(r.rate for r in self.rounds)


async def run_config(
    args: argparse.Namespace, port: int, database_url: str | None, redis_url: str | None
) -> Config:
    with tempfile.TemporaryDirectory() as tmp:
        async with fresh_database(database_url, Path(tmp)) as url:
            settings = Settings(
                env="development",
                data_dir=Path(tmp),
                database_url=url,
                redis_url=redis_url,
                queue_name=f"gwbench:{secrets.token_hex(4)}",
                encryption_keys=SecretStr(generate_key_line("bench")),
                outbound_allowlist="127.0.0.0/8",
                log_level="WARNING",
            )
            engine = create_engine(settings)
            await upgrade(engine, settings)
            await engine.dispose()
            async with open_runtime(settings, tasks=jobs.TASKS) as runtime:
                if not redis_url:
                    # the embedded dispatcher with the requested job concurrency (default 32)
                    runtime.queue = InProcessQueue(
                        jobs.TASKS, ctx={"runtime": runtime}, concurrency=args.concurrency
                    )
                if args.batch_concurrency:
                    policy = delivery_policy(runtime)
                    set_delivery_policy(
                        runtime, replace(policy, batch_concurrency=args.batch_concurrency)
                    )
                rounds: list[Round] = []
                bare: list[tuple[float, float]] = []
                for _ in range(args.rounds):
                    bare.append(await raw_post_rate(runtime, port, args.events, args.concurrency))
                    rounds.append(await run_round(runtime, args, port))
                if args.profile:
                    await profile_round(runtime, args, port)
    config = Config(
        "postgresql" if database_url else "sqlite",
        "arq worker" if redis_url else "in-process",
        rounds,
        bare,
    )
    report(args, config)
    return config


def report(args: argparse.Namespace, config: Config) -> None:
    rounds, bare = config.rounds, config.bare
    print(
        f"delivery: {args.events} events x {args.rounds} rounds, {config.database}, "
        f"{config.queue}, {args.shape} jobs, concurrency {args.concurrency}, loop {args.loop}"
    )
    print("  deliveries/s per round:      " + ", ".join(f"{r.rate:,.0f}" for r in rounds))
    print("  bare POSTs/s, same client:   " + ", ".join(f"{r:,.0f}" for r, _ in bare))
    print("  CPU ms per delivery:         " + ", ".join(f"{r.cpu_ms:.2f}" for r in rounds))
    print("  CPU ms per bare POST:        " + ", ".join(f"{c:.2f}" for _, c in bare))
    print("  re-queued (subscriber busy): " + ", ".join(str(r.requeued) for r in rounds))
    ratio = statistics.median(r.rate / b for r, (b, _) in zip(rounds, bare, strict=True))
    print(
        f"  median: {config.median_rate:,.0f} deliveries/s "
        f"({ratio:.2f}x the bare POST rate of the run)"
    )
    print(f"  per CPU-second of the worker process: {config.per_cpu_second:,.0f} deliveries")


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    with subscriber_process(port):
        if not args.matrix:
            await run_config(args, port, args.database_url, args.redis_url)
            return
        if not (args.database_url and args.redis_url):
            raise SystemExit("--matrix needs --database-url and --redis-url")
        configs = [
            await run_config(args, port, None, None),
            await run_config(args, port, args.database_url, None),
            await run_config(args, port, args.database_url, args.redis_url),
        ]
    print(f"summary ({args.shape} jobs, median of {args.rounds} rounds):")
    for config in configs:
        print(
            f"  {config.database + ', ' + config.queue:<24} "
            f"{config.median_rate:>7,.0f} deliveries/s   "
            f"{config.per_cpu_second:>7,.0f} per CPU-second"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL"))
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--shape", choices=("batch", "single"), default="batch")
    parser.add_argument("--matrix", action="store_true")
    parser.add_argument("--poll-delay", type=float, default=0.5, help="arq poll_delay")
    parser.add_argument("--batch-concurrency", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, help="profile a round, print top N")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
