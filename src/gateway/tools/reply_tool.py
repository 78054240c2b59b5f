"""``message.reply``: turn "answer event X with this text" into a platform tool call.

The event is loaded for the tenant (another tenant's id is a 404), its raw payload decrypted
where it is used, and ``providers.reply.reply_target`` picks the platform tool and the
conversation/thread parameters. The connection is, in order: the one the caller names, the
event's, the connection of the webhook endpoint that received it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.errors import Conflict, DecryptionFailed, NotFound, ValidationFailed
from gateway.providers.registry import get_provider
from gateway.providers.reply import reply_target
from gateway.tools import repository
from gateway.tools.definitions import BUILTIN_DEFINITIONS, BuiltinDefinition, validate


@dataclass(frozen=True)
class ReplyPlan:
    target: BuiltinDefinition
    params: dict[str, Any]
    connection_id: str
    provider: str


async def plan_reply(
    session: AsyncSession,
    keyring: Keyring,
    tenant_id: str,
    params: Mapping[str, Any],
    connection_id: str | None,
) -> ReplyPlan:
    event = await repository.get_event(session, tenant_id, str(params["event_id"]))
    if event is None:
        raise NotFound("no such event", code="event_not_found")
    try:
        raw = json.loads(
            keyring.decrypt(
                event.payload_enc, FieldContext("events", "payload_enc", event.id, event.tenant_id)
            )
        )
    except (DecryptionFailed, ValueError):
        raise Conflict(
            "the event's stored payload cannot be read", code="event_payload_unreadable"
        ) from None
    provider = get_provider(event.provider)
    provider_id = provider.id if provider is not None else event.provider
    name, target_params = reply_target(
        provider_id, event.data or {}, raw if isinstance(raw, dict) else {}
    )
    target = BUILTIN_DEFINITIONS[name]
    tool_params = {**target_params, "text": params["text"]}
    validate(target.validator, name, tool_params)
    chosen = str(params.get("connection_id") or "") or connection_id or event.connection_id
    if not chosen and event.endpoint_id:
        chosen = await repository.get_endpoint_connection(session, tenant_id, event.endpoint_id)
    if not chosen:
        raise ValidationFailed(
            "the event has no connection to reply with; pass connection_id",
            code="connection_required",
        )
    return ReplyPlan(target, tool_params, chosen, provider_id)
