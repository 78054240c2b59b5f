"""Names shared by everything that writes or runs inbox events: statuses and job names."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class EventStatus(StrEnum):
    """Life of an inbox row: stored → claimed by a job → processed, or dead-lettered."""

    PENDING = "pending"
    PROCESSING = "processing"
    PROCESSED = "processed"
    DEAD = "dead"


#: One event, ``_job_id`` = the event id (sweeper, retries, replays).
PROCESS_EVENT: Final = "process_event"
#: The new rows of one committed ingest batch, ``_job_id`` = ``evb_`` + its first event id.
PROCESS_EVENT_BATCH: Final = "process_event_batch"
#: The periodic re-enqueue of rows left pending (Redis lost, crash between commit and enqueue).
SWEEP_INBOX: Final = "sweep_inbox"

#: How long a freshly stored row may wait for its job before the sweeper re-enqueues it.
PENDING_GRACE_SECONDS: Final = 10.0
