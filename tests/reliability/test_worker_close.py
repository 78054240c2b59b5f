"""``gateway worker`` exits cleanly on SIGTERM even when the signal cut a job before arq's own
bookkeeping for it began (seen in F5: exit 1 from a CancelledError re-raised by arq's close)."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.worker import GatewayWorker


class _Pool:
    """Stands in for the worker's Redis pool: close() only deletes a key and closes it."""

    def __init__(self) -> None:
        self.closed = False

    async def delete(self, *_keys: Any) -> None:
        return None

    async def close(self, close_connection_pool: bool = False) -> None:
        self.closed = True


async def _noop(_ctx: dict[str, Any]) -> None:
    return None


async def _job(started: asyncio.Event, release: asyncio.Event) -> None:
    started.set()
    await release.wait()


async def test_close_waits_for_every_job_and_survives_one_the_signal_cancelled() -> None:
    pool = _Pool()
    worker = GatewayWorker(
        functions=[_noop],
        queue_name="test",
        redis_pool=pool,  # type: ignore[arg-type]
        handle_signals=False,
    )
    started, release = asyncio.Event(), asyncio.Event()
    cut = asyncio.create_task(_job(asyncio.Event(), asyncio.Event()))
    running = asyncio.create_task(_job(started, release))
    await started.wait()
    cut.cancel()  # what arq's signal handler does to a job it finds in flight
    worker.tasks = {"cut": cut, "running": running}

    closing = asyncio.create_task(worker.close())
    await asyncio.sleep(0.05)
    assert not closing.done()  # the running job is waited for
    release.set()
    await asyncio.wait_for(closing, 5)  # no CancelledError from the cut job
    assert running.done()
    assert not running.cancelled()
    assert pool.closed
