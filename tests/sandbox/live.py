"""A real gateway on a loopback port, sharing the test database, for sandbox round trips.

The sandbox is a platform the gateway calls over HTTP (token exchange, chat API, webhook
deliveries to its own public URL), so these tests need a server that is really listening, not an
ASGI transport. It runs in its own thread and event loop (a test's loop and the CLI's
``asyncio.run`` in a worker thread stay free), with ``GATEWAY_PUBLIC_BASE_URL`` set to its own
address and, on the Redis tier, its own arq queue and worker: the rest of the suite's queue is
left alone. One per test package, stopped after the package's last test.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from arq.connections import RedisSettings
from arq.worker import Worker, func

from gateway import jobs
from gateway.app import create_app
from gateway.kit.settings import Settings
from tests.background import BackgroundLoop

START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveGateway:
    settings: Settings
    base_url: str


class _ServerThread(BackgroundLoop):
    name = "live-gateway"

    def __init__(self, settings: Settings, port: int) -> None:
        super().__init__()
        self.settings = settings
        self.port = port

    async def main(self, stop: asyncio.Event) -> None:
        app = create_app(self.settings)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        for _ in range(int(START_TIMEOUT / 0.02)):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.02)
        if not server.started:
            serving.cancel()
            raise RuntimeError("the live gateway did not start")
        worker: Worker | None = None
        working: asyncio.Task[Any] | None = None
        if self.settings.redis_url:
            worker = Worker(
                functions=[func(fn, name=name) for name, fn in jobs.TASKS.items()],
                redis_settings=RedisSettings.from_dsn(self.settings.redis_url),
                queue_name=self.settings.queue_name,
                poll_delay=0.02,
                max_jobs=16,
                ctx={"runtime": app.state.runtime},
                handle_signals=False,
                job_timeout=60,
                max_tries=5,
                keep_result=1,
            )
            working = asyncio.create_task(worker.async_run())
        self.ready.set()
        await stop.wait()
        if worker is not None and working is not None:
            await _stop_worker(worker, working)
        server.should_exit = True
        await serving


async def _stop_worker(worker: Worker, working: asyncio.Task[Any]) -> None:
    """Stop a long-running arq worker and release its Redis pool. (``Worker.close()`` calls
    redis' deprecated ``close()``, an error under ``-W error`` that leaks the connection.)"""
    working.cancel()
    await asyncio.gather(working, return_exceptions=True)
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    pool = worker.pool
    if pool is not None:
        await pool.delete(worker.health_check_key)
        await pool.aclose(close_connection_pool=True)


@pytest.fixture(scope="package")
def live_gateway(settings: Settings, migrated: None) -> Iterator[LiveGateway]:
    port = free_port()
    live_settings = settings.model_copy(
        update={
            "public_base_url": f"http://127.0.0.1:{port}",
            "queue_name": f"{settings.queue_name}:live",
        }
    )
    server = _ServerThread(live_settings, port)
    server.start(START_TIMEOUT)
    try:
        yield LiveGateway(live_settings, f"http://127.0.0.1:{port}")
    finally:
        server.stop()
