"""Event processing cost: the batch path against one transaction pair per event, same run.

One process, PostgreSQL (a fresh database beside ``--database-url``, dropped afterwards): the
app is started in-process, a Slack endpoint created, and for each round ``--events`` signed
deliveries are pushed through the real receive path (ASGI, no HTTP server) so the inbox holds
real encrypted rows. Then they are processed two ways, alternating between rounds:

- **per event**: ``processing.process_event`` for each id, 8 at a time — claim in its own
  transaction, then lock + normalise + fan-out + commit in another (the path retries, replays
  and the sweeper use);
- **batch**: ``process_event_batch`` on chunks of 100 ids, 4 chunks at a time — the job ingest
  sends (one claim statement and one processing transaction per 100 events).

Printed per round: events/s and the process's CPU per event (all threads). No subscription
exists, so fan-out finds nothing to deliver: this is the inbox -> unified event step alone.

    uv run python bench/processing.py [--events 3000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import (
    SIGNING_SECRET,
    _drop_queue,
    _sql,
    gateway_env,
    prepare_database,
    signed_request,
)


async def ingest(app: Any, endpoint_id: str, count: int) -> None:
    """Push ``count`` signed deliveries through the receive path, 32 at a time."""
    requests = [signed_request(endpoint_id, int(time.time())) for _ in range(count)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        pending = iter(requests)

        async def worker() -> None:
            for path, body, headers in pending:
                response = await client.post(path, content=body, headers=headers)
                response.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(32)))


async def pending_ids(runtime: Any) -> list[str]:
    async with runtime.engine.connect() as conn:
        rows = await conn.execute(
            sa.text("SELECT id FROM events WHERE status = 'pending' ORDER BY id")
        )
        return [row[0] for row in rows]


async def per_event(runtime: Any, ids: list[str]) -> None:
    from gateway.events import processing

    limit = asyncio.Semaphore(8)

    async def one(event_id: str) -> None:
        async with limit:
            outcome = await processing.process_event(runtime, event_id)
            assert outcome.status == "processed", outcome

    await asyncio.gather(*(one(event_id) for event_id in ids))


async def batched(runtime: Any, ids: list[str]) -> None:
    from gateway.events import tasks

    limit = asyncio.Semaphore(4)

    async def one(chunk: list[str]) -> None:
        async with limit:
            counts = await tasks.process_event_batch({"runtime": runtime}, chunk)
            assert counts == {"processed": len(chunk)}, counts

    await asyncio.gather(*(one(ids[i : i + 100]) for i in range(0, len(ids), 100)))


async def run(args: argparse.Namespace, env: dict[str, str], api_key: str) -> None:
    os.environ.update(env)
    from gateway.app import create_app

    app = create_app()
    results: dict[str, list[tuple[float, float]]] = {"per event": [], "batch": []}
    async with app.router.lifespan_context(app):
        runtime = app.state.runtime
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            created = await client.post(
                "/v1/webhook-endpoints",
                json={"provider": "slack", "config": {"signing_secret": SIGNING_SECRET}},
                headers={"Authorization": f"Bearer {api_key}"},
            )
            created.raise_for_status()
            endpoint_id = created.json()["id"]
        for round_no in range(1, args.rounds + 1):
            for name, process in (("per event", per_event), ("batch", batched)):
                await ingest(app, endpoint_id, args.events)
                await asyncio.sleep(0.2)  # let the last group commit land
                ids = await pending_ids(runtime)
                wall, cpu = time.perf_counter(), time.process_time()
                await process(runtime, ids)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                results[name].append((len(ids) / wall, cpu / len(ids) * 1e6))
                print(
                    f"round {round_no}  {name:9s}  {len(ids):5d} events  "
                    f"{len(ids) / wall:7.0f} events/s  {cpu / len(ids) * 1e6:6.0f} us CPU/event",
                    flush=True,
                )
    rate = {name: statistics.median(r for r, _ in rows) for name, rows in results.items()}
    cpu = {name: statistics.median(c for _, c in rows) for name, rows in results.items()}
    print(
        f"\nmedian: per event {rate['per event']:.0f} events/s, {cpu['per event']:.0f} us CPU; "
        f"batch {rate['batch']:.0f} events/s, {cpu['batch']:.0f} us CPU "
        f"(x{rate['batch'] / rate['per event']:.1f} throughput, "
        f"x{cpu['per event'] / cpu['batch']:.1f} less CPU per event)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()

    from gateway.kit.crypto import generate_key_line

    db_name = f"gwproc_{secrets.token_hex(4)}"
    database_url = make_url(args.database_url).set(database=db_name).render_as_string(False)
    queue = f"gwproc:{secrets.token_hex(4)}"
    env = gateway_env(database_url, args.redis_url, queue, generate_key_line(), 8000)
    asyncio.run(_sql(args.database_url, f'CREATE DATABASE "{db_name}"'))
    try:
        _, api_key = prepare_database(env)
        import uvloop

        uvloop.run(run(args, env, api_key))
    finally:
        asyncio.run(_sql(args.database_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        asyncio.run(_drop_queue(args.redis_url, queue))


if __name__ == "__main__":
    main()
