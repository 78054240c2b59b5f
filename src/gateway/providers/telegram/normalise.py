"""Telegram: Bot API ``Update`` objects → unified events.

``message`` / ``channel_post`` → ``message.received`` (service messages such as a pinned
message or a title change → ``webhook.received``; ``new_chat_members`` → ``member.joined``);
``edited_message`` / ``edited_channel_post`` → ``message.updated``; ``callback_query`` (inline
keyboard button) → ``interaction.received``; ``message_reaction`` adding an emoji →
``reaction.added``; ``chat_member`` from left/kicked to a member status → ``member.joined``.

Chat types: ``private`` → direct, ``group``/``supergroup`` → group, ``channel`` → channel.
``thread_id`` is the forum topic (``message_thread_id``) or else the replied-to message.
Mentions are ``@username`` for plain mentions and the numeric user id for text mentions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from gateway.providers.events import (
    Conversation,
    ConversationType,
    EventData,
    EventType,
    NormaliseContext,
    NormalisedEvent,
    PayloadNormaliser,
    Sender,
    as_id,
    as_int,
    as_list,
    as_mapping,
    as_text,
    first_id,
    interaction_data,
    make_conversation,
    make_sender,
    parse_timestamp,
    unique,
    webhook_received,
)

_CHAT_TYPES: Final[dict[str, ConversationType]] = {
    "private": "direct",
    "group": "group",
    "supergroup": "group",
    "channel": "channel",
}
_MESSAGE_UPDATES: Final[tuple[tuple[str, EventType], ...]] = (
    ("message", "message.received"),
    ("channel_post", "message.received"),
    ("edited_message", "message.updated"),
    ("edited_channel_post", "message.updated"),
)
# Keys whose presence makes a Message a user's content rather than a service notice.
_CONTENT_KEYS: Final = frozenset(
    {
        "text", "caption", "photo", "document", "sticker", "voice", "video", "video_note",
        "audio", "animation", "location", "venue", "contact", "poll", "dice", "story", "game",
    }
)  # fmt: skip
_PRESENT: Final = frozenset({"member", "administrator", "creator"})


def _chat(value: Any) -> Conversation | None:
    chat = as_mapping(value)
    chat_type = as_text(chat.get("type"))
    kind = _CHAT_TYPES.get(chat_type, "unknown") if chat_type is not None else "unknown"
    return make_conversation(as_id(chat.get("id")), kind)


def _user(value: Any) -> Sender | None:
    user = as_mapping(value)
    full_name = " ".join(
        part for part in (as_text(user.get("first_name")), as_text(user.get("last_name"))) if part
    )
    return make_sender(
        as_id(user.get("id")),
        full_name or as_text(user.get("username")),
        is_bot=user.get("is_bot") is True,
    )


def _chat_sender(value: Any) -> Sender | None:
    """A channel or anonymous group admin posting as the chat itself (``sender_chat``)."""
    chat = as_mapping(value)
    return make_sender(as_id(chat.get("id")), as_text(chat.get("title")))


def _utf16_slice(text: str, offset: Any, length: Any) -> str | None:
    """Telegram entity offsets count UTF-16 code units, not code points."""
    start, size = as_int(offset), as_int(length)
    if start is None or size is None or start < 0 or size <= 0:
        return None
    encoded = text.encode("utf-16-le", "surrogatepass")
    piece = encoded[start * 2 : (start + size) * 2]
    return piece.decode("utf-16-le", "ignore") or None


def _mentions(message: Mapping[str, Any], text: str | None) -> list[str]:
    entities = as_list(message.get("entities")) or as_list(message.get("caption_entities"))
    found: list[str | None] = []
    for entity in map(as_mapping, entities):
        if entity.get("type") == "text_mention":
            found.append(as_id(as_mapping(entity.get("user")).get("id")))
        elif entity.get("type") == "mention" and text:
            found.append(_utf16_slice(text, entity.get("offset"), entity.get("length")))
    return unique(found)


def _thread_id(message: Mapping[str, Any]) -> str | None:
    return first_id(
        message.get("message_thread_id"),
        as_mapping(message.get("reply_to_message")).get("message_id"),
    )


class TelegramNormaliser(PayloadNormaliser):
    provider = "telegram"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        for key, kind in _MESSAGE_UPDATES:
            if isinstance(payload.get(key), Mapping):
                return self._message(as_mapping(payload.get(key)), kind, context)
        if isinstance(payload.get("callback_query"), Mapping):
            return self._callback_query(as_mapping(payload.get("callback_query")), context)
        if isinstance(payload.get("message_reaction"), Mapping):
            return self._reaction(as_mapping(payload.get("message_reaction")), context)
        if isinstance(payload.get("chat_member"), Mapping):
            return self._chat_member(as_mapping(payload.get("chat_member")))
        return webhook_received()

    def _message(
        self, message: Mapping[str, Any], kind: EventType, context: NormaliseContext
    ) -> NormalisedEvent:
        conversation = _chat(message.get("chat"))
        # One event per update: the first member added is the sender of member.joined.
        joined = next(filter(None, map(_user, as_list(message.get("new_chat_members")))), None)
        if kind == "message.received" and joined is not None:
            return NormalisedEvent(
                type="member.joined",
                occurred_at=parse_timestamp(message.get("date")),
                data=EventData(
                    conversation=conversation,
                    sender=joined,
                    message_id=as_id(message.get("message_id")),
                ),
            )
        if kind == "message.received" and _CONTENT_KEYS.isdisjoint(message.keys()):
            kind = "webhook.received"
        sender = _user(message.get("from")) or _chat_sender(message.get("sender_chat"))
        text = as_text(message.get("text"))
        if text is None:
            text = as_text(message.get("caption"))
        edited = kind == "message.updated" and message.get("edit_date") is not None
        return NormalisedEvent(
            type=kind,
            occurred_at=parse_timestamp(message.get("edit_date" if edited else "date")),
            data=EventData(
                conversation=conversation,
                sender=sender,
                text=text,
                message_id=as_id(message.get("message_id")),
                thread_id=_thread_id(message),
                mentions=_mentions(message, text),
                is_bot_echo=sender is not None and context.is_own(user_id=sender.id),
            ),
        )

    def _callback_query(
        self, query: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        # `message` is absent for buttons on inline-mode messages (inline_message_id instead).
        message = as_mapping(query.get("message"))
        sender = _user(query.get("from"))
        return NormalisedEvent(
            type="interaction.received",
            data=EventData(
                conversation=_chat(message.get("chat")),
                sender=sender,
                message_id=as_id(message.get("message_id")),
                thread_id=_thread_id(message),
                is_bot_echo=sender is not None and context.is_own(user_id=sender.id),
                interaction=interaction_data(
                    "component",
                    id=as_id(query.get("id")),
                    value=as_text(query.get("data")),
                    game_short_name=as_text(query.get("game_short_name")),
                    inline_message_id=as_id(query.get("inline_message_id")),
                ),
            ),
        )

    def _reaction(self, update: Mapping[str, Any], context: NormaliseContext) -> NormalisedEvent:
        def keys(reactions: Any) -> list[str | None]:
            return [
                first_id(
                    reaction.get("emoji"), reaction.get("custom_emoji_id"), reaction.get("type")
                )
                for reaction in map(as_mapping, as_list(reactions))
            ]

        previous = set(keys(update.get("old_reaction")))
        added = [key for key in unique(keys(update.get("new_reaction"))) if key not in previous]
        sender = _user(update.get("user")) or _chat_sender(update.get("actor_chat"))
        data = EventData(
            conversation=_chat(update.get("chat")),
            sender=sender,
            message_id=as_id(update.get("message_id")),
            reaction=added[0] if added else None,
            is_bot_echo=sender is not None and context.is_own(user_id=sender.id),
        )
        occurred_at = parse_timestamp(update.get("date"))
        if not added:  # a reaction was removed: not modelled
            return webhook_received(occurred_at, data)
        return NormalisedEvent(type="reaction.added", occurred_at=occurred_at, data=data)

    def _chat_member(self, update: Mapping[str, Any]) -> NormalisedEvent:
        old, new = (
            as_mapping(update.get("old_chat_member")),
            as_mapping(update.get("new_chat_member")),
        )
        data = EventData(conversation=_chat(update.get("chat")), sender=_user(new.get("user")))
        occurred_at = parse_timestamp(update.get("date"))
        if self._is_member(new) and not self._is_member(old):
            return NormalisedEvent(type="member.joined", occurred_at=occurred_at, data=data)
        return webhook_received(occurred_at, data)

    @staticmethod
    def _is_member(member: Mapping[str, Any]) -> bool:
        status = member.get("status")
        if status == "restricted":
            return member.get("is_member") is True
        return isinstance(status, str) and status in _PRESENT


NORMALISER: Final = TelegramNormaliser()
