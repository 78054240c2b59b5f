"""DingTalk: robot message callbacks and (decrypted) event-subscription pushes → unified events.

Robot callbacks (``{"msgtype", "msgId", "conversationId", "conversationType", "senderStaffId",
"senderNick", "text": {"content"}, …}``) → ``message.received``: ``text`` messages use
``text.content``, ``richText`` the concatenated text parts of ``content.richText``; other
types (picture, audio, file, …) carry no text. ``conversationType`` "1" → direct, "2" → group.
The sender id is ``senderStaffId`` (the org user id the send-message APIs take), else the
encrypted ``senderId``. Leading/trailing blanks are trimmed from the text: DingTalk leaves a
space where the @robot mention was removed.

Event pushes (``{"EventType": "user_add_org", "TimeStamp": …, …}``, also ``check_url``) are not
modelled: ``webhook.received`` with their timestamp.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.providers.events import (
    ConversationType,
    EventData,
    NormaliseContext,
    NormalisedEvent,
    PayloadNormaliser,
    as_id,
    as_list,
    as_mapping,
    as_text,
    first_id,
    make_conversation,
    make_sender,
    parse_timestamp,
    unique,
    webhook_received,
)

_CONVERSATION_TYPES: Final[dict[str, ConversationType]] = {"1": "direct", "2": "group"}


def _text(payload: Mapping[str, Any]) -> str | None:
    match payload.get("msgtype"):
        case "text":
            text = as_text(as_mapping(payload.get("text")).get("content"))
        case "richText":
            parts = as_list(as_mapping(payload.get("content")).get("richText"))
            texts = [as_text(as_mapping(part).get("text")) for part in parts]
            text = "".join(piece for piece in texts if piece is not None) if any(texts) else None
        case _:
            text = None
    return text.strip() if text is not None else None


class DingTalkNormaliser(PayloadNormaliser):
    provider = "dingtalk"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        if "EventType" in payload:
            return webhook_received(parse_timestamp(payload.get("TimeStamp"), unit="ms"))
        if "msgtype" not in payload and "msgId" not in payload:
            return webhook_received()

        conversation_type = as_id(payload.get("conversationType"))
        sender_id = first_id(payload.get("senderStaffId"), payload.get("senderId"))
        return NormalisedEvent(
            type="message.received",
            occurred_at=parse_timestamp(payload.get("createAt"), unit="ms"),
            data=EventData(
                conversation=make_conversation(
                    as_id(payload.get("conversationId")),
                    _CONVERSATION_TYPES.get(conversation_type, "unknown")
                    if conversation_type is not None
                    else "unknown",
                ),
                sender=make_sender(sender_id, as_text(payload.get("senderNick"))),
                text=_text(payload),
                message_id=as_id(payload.get("msgId")),
                mentions=unique(
                    first_id(user.get("staffId"), user.get("dingtalkId"))
                    for user in map(as_mapping, as_list(payload.get("atUsers")))
                ),
                is_bot_echo=context.is_own(user_id=sender_id)
                or context.is_own(user_id=as_id(payload.get("senderId"))),
            ),
        )


NORMALISER: Final = DingTalkNormaliser()
