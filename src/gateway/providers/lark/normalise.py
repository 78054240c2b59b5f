"""Lark / Feishu: v2 event envelopes (and v1 message callbacks) → unified events.

v2: ``{"schema": "2.0", "header": {"event_id", "event_type", "create_time", …}, "event": {…}}``.

* ``im.message.receive_v1`` → ``message.received``. ``message.content`` is a JSON *string*
  (``{"text": "…"}`` for text, ``{"title", "content": [[elements]]}`` for rich ``post``);
  mention placeholders (``@_user_1``) are replaced by ``@<name>``; ``chat_type`` p2p → direct,
  group / topic_group → group; ``root_id`` (else ``parent_id``) is the thread. A sender of type
  ``app`` is a bot; it is flagged as this connection's echo when its open_id is the configured
  ``bot_user_id`` — or, when no bot identity is configured, always (loop prevention first).
* ``im.message.reaction.created_v1`` → ``reaction.added`` (the event carries no chat id).
* ``im.chat.member.user.added_v1`` → ``member.joined`` (the first added user is the sender).

v1: ``{"uuid", "ts", "type": "event_callback", "event": {"type": "message", …}}`` messages are
understood too; every other event type is ``webhook.received``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
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
    parse_json_object,
    parse_timestamp,
    unique,
    webhook_received,
)

_CHAT_TYPES: Final[dict[str, ConversationType]] = {
    "p2p": "direct",
    "private": "direct",  # v1
    "group": "group",
    "topic_group": "group",
}
_V1_MENTION: Final = re.compile(r'<at open_id="([^"]+)">')


def _open_id(user_id: Any) -> str | None:
    """Prefer the app-scoped open_id, falling back to union_id / user_id."""
    ids = as_mapping(user_id)
    return first_id(ids.get("open_id"), ids.get("union_id"), ids.get("user_id"))


def _chat_type(value: Any) -> ConversationType:
    name = as_text(value)
    return _CHAT_TYPES.get(name, "unknown") if name is not None else "unknown"


def _post_text(content: Mapping[str, Any]) -> str | None:
    """Plain text of a ``post``: title, then one line per paragraph of text/link/at elements."""
    if "content" not in content and len(content) == 1:  # locale-wrapped: {"zh_cn": {...}}
        content = as_mapping(next(iter(content.values())))
    lines = [as_text(content.get("title")) or ""]
    for paragraph in as_list(content.get("content")):
        parts: list[str] = []
        for element in map(as_mapping, as_list(paragraph)):
            if element.get("tag") in ("text", "a"):
                parts.append(as_text(element.get("text")) or "")
            elif element.get("tag") == "at":  # user_id holds the @_user_N placeholder
                parts.append(as_text(element.get("user_id")) or "")
        lines.append("".join(parts))
    text = "\n".join(line for line in lines if line)
    return text or None


def _replace_mentions(text: str, mentions: list[Any]) -> str:
    names = {
        key: f"@{name}"
        for mention in map(as_mapping, mentions)
        if (key := as_text(mention.get("key"))) and (name := as_text(mention.get("name")))
    }
    if not names:
        return text
    # Longest keys first so that @_user_1 does not eat the prefix of @_user_10.
    pattern = "|".join(re.escape(key) for key in sorted(names, key=len, reverse=True))
    return re.sub(pattern, lambda match: names[match.group(0)], text)


class LarkNormaliser(PayloadNormaliser):
    provider = "lark"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        event = as_mapping(payload.get("event"))
        if payload.get("type") == "event_callback" and "header" not in payload:
            return self._v1(event, payload, context)
        header = as_mapping(payload.get("header"))
        occurred_at = parse_timestamp(header.get("create_time"), unit="ms")
        match as_text(header.get("event_type")) or event_type:
            case "im.message.receive_v1":
                return self._message(event, occurred_at, context)
            case "im.message.reaction.created_v1":
                operator = _open_id(event.get("user_id"))
                app_id = as_id(event.get("app_id"))
                is_app = event.get("operator_type") == "app"
                return NormalisedEvent(
                    type="reaction.added",
                    occurred_at=parse_timestamp(event.get("action_time"), unit="ms") or occurred_at,
                    data=EventData(
                        sender=make_sender(operator or (app_id if is_app else None), is_bot=is_app),
                        message_id=as_id(event.get("message_id")),
                        reaction=as_text(as_mapping(event.get("reaction_type")).get("emoji_type")),
                        is_bot_echo=context.is_own(user_id=operator, app_id=app_id),
                    ),
                )
            case "im.chat.member.user.added_v1":
                user = as_mapping(next(iter(as_list(event.get("users"))), None))
                return NormalisedEvent(
                    type="member.joined",
                    occurred_at=occurred_at,
                    data=EventData(
                        conversation=make_conversation(as_id(event.get("chat_id")), "group"),
                        sender=make_sender(
                            _open_id(user.get("user_id")), as_text(user.get("name"))
                        ),
                    ),
                )
            case _:
                return webhook_received(occurred_at)

    def _message(
        self, event: Mapping[str, Any], occurred_at: datetime | None, context: NormaliseContext
    ) -> NormalisedEvent:
        sender = as_mapping(event.get("sender"))
        message = as_mapping(event.get("message"))
        sender_id = _open_id(sender.get("sender_id"))
        is_app = sender.get("sender_type") == "app"
        mentions = as_list(message.get("mentions"))
        content = parse_json_object(message.get("content"))
        match message.get("message_type"):
            case "text":
                text = as_text(content.get("text"))
            case "post":
                text = _post_text(content)
            case _:  # images, files, stickers, cards: no text to speak of
                text = None
        return NormalisedEvent(
            type="message.received",
            occurred_at=parse_timestamp(message.get("create_time"), unit="ms") or occurred_at,
            data=EventData(
                conversation=make_conversation(
                    as_id(message.get("chat_id")), _chat_type(message.get("chat_type"))
                ),
                sender=make_sender(sender_id, is_bot=is_app),
                text=_replace_mentions(text, mentions) if text is not None else None,
                message_id=as_id(message.get("message_id")),
                thread_id=first_id(message.get("root_id"), message.get("parent_id")),
                mentions=unique(_open_id(as_mapping(m).get("id")) for m in mentions),
                is_bot_echo=context.is_own(user_id=sender_id)
                or (is_app and context.bot_user_id is None),
            ),
        )

    def _v1(
        self, event: Mapping[str, Any], payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        occurred_at = parse_timestamp(payload.get("ts"))
        if event.get("type") != "message":
            return webhook_received(occurred_at)
        raw_text = as_text(event.get("text"))
        without_bot = as_text(event.get("text_without_at_bot"))
        sender_id = as_id(event.get("open_id"))
        return NormalisedEvent(
            type="message.received",
            occurred_at=occurred_at,
            data=EventData(
                conversation=make_conversation(
                    as_id(event.get("open_chat_id")), _chat_type(event.get("chat_type"))
                ),
                sender=make_sender(sender_id),
                text=without_bot.strip() if without_bot is not None else raw_text,
                message_id=as_id(event.get("open_message_id")),
                thread_id=first_id(event.get("root_id"), event.get("parent_id")),
                mentions=unique(_V1_MENTION.findall(raw_text)) if raw_text else [],
                is_bot_echo=context.is_own(user_id=sender_id),
            ),
        )


NORMALISER: Final = LarkNormaliser()
