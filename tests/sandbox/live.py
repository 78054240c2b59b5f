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
import threading
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

START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveGateway:
    settings: Settings
    base_url: str


class _ServerThread:
    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="live-gateway", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.failure = exc
            self.ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
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
        await self._stop.wait()
        if worker is not None and working is not None:
            await _stop_worker(worker, working)
        server.should_exit = True
        await serving

    def start(self) -> None:
        self._thread.start()
        if not self.ready.wait(START_TIMEOUT) or self.failure is not None:
            raise RuntimeError(f"live gateway failed to start: {self.failure!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        if self._thread.is_alive():
            raise RuntimeError("the live gateway did not stop")
        if self.failure is not None:
            raise RuntimeError("the live gateway failed") from self.failure


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
    server.start()
    try:
        yield LiveGateway(live_settings, f"http://127.0.0.1:{port}")
    finally:
        server.stop()
