"""Generic HMAC webhooks → unified events.

The event type is read from the endpoint's configured ``event_type`` JSON path
(``NormaliseContext.event_type_path``), else the type the verifier extracted, else a top-level
``type``. Like Standard Webhooks, a unified inbound type whose ``data`` is shaped like the
unified event data is kept; everything else is ``webhook.received``. ``occurred_at`` is taken
from the first of ``occurred_at`` / ``timestamp`` / ``created_at`` / ``time`` that parses
(ISO 8601, or epoch seconds / milliseconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.providers.events import (
    NormaliseContext,
    NormalisedEvent,
    PayloadNormaliser,
    as_text,
    forwarded_event,
    get_path,
    parse_timestamp,
)

_TIME_KEYS: Final = ("occurred_at", "timestamp", "created_at", "time")


class GenericNormaliser(PayloadNormaliser):
    provider = "generic"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        configured = (
            as_text(get_path(payload, context.event_type_path)) if context.event_type_path else None
        )
        times = (parse_timestamp(payload.get(key), unit="auto") for key in _TIME_KEYS)
        return forwarded_event(
            configured or event_type or as_text(payload.get("type")),
            payload.get("data"),
            next(filter(None, times), None),
        )


NORMALISER: Final = GenericNormaliser()
