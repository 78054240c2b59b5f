"""Run a coroutine in a thread and event loop of its own (a live server beside the tests).

The test's loop stays free, and so does ``asyncio.run`` in a worker thread of the CLI: a
gateway that really listens on a loopback port can call itself (sandbox) or be called over TCP
(fuzzing).
"""

from __future__ import annotations

import asyncio
import threading


class BackgroundLoop:
    """Subclasses implement :meth:`main`, call ``self.ready.set()`` once serving and return once
    ``stop`` is set. :meth:`start` waits for ready (or re-raises a failure), :meth:`stop` asks
    the loop to end and joins the thread."""

    name = "background-loop"

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    async def main(self, stop: asyncio.Event) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.failure = exc
            self.ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.main(self._stop)

    def start(self, timeout: float) -> None:
        self._thread.start()
        if not self.ready.wait(timeout) or self.failure is not None:
            raise RuntimeError(f"{self.name} failed to start: {self.failure!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        if self._thread.is_alive():
            raise RuntimeError(f"{self.name} did not stop")
        if self.failure is not None:
            raise RuntimeError(f"{self.name} failed") from self.failure
