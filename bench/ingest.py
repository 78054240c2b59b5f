"""Durable webhook ingest vs a bare FastAPI endpoint, same load generator, same run.

Two uvicorn processes (uvloop + httptools, one worker each, access log off) are started in turn:

- **bare**: a FastAPI app whose endpoint reads the body and returns 200 ``{"ok":true}``;
- **gateway**: the real app (``gateway.app:create_app``) against PostgreSQL and Redis, receiving
  at ``/webhooks/slack/{endpoint_id}`` (verify the Slack signature, group-commit the inbox row,
  enqueue the batch's job, answer only after the commit).

Both are driven by ``wrk -t1 -c32`` with the same Lua script posting a ~1 KB signed Slack
``event_callback`` with a unique ``event_id`` per request. wrk cannot compute HMAC-SHA256, so
the signatures are precomputed here (one ``event_id`` + signature pair per request; the body is
``prefix .. event_id .. suffix``) and cycled by the script; the bare app receives the very same
requests. No arq worker runs during the measurement (jobs wait in Redis), so the figure is the
receive path alone. Afterwards the number of stored rows is checked against the 2xx count.

    uv run python bench/ingest.py [--duration 15] [--connections 32] [--rounds 1]

Needs ``wrk`` (Debian package), PostgreSQL at ``--database-url`` (a fresh database is created
beside it and dropped afterwards) and Redis at ``--redis-url``. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI, Request, Response
from sqlalchemy.engine import make_url

SIGNING_SECRET = "bench-signing-secret-0123456789ab"
ROOT = Path(__file__).resolve().parents[1]


bare_app = FastAPI()


@bare_app.post("/webhooks/{provider}/{endpoint_id}")
async def bare_receive(request: Request) -> Response:
    """The reference: read the body, answer 200."""
    await request.body()
    return Response(b'{"ok":true}', media_type="application/json")


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(
        bare_app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


# --- the request pool ---------------------------------------------------------------------


def body_parts() -> tuple[str, str]:
    """A realistic ~1 KB Events API envelope split around its ``event_id`` value."""
    event = {
        "type": "message",
        "channel": "C0LAN2Q65",
        "channel_type": "channel",
        "user": "U061F7AUR",
        "text": "Deploy finished for *integration-gateway* :rocket: " + "details " * 40,
        "ts": "1700000000.000100",
        "event_ts": "1700000000.000100",
        "team": "T123ABC456",
        "blocks": [{"type": "rich_text", "block_id": "b1", "elements": []}],
    }
    head = {
        "token": "XXYYZZ",
        "team_id": "T123ABC456",
        "api_app_id": "A123ABC456",
        "event": event,
        "type": "event_callback",
    }
    prefix = json.dumps(head, separators=(",", ":"))[:-1] + ',"event_id":"'
    suffix = '","event_time":1700000000,"authorizations":[{"team_id":"T123ABC456",' + (
        '"user_id":"U0BOT00001","is_bot":true}],"is_ext_shared_channel":false}'
    )
    return prefix, suffix


def write_pool(path: Path, label: str, count: int, timestamp: int) -> None:
    """``count`` unique signed requests, one ``event_id signature`` pair per line."""
    prefix, suffix = body_parts()
    key = SIGNING_SECRET.encode()
    base = f"v0:{timestamp}:{prefix}".encode()
    tail = suffix.encode()
    run = secrets.token_hex(4)
    with path.open("w") as out:
        for i in range(count):
            event_id = f"Ev{label}{run}{i:08d}"
            digest = hmac.new(key, base + event_id.encode() + tail, hashlib.sha256).hexdigest()
            out.write(f"{event_id} v0={digest}\n")


def signed_request(endpoint_id: str, timestamp: int) -> tuple[str, bytes, dict[str, str]]:
    """One delivery like the pool's, for a sanity check before measuring."""
    prefix, suffix = body_parts()
    body = f"{prefix}Evprobe{secrets.token_hex(6)}{suffix}".encode()
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }
    return f"/webhooks/slack/{endpoint_id}", body, headers


