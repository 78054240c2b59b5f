"""Standard Webhooks senders → unified events.

The spec's recommended payload is ``{"type": "…", "timestamp": "<ISO 8601>", "data": {…}}``.
A ``type`` that is one of the unified inbound types with ``data`` shaped like the unified
event data (e.g. another gateway forwarding) is kept as is; everything else is
``webhook.received``. ``connection.*`` types are never accepted from outside.
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
    parse_timestamp,
)


class StandardWebhooksNormaliser(PayloadNormaliser):
    provider = "standard"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        return forwarded_event(
            as_text(payload.get("type")) or event_type,
            payload.get("data"),
            parse_timestamp(payload.get("timestamp"), unit="auto"),
        )


NORMALISER: Final = StandardWebhooksNormaliser()
