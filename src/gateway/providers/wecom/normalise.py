"""WeCom (企业微信): decrypted self-built-app callbacks → unified events.

The payload is the decrypted message as a flat dict of XML leaf tags (or the JSON-mode
object with the same keys): ``ToUserName`` (corp id), ``FromUserName`` (member user id),
``CreateTime`` (unix seconds), ``MsgType``, ``Content``, ``MsgId``, ``AgentID``, ``Event``,
``EventKey``, …

* ``MsgType`` text / image / voice / video / location / link / file → ``message.received``
  (only text has ``text``). An app only receives one-to-one messages, so the conversation is
  ``direct`` with the member, whose user id is what ``message/send`` takes as ``touser``.
* ``event`` ``click`` (app menu) and ``template_card_event`` (button on a template card) →
  ``interaction.received``.
* Every other event — ``subscribe``, ``enter_agent``, ``change_contact`` (including
  ``create_user``, a directory change rather than someone joining a conversation), … — is
  ``webhook.received``. Directory events come from ``sys``, which is not reported as a sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.providers.events import (
    EventData,
    NormaliseContext,
    NormalisedEvent,
    PayloadNormaliser,
    as_id,
    as_text,
    interaction_data,
    make_conversation,
    make_sender,
    parse_timestamp,
    webhook_received,
)

_MESSAGE_TYPES: Final = frozenset({"text", "image", "voice", "video", "location", "link", "file"})
_SYSTEM_SENDER: Final = "sys"


class WeComNormaliser(PayloadNormaliser):
    provider = "wecom"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        occurred_at = parse_timestamp(payload.get("CreateTime"))
        user = as_id(payload.get("FromUserName"))
        if user == _SYSTEM_SENDER:
            user = None
        conversation = make_conversation(user, "direct")
        sender = make_sender(user)
        msg_type = as_text(payload.get("MsgType"))

        if msg_type in _MESSAGE_TYPES:
            return NormalisedEvent(
                type="message.received",
                occurred_at=occurred_at,
                data=EventData(
                    conversation=conversation,
                    sender=sender,
                    text=as_text(payload.get("Content")) if msg_type == "text" else None,
                    message_id=as_id(payload.get("MsgId")),
                ),
            )
        event = as_text(payload.get("Event")) if msg_type == "event" else None
        if event in ("click", "template_card_event"):
            return NormalisedEvent(
                type="interaction.received",
                occurred_at=occurred_at,
                data=EventData(
                    conversation=conversation,
                    sender=sender,
                    interaction=interaction_data(
                        "menu" if event == "click" else "component",
                        name=as_text(payload.get("EventKey")),
                        task_id=as_id(payload.get("TaskId")),
                        card_type=as_text(payload.get("CardType")),
                        agent_id=as_id(payload.get("AgentID")),
                    ),
                ),
            )
        return webhook_received(occurred_at, EventData(sender=sender))


NORMALISER: Final = WeComNormaliser()
