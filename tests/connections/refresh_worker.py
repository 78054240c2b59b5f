"""A separate OS process racing to refresh one connection (run by ``test_cross_process``).

    python -m tests.connections.refresh_worker <tenant_id> <connection_id> <rejected> <count>

Configuration comes from ``GATEWAY_*`` variables. Prints ``ready``, waits for ``go`` on stdin so
all processes start together, runs ``count`` concurrent ``refresh_after_rejection`` calls and
prints one JSON line: ``{"ok": n, "tokens": [...], "errors": [...]}``.
"""

from __future__ import annotations

import asyncio
import json
import sys

from gateway.connections.credentials import refresh_after_rejection
from gateway.kit.errors import GatewayError
from gateway.kit.runtime import Runtime, open_runtime
from gateway.kit.settings import Settings


async def _one(runtime: Runtime, tenant_id: str, connection_id: str, rejected: str) -> str:
    async with runtime.sessionmaker() as session:
        creds = await refresh_after_rejection(
            session,
            runtime,
            tenant_id=tenant_id,
            connection_id=connection_id,
            rejected_access_token=rejected,
        )
    return creds.access_token.get_secret_value()


async def main(tenant_id: str, connection_id: str, rejected: str, count: int) -> None:
    async with open_runtime(Settings(), with_queue=False) as runtime:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        results = await asyncio.gather(
            *(_one(runtime, tenant_id, connection_id, rejected) for _ in range(count)),
            return_exceptions=True,
        )
    tokens = sorted({r for r in results if isinstance(r, str)})
    errors = [
        r.code if isinstance(r, GatewayError) else repr(r)
        for r in results
        if not isinstance(r, str)
    ]
    ok = sum(isinstance(r, str) for r in results)
    sys.stdout.write(json.dumps({"ok": ok, "tokens": tokens, "errors": errors}) + "\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
