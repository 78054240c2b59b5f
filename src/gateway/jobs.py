"""The explicit list of background jobs: arq's ``functions``/``cron_jobs`` and the in-process
dispatcher are both built from it. A domain adds its task functions here."""

from __future__ import annotations

from typing import Final

from gateway.kit.queue import PeriodicJob, TaskFn

TASKS: Final[dict[str, TaskFn]] = {}

PERIODIC: Final[tuple[PeriodicJob, ...]] = ()