WRK_SCRIPT = """
local ids, sigs = {}, {}
for line in io.lines(os.getenv("POOL_FILE")) do
  local id, sig = line:match("^(%S+) (%S+)$")
  ids[#ids + 1], sigs[#sigs + 1] = id, sig
end
local n = #ids
local prefix, suffix = os.getenv("BODY_PREFIX"), os.getenv("BODY_SUFFIX")
local path = os.getenv("TARGET_PATH")
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Slack-Request-Timestamp"] = os.getenv("SIGNED_AT")

request = function()
  i = i + 1
  if i > n then i = 1 end
  wrk.headers["X-Slack-Signature"] = sigs[i]
  return wrk.format(nil, path, nil, prefix .. ids[i] .. suffix)
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    server_cpu_us: float = 0.0  # server process CPU per request (less sensitive to noise)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"unparsed latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def run_wrk(
    url: str, path: str, pool: Path, script: Path, timestamp: int, seconds: int, connections: int
) -> WrkResult:
    prefix, suffix = body_parts()
    env = dict(
        os.environ,
        POOL_FILE=str(pool),
        BODY_PREFIX=prefix,
        BODY_SUFFIX=suffix,
        TARGET_PATH=path,
        SIGNED_AT=str(timestamp),
    )
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    done = subprocess.run([*command, url], env=env, capture_output=True, text=True, check=True)
    if done.stderr.strip():
        raise RuntimeError(f"wrk script failed: {done.stderr.strip()}")
    out = done.stdout
    summary = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    assert summary, out
    duration = float(summary.group(2)) * (60.0 if summary.group(3) == "m" else 1.0)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    percentile = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    return WrkResult(
        requests=int(summary.group(1)),
        seconds=duration,
        rate=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(percentile["50"]),
        p99_ms=_ms(percentile["99"]),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(x) for x in errors.groups()) if errors else 0,
    )


# --- processes and services ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str], health_url: str) -> Iterator[int]:
    proc = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        wait_http(health_url)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _sql(database_url: str, sql: str, *params: Any) -> Any:
    """Run one statement on ``database_url``; returns its first value."""
    url = make_url(database_url)
    conn = await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )
    try:
        return await conn.fetchval(sql, *params)
    finally:
        await conn.close()


async def _drop_queue(redis_url: str, queue: str) -> None:
    """Remove this run's jobs: the queue and the job keys it references (nothing else)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    try:
        job_ids = await redis.zrange(queue, 0, -1)
        for start in range(0, len(job_ids), 500):
            chunk = job_ids[start : start + 500]
            await redis.delete(*[b"arq:job:" + job_id for job_id in chunk])
        await redis.delete(queue)
    finally:
        await redis.aclose()


def gateway_env(
    database_url: str, redis_url: str, queue: str, keys: str, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_ENV="production",
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_REDIS_URL=redis_url,
        GATEWAY_QUEUE_NAME=queue,
        GATEWAY_ENCRYPTION_KEYS=keys,
        GATEWAY_PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        GATEWAY_LOG_LEVEL="WARNING",
        GATEWAY_WEBHOOK_RATE_LIMIT_RPS="0",  # measure ingest, not the flood ceiling
        GATEWAY_API_RATE_LIMIT_RPM="0",
        GATEWAY_API_KEY_RATE_LIMIT_RPM="0",
    )
    return env


def prepare_database(env: dict[str, str]) -> tuple[str, str]:
    """Migrate, create a tenant; returns its API key (``gateway tenants create --json``)."""
    subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "db", "upgrade"], env=env, cwd=ROOT, check=True
    )
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "tenants", "create", "bench", "--json"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    created = json.loads(out.strip().splitlines()[-1])
    return created["tenant_id"], created["api_key"]


def measure(
    name: str, command: list[str], url: str, env: dict[str, str], path: str, args: Any
) -> tuple[WrkResult, int]:
    """Start one server, warm it up, measure; returns the result and all 2xx answers sent."""
    with process(command, env, f"{url}/docs") as pid:
        signed_at = int(time.time())
        warm, pool = args.workdir / "warm.txt", args.workdir / "pool.txt"
        # Unique event ids for every request (25k/s is well above what either server does):
        # a recycled id is a duplicate, answered 2xx without a new row.
        pool_size = max(50_000, args.duration * 25_000)
        warm_size = max(20_000, args.warmup * 25_000)
        write_pool(warm, f"w{name[0]}", warm_size, signed_at)
        write_pool(pool, f"m{name[0]}", pool_size, signed_at)
        warmup = run_wrk(url, path, warm, args.script, signed_at, args.warmup, args.connections)
        cpu_before = cpu_seconds(pid)
        result = run_wrk(url, path, pool, args.script, signed_at, args.duration, args.connections)
        result.server_cpu_us = (cpu_seconds(pid) - cpu_before) / result.requests * 1e6
    if result.requests > pool_size or warmup.requests > warm_size:
        print("warning: pool recycled, duplicates were part of the load")
    answered = result.requests - result.non_2xx + warmup.requests - warmup.non_2xx
    return result, answered


