"""The explicit list of background jobs: arq's ``functions``/``cron_jobs`` and the in-process
dispatcher are both built from it. A domain adds its task functions here."""

from __future__ import annotations

from typing import Final

from gateway.connections import tasks as connection_tasks
from gateway.events import tasks as event_tasks
from gateway.kit.queue import PeriodicJob, TaskFn
from gateway.oauth_flow import tasks as oauth_flow_tasks
from gateway.subscriptions import tasks as subscription_tasks
from gateway.tools import tasks as tool_tasks

TASKS: Final[dict[str, TaskFn]] = {
    "deliver": subscription_tasks.deliver,
    "deliver_many": subscription_tasks.deliver_many,
    "process_event": event_tasks.process_event,
    "process_event_batch": event_tasks.process_event_batch,
}

PERIODIC: Final[tuple[PeriodicJob, ...]] = (
    subscription_tasks.DELIVERY_SWEEPER,
    event_tasks.SWEEPER,
    tool_tasks.PURGE_IDEMPOTENCY,
    connection_tasks.PERIODIC_REFRESH,
    oauth_flow_tasks.PERIODIC_PURGE,
)
