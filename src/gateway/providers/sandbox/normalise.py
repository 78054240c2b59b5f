"""Sandbox platform events → unified events.

The sandbox sends (``POST /sandbox/api/simulate``, or ``gateway webhooks send`` with
``samples/sandbox/*.json``)::

    {"id": "sbe_…", "type": "message.created", "created_at": "<ISO 8601>",
     "workspace": {"id": "…", "name": "…"},
     "message": {"id": "sbm_…", "conversation": "general", "conversation_type": "channel",
                 "thread_id": null, "text": "hi", "mentions": ["u_bob"],
                 "user": {"id": "u_ada", "name": "Ada", "is_bot": false}}}

| sandbox type      | unified type       | from                                              |
|-------------------|--------------------|---------------------------------------------------|
| message.created   | message.received   | ``message``                                       |
| message.updated   | message.updated    | ``message``                                       |
| reaction.added    | reaction.added     | ``reaction`` {emoji, message_id, conversation, user} |
| member.joined     | member.joined      | ``member`` {conversation, user}                   |
| anything else     | webhook.received   | conversation/sender where present                 |

A message whose ``user.id`` is the connection's ``bot_user_id`` is the app's own (``is_bot_echo``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.providers.events import (
    ConversationType,
    EventData,
    EventType,
    NormaliseContext,
    NormalisedEvent,
    PayloadNormaliser,
    as_id,
    as_list,
    as_mapping,
    as_text,
    make_conversation,
    make_sender,
    parse_timestamp,
    unique,
    webhook_received,
)

_CONVERSATION_TYPES: Final[dict[str, ConversationType]] = {
    "channel": "channel",
    "group": "group",
    "direct": "direct",
}
_MESSAGE_TYPES: Final[dict[str, EventType]] = {
    "message.created": "message.received",
    "message.updated": "message.updated",
}


def _conversation(source: Mapping[str, Any]) -> Any:
    kind = _CONVERSATION_TYPES.get(as_text(source.get("conversation_type")) or "", "channel")
    return make_conversation(as_id(source.get("conversation")), kind)


def _sender(user: Mapping[str, Any]) -> Any:
    return make_sender(
        as_id(user.get("id")), as_text(user.get("name")), is_bot=user.get("is_bot") is True
    )


class SandboxNormaliser(PayloadNormaliser):
    provider = "sandbox"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        kind = as_text(payload.get("type")) or event_type or ""
        occurred_at = parse_timestamp(payload.get("created_at"), unit="auto")
        if kind in _MESSAGE_TYPES:
            message = as_mapping(payload.get("message"))
            user = as_mapping(message.get("user"))
            conversation = _conversation(message)
            if conversation is None:
                return webhook_received(occurred_at)
            data = EventData(
                conversation=conversation,
                sender=_sender(user),
                text=as_text(message.get("text")),
                message_id=as_id(message.get("id")),
                thread_id=as_id(message.get("thread_id")),
                mentions=unique(as_id(m) for m in as_list(message.get("mentions"))),
                is_bot_echo=context.is_own(user_id=as_id(user.get("id"))),
            )
            return NormalisedEvent(type=_MESSAGE_TYPES[kind], occurred_at=occurred_at, data=data)
        if kind == "reaction.added":
            reaction = as_mapping(payload.get("reaction"))
            user = as_mapping(reaction.get("user"))
            data = EventData(
                conversation=_conversation(reaction),
                sender=_sender(user),
                message_id=as_id(reaction.get("message_id")),
                reaction=as_text(reaction.get("emoji")),
                is_bot_echo=context.is_own(user_id=as_id(user.get("id"))),
            )
            return NormalisedEvent(type="reaction.added", occurred_at=occurred_at, data=data)
        if kind == "member.joined":
            member = as_mapping(payload.get("member"))
            data = EventData(
                conversation=_conversation(member), sender=_sender(as_mapping(member.get("user")))
            )
            return NormalisedEvent(type="member.joined", occurred_at=occurred_at, data=data)
        message = as_mapping(payload.get("message"))
        return webhook_received(
            occurred_at,
            EventData(
                conversation=_conversation(message),
                sender=_sender(as_mapping(message.get("user"))),
                text=as_text(message.get("text")),
            ),
        )


NORMALISER: Final = SandboxNormaliser()