def create_endpoint(gateway_cmd: list[str], env: dict[str, str], url: str, api_key: str) -> str:
    """The Slack endpoint under test, and one valid delivery as a sanity check."""
    with process(gateway_cmd, env, f"{url}/healthz"):
        created = httpx.post(
            f"{url}/v1/webhook-endpoints",
            json={"provider": "slack", "config": {"signing_secret": SIGNING_SECRET}},
            headers={"Authorization": f"Bearer {api_key}"},
        )
        created.raise_for_status()
        endpoint_id: str = created.json()["id"]
        path, body, headers = signed_request(endpoint_id, int(time.time()))
        probe = httpx.post(f"{url}{path}", content=body, headers=headers)
        if probe.status_code != 200:
            raise SystemExit(f"gateway refused a valid delivery: {probe.status_code} {probe.text}")
    return endpoint_id


def report(name: str, result: WrkResult, round_no: int) -> None:
    print(
        f"{name:8s} round {round_no}: {result.rate:7.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
        f"p99 {result.p99_ms:6.2f} ms  server CPU {result.server_cpu_us:4.0f} us/req  "
        f"non-2xx {result.non_2xx}  socket errors {result.errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--batch-window", type=float, help="GATEWAY_INGEST_BATCH_WINDOW_SECONDS for the gateway"
    )
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")

    from gateway.kit.crypto import generate_key_line

    db_name = f"gwbench_{secrets.token_hex(4)}"
    database_url = make_url(args.database_url).set(database=db_name).render_as_string(False)
    queue = f"gwbench:{secrets.token_hex(4)}"
    gateway_port, bare_port = free_port(), free_port()
    env = gateway_env(database_url, args.redis_url, queue, generate_key_line(), gateway_port)
    if args.batch_window is not None:
        env["GATEWAY_INGEST_BATCH_WINDOW_SECONDS"] = str(args.batch_window)
    flags = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    gateway_cmd = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory"]
    gateway_cmd += ["--host", "127.0.0.1", "--port", str(gateway_port), *flags]
    bare_cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)]
    gateway_url, bare_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{bare_port}"
    asyncio.run(_sql(args.database_url, f'CREATE DATABASE "{db_name}"'))
    args.workdir = Path(tempfile.mkdtemp(prefix="gwbench"))
    args.script = args.workdir / "ingest.lua"
    args.script.write_text(WRK_SCRIPT)
    try:
        _, api_key = prepare_database(env)
        endpoint_id = create_endpoint(gateway_cmd, env, gateway_url, api_key)
        path = f"/webhooks/slack/{endpoint_id}"
        ratios: list[float] = []
        answered = 0
        for round_no in range(1, args.rounds + 1):
            bare, _ = measure("bare", bare_cmd, bare_url, dict(os.environ), path, args)
            report("bare", bare, round_no)
            gateway, sent = measure("gateway", gateway_cmd, gateway_url, env, path, args)
            report("gateway", gateway, round_no)
            answered += sent
            ratios.append(gateway.rate / bare.rate)
            print(
                f"ratio    round {round_no}: {ratios[-1]:.2f} req/s, "
                f"{bare.server_cpu_us / gateway.server_cpu_us:.2f} server CPU per request"
            )
        print(
            f"\nmedian ratio {statistics.median(ratios):.2f} (goal >= 0.50, gateway p99 <= 25 ms)"
        )
        count = "SELECT count(*) FROM events WHERE endpoint_id = $1"
        stored = asyncio.run(_sql(database_url, count, endpoint_id))
        # wrk stops mid-flight: answers it no longer counted are stored too, so stored >= 2xx.
        verdict = "ok" if stored >= answered else "LOST ACKNOWLEDGED EVENTS"
        print(f"stored rows {stored} >= 2xx answers {answered} (warm-ups included): {verdict}")
    finally:
        asyncio.run(_sql(args.database_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        asyncio.run(_drop_queue(args.redis_url, queue))
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
