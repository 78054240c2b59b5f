"""The group-commit batcher on its own: concurrent rows share one statement, duplicates are
told apart, a failed statement fails every waiter of its batch, and only new rows are queued."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.kit.ids import new_id
from gateway.kit.runtime import Runtime
from gateway.webhooks import batcher as batcher_module
from gateway.webhooks.batcher import InboxBatcher, InboxUnavailable


def _row(endpoint_id: str, event_id: str) -> dict[str, Any]:
    # "processed" keeps these synthetic rows away from the sweeper.
    now = datetime.now(UTC)
    return {
        "id": new_id("evt"),
        "tenant_id": "ten_batchertest",
        "endpoint_id": endpoint_id,
        "connection_id": None,
        "provider": "slack",
        "provider_event_id": event_id,
        "raw_type": "message",
        "status": "processed",
        "attempts": 0,
        "received_at": now,
        "lease_until": None,
        "payload_enc": "enc1:none:AAAA",
    }


class Recorder:
    def __init__(self) -> None:
        self.statements: list[int] = []
        self.committed: list[list[str]] = []

    async def on_commit(self, rows: list[dict[str, Any]]) -> None:
        self.committed.append([row["id"] for row in rows])


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    real_insert = batcher_module.insert_inbox_rows

    async def counting_insert(conn: Any, rows: Any) -> set[str]:
        recorder.statements.append(len(rows))
        return await real_insert(conn, rows)

    monkeypatch.setattr(batcher_module, "insert_inbox_rows", counting_insert)
    return recorder


async def test_concurrent_rows_share_statements(runtime: Runtime, recorder: Recorder) -> None:
    inbox = InboxBatcher(runtime.engine, recorder.on_commit, window_seconds=0.005)
    endpoint = f"whe_{secrets.token_hex(6)}"
    rows = [_row(endpoint, f"ev-{i}") for i in range(40)]
    try:
        results = await asyncio.gather(*(inbox.submit(row) for row in rows))
    finally:
        await inbox.close()
    assert results == [True] * 40
    assert sum(recorder.statements) == 40
    assert len(recorder.statements) <= 3, recorder.statements
    assert sorted(i for batch in recorder.committed for i in batch) == sorted(r["id"] for r in rows)


async def test_duplicates_in_and_across_batches(runtime: Runtime, recorder: Recorder) -> None:
    inbox = InboxBatcher(runtime.engine, recorder.on_commit)
    endpoint = f"whe_{secrets.token_hex(6)}"
    first, twin = _row(endpoint, "same"), _row(endpoint, "same")
    try:
        assert await asyncio.gather(inbox.submit(first), inbox.submit(twin)) == [True, False]
        assert await inbox.submit(_row(endpoint, "same")) is False
        assert await inbox.submit(_row(f"{endpoint}x", "same")) is True  # other endpoint
    finally:
        await inbox.close()
    assert first["id"] in recorder.committed[0]
    assert all(twin["id"] not in batch for batch in recorder.committed)


async def test_a_failed_statement_fails_its_whole_batch(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    committed: list[list[str]] = []

    async def on_commit(rows: list[dict[str, Any]]) -> None:
        committed.append([row["id"] for row in rows])

    async def broken_insert(conn: Any, rows: Any) -> set[str]:
        raise ConnectionResetError("database went away")

    inbox = InboxBatcher(runtime.engine, on_commit, window_seconds=0.005)
    endpoint = f"whe_{secrets.token_hex(6)}"
    real_insert = batcher_module.insert_inbox_rows
    monkeypatch.setattr(batcher_module, "insert_inbox_rows", broken_insert)
    try:
        outcomes = await asyncio.gather(
            *(inbox.submit(_row(endpoint, f"ev-{i}")) for i in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, InboxUnavailable) for o in outcomes), outcomes
        assert committed == []

        monkeypatch.setattr(batcher_module, "insert_inbox_rows", real_insert)
        assert await inbox.submit(_row(endpoint, "ev-0")) is True  # fresh connection, stored
    finally:
        await inbox.close()


async def test_closing_flushes_what_is_waiting(runtime: Runtime, recorder: Recorder) -> None:
    inbox = InboxBatcher(runtime.engine, recorder.on_commit, window_seconds=0.05)
    pending = asyncio.ensure_future(inbox.submit(_row(f"whe_{secrets.token_hex(6)}", "late")))
    await asyncio.sleep(0)
    await inbox.close()
    assert await pending is True
    with pytest.raises(InboxUnavailable):
        await inbox.submit(_row("whe_closed", "after-close"))
