"""Discord: interactions and Webhook Events → unified events.

Interactions (``{"id", "type", "token", "data", "member"|"user", "channel_id", "guild_id", …}``):
type 2 application command, 3 message component, 4 autocomplete and 5 modal submit become
``interaction.received``; PING (type 1) and anything else ``webhook.received``. The sender is
``member.user`` in a guild and ``user`` in DMs. ``occurred_at`` comes from the interaction id
(a snowflake embeds its creation time).

Webhook Events (``{"version": 1, "application_id", "type": 0|1, "event": {"type", "timestamp",
"data"}}``, e.g. ``APPLICATION_AUTHORIZED``) are not modelled: ``webhook.received`` with the user
they concern and their timestamp.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from gateway.providers.events import (
    ConversationType,
    EventData,
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
    webhook_received,
)

_DISCORD_EPOCH_MS: Final = 1_420_070_400_000
_INTERACTION_KINDS: Final[dict[int, str]] = {
    2: "command",
    3: "component",
    4: "autocomplete",
    5: "submit",
}
# https://discord.com/developers/docs/resources/channel#channel-object-channel-types
_CHANNEL_TYPES: Final[dict[int, ConversationType]] = {
    0: "channel",  # GUILD_TEXT
    1: "direct",  # DM
    2: "channel",  # GUILD_VOICE
    3: "group",  # GROUP_DM
    5: "channel",  # GUILD_ANNOUNCEMENT
    10: "thread",  # ANNOUNCEMENT_THREAD
    11: "thread",  # PUBLIC_THREAD
    12: "thread",  # PRIVATE_THREAD
    13: "channel",  # GUILD_STAGE_VOICE
    15: "channel",  # GUILD_FORUM
    16: "channel",  # GUILD_MEDIA
}
_MAX_DEPTH: Final = 8


def snowflake_time(snowflake: Any) -> datetime | None:
    """The creation time embedded in a Discord snowflake id (``None`` if it is not one)."""
    value = as_int(snowflake)
    if value is None or value <= 0 or value >= 2**64:
        return None
    return parse_timestamp((value >> 22) + _DISCORD_EPOCH_MS, unit="ms")


def _user(value: Any) -> Sender | None:
    user = as_mapping(value)
    name = as_text(user.get("global_name")) or as_text(user.get("username"))
    return make_sender(as_id(user.get("id")), name, is_bot=user.get("bot") is True)


def _submitted_values(components: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """``custom_id → value(s)`` from modal components, whatever their nesting (rows, labels)."""
    if depth > _MAX_DEPTH:
        return
    for component in as_list(components):
        component = as_mapping(component)
        custom_id = as_id(component.get("custom_id"))
        if custom_id is not None and ("value" in component or "values" in component):
            yield custom_id, component.get("value", component.get("values"))
        yield from _submitted_values(component.get("components"), depth + 1)
        if isinstance(component.get("component"), Mapping):  # a label wrapping one input
            yield from _submitted_values([component.get("component")], depth + 1)


class DiscordNormaliser(PayloadNormaliser):
    provider = "discord"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        if isinstance(payload.get("event"), Mapping):
            return self._webhook_event(as_mapping(payload.get("event")))
        interaction_type = as_int(payload.get("type"))
        kind = _INTERACTION_KINDS.get(interaction_type) if interaction_type is not None else None
        if kind is None:
            return webhook_received(snowflake_time(payload.get("id")))

        data = as_mapping(payload.get("data"))
        sender = _user(as_mapping(payload.get("member")).get("user")) or _user(payload.get("user"))
        channel_id = first_id(
            payload.get("channel_id"), as_mapping(payload.get("channel")).get("id")
        )
        conversation_type = self._conversation_type(payload)
        interaction = interaction_data(
            kind,
            id=as_id(payload.get("id")),
            name=first_id(data.get("name"), data.get("custom_id")),
            command_id=as_id(data.get("id")) if kind in ("command", "autocomplete") else None,
            options=as_list(data.get("options")) or None,
            component_type=as_int(data.get("component_type")),
            value=as_list(data.get("values")) or None,
            values=dict(_submitted_values(data.get("components"))) or None,
            guild_id=as_id(payload.get("guild_id")),
        )
        return NormalisedEvent(
            type="interaction.received",
            occurred_at=snowflake_time(payload.get("id")),
            data=EventData(
                conversation=make_conversation(channel_id, conversation_type),
                sender=sender,
                message_id=as_id(as_mapping(payload.get("message")).get("id")),
                thread_id=channel_id if conversation_type == "thread" else None,
                is_bot_echo=sender is not None and context.is_own(user_id=sender.id),
                interaction=interaction,
            ),
        )

    @staticmethod
    def _conversation_type(payload: Mapping[str, Any]) -> ConversationType:
        channel_type = as_int(as_mapping(payload.get("channel")).get("type"))
        if channel_type is not None:
            return _CHANNEL_TYPES.get(channel_type, "unknown")
        # Older payloads carry no channel object: a guild means a guild channel, none a DM.
        return "channel" if as_id(payload.get("guild_id")) else "direct"

    @staticmethod
    def _webhook_event(event: Mapping[str, Any]) -> NormalisedEvent:
        data = as_mapping(event.get("data"))
        sender = _user(data.get("user")) or make_sender(as_id(data.get("user_id")))
        return webhook_received(parse_timestamp(event.get("timestamp")), EventData(sender=sender))


NORMALISER: Final = DiscordNormaliser()
