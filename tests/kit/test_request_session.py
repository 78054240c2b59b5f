"""The request's transaction (``deps.request_session``), eager and lazy: committed when the block
ends, rolled back on an error, and a lazy one nobody used is never created."""

from __future__ import annotations

import pytest

from gateway.deps import request_session
from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.models import Tenant


async def _exists(runtime: Runtime, tenant_id: str) -> bool:
    async with runtime.sessionmaker() as session:
        return await session.get(Tenant, tenant_id) is not None


@pytest.mark.parametrize("lazy", [False, True])
async def test_committed_at_the_end_and_rolled_back_on_error(runtime: Runtime, lazy: bool) -> None:
    kept, dropped = new_id("ten"), new_id("ten")
    async with request_session(runtime, lazy=lazy) as session:
        session.add(Tenant(id=kept, name=kept))
        await session.flush()

    async def failing_route() -> None:
        async with request_session(runtime, lazy=lazy) as session:
            session.add(Tenant(id=dropped, name=dropped))
            await session.flush()
            raise RuntimeError("the route failed")

    with pytest.raises(RuntimeError):
        await failing_route()
    assert await _exists(runtime, kept)
    assert not await _exists(runtime, dropped)


async def test_a_lazy_session_nobody_uses_is_never_created(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    real = runtime.sessionmaker

    def counting() -> object:
        made.append(1)
        return real()

    monkeypatch.setattr(runtime, "sessionmaker", counting)
    async with request_session(runtime, lazy=True) as session:
        assert not session.in_transaction()
    assert made == []
    async with request_session(runtime, lazy=True) as session:
        await session.get(Tenant, "ten_missing")
        assert session.in_transaction()
    assert made == [1]
