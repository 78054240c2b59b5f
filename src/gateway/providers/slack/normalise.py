"""Slack: Events API callbacks, slash commands and interactivity → unified events.

Inputs: the ``event_callback`` envelope (``{"type": "event_callback", "event_id", "event_time",
"event": {...}}``); a slash-command form (``command``, ``text``, ``user_id``, ``channel_id``, …);
an interactivity form whose ``payload`` field is the (decoded, or still JSON-encoded) object.

Conversation types: ``im`` → direct, ``mpim`` → group (a multi-person DM), ``channel`` and
``group`` → channel (Slack's legacy name ``group`` means a *private channel*, not a group chat).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
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
    first_id,
    interaction_data,
    make_conversation,
    make_sender,
    parse_json_object,
    parse_timestamp,
    ref_id,
    unique,
    webhook_received,
)

_CHANNEL_TYPES: Final[dict[str, ConversationType]] = {
    "im": "direct",
    "mpim": "group",
    "channel": "channel",
    "group": "channel",
    # member_joined_channel uses one-letter codes: C public, G private channel.
    "C": "channel",
    "G": "channel",
}
# Slash commands name DMs and private channels instead of giving a type.
_SLASH_CHANNEL_NAMES: Final[dict[str, ConversationType]] = {
    "directmessage": "direct",
    "privategroup": "channel",
}
# Subtypes that are a person's or an app's content rather than a channel system notice.
_CONTENT_SUBTYPES: Final = frozenset(
    {None, "bot_message", "thread_broadcast", "file_share", "me_message"}
)
_INTERACTION_KINDS: Final[dict[str, str]] = {
    "block_actions": "component",
    "interactive_message": "component",
    "view_submission": "submit",
    "view_closed": "other",
    "shortcut": "shortcut",
    "message_action": "shortcut",
    "block_suggestion": "autocomplete",
}
_MENTION: Final = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def _conversation_type(channel_type: Any, channel_id: str | None) -> ConversationType:
    known = _CHANNEL_TYPES.get(channel_type) if isinstance(channel_type, str) else None
    if known is not None:
        return known
    # Without a type the id prefix still tells DMs (D…) from public channels (C…); G… is
    # ambiguous (private channel or legacy multi-person DM).
    if channel_id is not None and channel_id.startswith("D"):
        return "direct"
    if channel_id is not None and channel_id.startswith("C"):
        return "channel"
    return "unknown"


def _slash_conversation_type(channel_name: Any, channel_id: str | None) -> ConversationType:
    if not isinstance(channel_name, str) or not channel_name:
        return _conversation_type(None, channel_id)
    if channel_name.startswith("mpdm-"):
        return "group"
    # Any other name is a channel the command was typed in (public or private).
    return _SLASH_CHANNEL_NAMES.get(channel_name, "channel")


def _mentions(text: str | None) -> list[str]:
    return unique(_MENTION.findall(text)) if text else []


def _flatten_form(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """Accept ``parse_qs``-style forms (``{"command": ["/todo"]}``) as well as flat ones."""
    if not (isinstance(payload.get("command"), list) or isinstance(payload.get("payload"), list)):
        return payload
    return {
        key: value[0] if isinstance(value, list) and len(value) == 1 else value
        for key, value in payload.items()
    }


class SlackNormaliser(PayloadNormaliser):
    provider = "slack"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        body = _flatten_form(payload)
        interactive = parse_json_object(body.get("payload"))
        if interactive:
            return self._interaction(interactive)
        if isinstance(body.get("command"), str):
            return self._slash_command(body)
        if as_text(body.get("type")) in _INTERACTION_KINDS:
            return self._interaction(body)
        if body.get("type") != "event_callback":
            return webhook_received()

        event = as_mapping(body.get("event"))
        occurred_at = parse_timestamp(body.get("event_time")) or parse_timestamp(
            event.get("event_ts")
        )
        match event.get("type"):
            case "message" | "app_mention":
                return self._message(event, occurred_at, context)
            case "reaction_added":
                return self._reaction(event, occurred_at, context)
            case "member_joined_channel":
                channel = as_id(event.get("channel"))
                return NormalisedEvent(
                    type="member.joined",
                    occurred_at=occurred_at,
                    data=EventData(
                        conversation=make_conversation(
                            channel, _conversation_type(event.get("channel_type"), channel)
                        ),
                        sender=make_sender(as_id(event.get("user"))),
                    ),
                )
            case _:
                # Unmodelled events: `channel` / `user` are ids or objects depending on type.
                channel = ref_id(event.get("channel"))
                return webhook_received(
                    occurred_at,
                    EventData(
                        conversation=make_conversation(
                            channel, _conversation_type(event.get("channel_type"), channel)
                        ),
                        sender=make_sender(ref_id(event.get("user"))),
                    ),
                )

    def _message(
        self, event: Mapping[str, Any], occurred_at: datetime | None, context: NormaliseContext
    ) -> NormalisedEvent:
        subtype = as_text(event.get("subtype"))
        kind: EventType
        if subtype == "message_changed":
            kind, message = "message.updated", as_mapping(event.get("message"))
        elif subtype in _CONTENT_SUBTYPES:
            kind, message = "message.received", event
        else:  # system notices (channel_join, message_deleted, …) are not messages
            kind, message = "webhook.received", event

        channel = as_id(event.get("channel"))
        user = as_id(message.get("user"))
        bot_id = as_id(message.get("bot_id"))
        bot_profile = as_mapping(message.get("bot_profile"))
        text = as_text(message.get("text"))
        return NormalisedEvent(
            type=kind,
            occurred_at=occurred_at,
            data=EventData(
                conversation=make_conversation(
                    channel, _conversation_type(event.get("channel_type"), channel)
                ),
                sender=make_sender(
                    user or bot_id,
                    as_text(message.get("username")) or as_text(bot_profile.get("name")),
                    is_bot=bot_id is not None or subtype == "bot_message",
                ),
                text=text,
                message_id=first_id(event.get("deleted_ts"), message.get("ts")),
                thread_id=as_id(message.get("thread_ts")),
                mentions=_mentions(text),
                is_bot_echo=context.is_own(
                    user_id=user,
                    bot_id=bot_id,
                    app_id=as_id(message.get("app_id")) or as_id(bot_profile.get("app_id")),
                ),
            ),
        )

    def _reaction(
        self, event: Mapping[str, Any], occurred_at: datetime | None, context: NormaliseContext
    ) -> NormalisedEvent:
        item = as_mapping(event.get("item"))
        is_message = item.get("type") == "message"
        channel = as_id(item.get("channel")) if is_message else None
        user = as_id(event.get("user"))
        return NormalisedEvent(
            type="reaction.added",
            occurred_at=occurred_at,
            data=EventData(
                conversation=make_conversation(channel, _conversation_type(None, channel)),
                sender=make_sender(user),
                message_id=as_id(item.get("ts")) if is_message else None,
                reaction=as_text(event.get("reaction")),
                is_bot_echo=context.is_own(user_id=user),
            ),
        )

    def _slash_command(self, form: Mapping[str, Any]) -> NormalisedEvent:
        channel = as_id(form.get("channel_id"))
        conversation_type = _slash_conversation_type(form.get("channel_name"), channel)
        text = as_text(form.get("text"))
        return NormalisedEvent(
            type="interaction.received",
            data=EventData(
                conversation=make_conversation(channel, conversation_type),
                sender=make_sender(as_id(form.get("user_id")), as_text(form.get("user_name"))),
                text=text,
                mentions=_mentions(text),
                interaction=interaction_data(
                    "command",
                    name=as_text(form.get("command")),
                    value=text,
                    trigger_id=as_id(form.get("trigger_id")),
                ),
            ),
        )

    def _interaction(self, body: Mapping[str, Any]) -> NormalisedEvent:
        kind_name = as_text(body.get("type"))
        kind = _INTERACTION_KINDS.get(kind_name) if kind_name is not None else None
        if kind is None:
            return webhook_received()
        user = as_mapping(body.get("user"))
        container = as_mapping(body.get("container"))
        message = as_mapping(body.get("message"))
        view = as_mapping(body.get("view"))
        action = as_mapping(next(iter(as_list(body.get("actions"))), None))
        selected = as_mapping(action.get("selected_option"))
        channel = ref_id(body.get("channel")) or as_id(container.get("channel_id"))
        return NormalisedEvent(
            type="interaction.received",
            occurred_at=parse_timestamp(action.get("action_ts")),
            data=EventData(
                conversation=make_conversation(channel, _conversation_type(None, channel)),
                sender=make_sender(
                    as_id(user.get("id")),
                    as_text(user.get("name")) or as_text(user.get("username")),
                ),
                message_id=first_id(
                    container.get("message_ts"), message.get("ts"), body.get("message_ts")
                ),
                thread_id=first_id(message.get("thread_ts"), container.get("thread_ts")),
                interaction=interaction_data(
                    kind,
                    type=kind_name,
                    name=first_id(
                        action.get("action_id"),
                        action.get("name"),
                        body.get("action_id"),
                        body.get("callback_id"),
                        view.get("callback_id"),
                    ),
                    value=first_id(action.get("value"), selected.get("value"), body.get("value")),
                    block_id=as_id(action.get("block_id")),
                    view_id=as_id(view.get("id")),
                    values=_state_values(view),
                    trigger_id=as_id(body.get("trigger_id")),
                ),
            ),
        )


def _state_values(view: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Submitted modal input, ``{block_id: {action_id: {...}}}`` exactly as Slack sends it."""
    values = as_mapping(view.get("state")).get("values")
    return values if isinstance(values, Mapping) and values else None


NORMALISER: Final = SlackNormaliser()
