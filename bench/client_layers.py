"""CPU per POST through each layer of the shared outbound client, in one run.

Why ``subscriptions.delivery.post_event`` builds its ``httpx.Request`` itself instead of calling
``http.build_request``: this prints the worker CPU each layer adds to one small JSON POST to a
loopback subscriber (uvicorn, answers 200), 16 requests in flight, like a delivery::

    client.build_request + client.send   what deliveries did before
    httpx.Request + client.send          what they do now (URL parsed once per subscriber)
    GuardedAiohttpTransport              SSRF guard, deadline, byte cap (no httpx client layer)
    httpx_aiohttp.AiohttpTransport       the httpx <-> aiohttp adapter alone (no guard)
    aiohttp.ClientSession                the floor

The last three reach into the client's private ``_transport`` to attribute cost; production
code uses only the first two.

    uv run python bench/client_layers.py [--requests 4000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx

from gateway.kit.http import GuardedAiohttpTransport, create_http_client, read_capped
from gateway.kit.ssrf import EgressPolicy

HEADERS = {
    "content-type": "application/json",
    "webhook-id": "evt_01",
    "webhook-timestamp": "1700000000",
    "webhook-signature": "v1," + "A" * 44,
}
BODY = json.dumps({"id": "evt_01", "data": {"text": "hello " * 60}}).encode()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(label: str, post: Callable[[], Awaitable[None]], requests: int) -> None:
    in_flight = asyncio.Semaphore(16)

    async def one() -> None:
        async with in_flight:
            await post()

    await asyncio.gather(*(one() for _ in range(200)))  # warm the pool
    started, cpu = time.perf_counter(), cpu_seconds()
    await asyncio.gather(*(one() for _ in range(requests)))
    per_request = (cpu_seconds() - cpu) / requests * 1e6
    rate = requests / (time.perf_counter() - started)
    print(f"  {label:<40} {per_request:6.0f} us CPU/request {rate:8,.0f} req/s")


async def main(args: argparse.Namespace) -> None:
    from delivery import free_port, subscriber_process  # the delivery bench's subscriber

    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    parsed = httpx.URL(url)
    timeout = {"timeout": httpx.Timeout(15.0).as_dict()}
    with subscriber_process(port):
        client = create_http_client(policy=EgressPolicy.from_setting("127.0.0.0/8"))
        transport = client._transport
        assert isinstance(transport, GuardedAiohttpTransport)
        adapter = transport._inner
        session = aiohttp.ClientSession()

        async def build_and_send() -> None:
            request = client.build_request("POST", url, content=BODY, headers=HEADERS, timeout=15)
            await read_capped(await client.send(request, stream=True), 4096)

        async def request_and_send() -> None:
            request = httpx.Request(
                "POST", parsed, content=BODY, headers=HEADERS, extensions=timeout
            )
            await read_capped(await client.send(request, stream=True), 4096)

        async def via(layer: httpx.AsyncBaseTransport) -> None:
            request = httpx.Request(
                "POST", parsed, content=BODY, headers=HEADERS, extensions=timeout
            )
            response = await layer.handle_async_request(request)
            response.request = request
            await read_capped(response, 4096)

        async def guarded() -> None:
            await via(transport)

        async def adapter_only() -> None:
            await via(adapter)

        async def plain() -> None:
            async with session.post(url, data=BODY, headers=HEADERS) as response:
                await response.read()

        try:
            for n in range(args.rounds):
                print(f"round {n + 1}: {args.requests} POSTs each, 16 in flight")
                await measure("client.build_request + client.send", build_and_send, args.requests)
                await measure("httpx.Request + client.send", request_and_send, args.requests)
                await measure("GuardedAiohttpTransport", guarded, args.requests)
                await measure("httpx_aiohttp.AiohttpTransport", adapter_only, args.requests)
                await measure("aiohttp.ClientSession", plain, args.requests)
        finally:
            await session.close()
            await client.aclose()


def cli() -> None:
    import sys

    import uvloop

    sys.path.insert(0, str(Path(__file__).parent))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    uvloop.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
