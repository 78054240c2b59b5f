"""The unified event model and the normaliser capability every provider implements.

A verified webhook yields ``(event_type, payload)`` in the platform's own vocabulary; the
provider's :class:`Normaliser` turns it into one :class:`NormalisedEvent` whose ``data`` has the
same shape on every platform (conversation, sender, text, message id, thread, mentions, …).

Robustness rule: payloads are untrusted input that is already stored and acknowledged, so a
normaliser never raises on an odd payload. Anything unrecognised or malformed becomes
``webhook.received`` carrying whatever could be extracted. The extraction helpers below
(:func:`get_path`, :func:`as_id`, :func:`as_text`, :func:`parse_timestamp`, …) never raise, so
provider code written with them stays total; :class:`PayloadNormaliser` adds a last-resort net.

``interaction`` (for ``interaction.received``) is a small JSON object with a common core:

* ``kind``: ``command`` (slash / application command), ``component`` (button or select on a
  message, inline-keyboard callback, card action), ``submit`` (modal/view submission),
  ``shortcut``, ``autocomplete``, ``menu`` (app menu click) or ``other``;
* ``name``: the command name, action id, custom id or menu key; ``value``: the chosen value;
* ``id``: the platform's interaction id where one exists; plus a few platform-specific keys.

Response credentials (interaction tokens, ``response_url``) are deliberately not copied into
``interaction``; they stay in the raw payload.
"""

from __future__ import annotations

import json
import logging
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal, Protocol, TypeGuard, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

EventType = Literal[
    "message.received",
    "message.updated",
    "reaction.added",
    "member.joined",
    "interaction.received",
    "webhook.received",
]
"""Types a normaliser can produce from an inbound platform payload."""

ConnectionEventType = Literal[
    "connection.created",
    "connection.refreshed",
    "connection.needs_reauth",
    "connection.revoked",
]
"""Types emitted by the connections domain itself, never by a normaliser."""

ConversationType = Literal["channel", "group", "direct", "thread", "unknown"]

EVENT_TYPES: Final[tuple[EventType, ...]] = get_args(EventType)
CONNECTION_EVENT_TYPES: Final[tuple[ConnectionEventType, ...]] = get_args(ConnectionEventType)
ALL_EVENT_TYPES: Final[tuple[str, ...]] = (*EVENT_TYPES, *CONNECTION_EVENT_TYPES)


class Conversation(BaseModel):
    """Where the event happened; ``id`` is what a reply is addressed to on that platform."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: ConversationType


class Sender(BaseModel):
    """Who caused the event (author, reactor, joining member, clicking user)."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str | None = None
    is_bot: bool = False


class EventData(BaseModel):
    """The platform-independent part of an event; every field is optional."""

    model_config = ConfigDict(frozen=True)

    conversation: Conversation | None = None
    sender: Sender | None = None
    text: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    mentions: list[str] = Field(default_factory=list)
    reaction: str | None = None
    is_bot_echo: bool = False
    """True when this connection's own bot/app caused the event (its own message, edit,
    reaction or click): subscribers skip these to avoid reply loops."""
    interaction: dict[str, Any] | None = None


class NormalisedEvent(BaseModel):
    """What a normaliser returns; the event row adds ids, provider and the raw payload."""

    model_config = ConfigDict(frozen=True)

    type: EventType
    occurred_at: datetime | None = None
    data: EventData = Field(default_factory=EventData)


@dataclass(frozen=True, slots=True)
class NormaliseContext:
    """Non-secret connection metadata a normaliser may use.

    ``bot_user_id`` / ``bot_id`` / ``app_id`` identify this connection's own bot so its echoes
    can be flagged; ``event_type_path`` is the generic provider's configured JSON path.
    """

    bot_user_id: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    event_type_path: str | None = None

    def is_own(
        self,
        *,
        user_id: str | None = None,
        bot_id: str | None = None,
        app_id: str | None = None,
    ) -> bool:
        """Whether any given id is this connection's bot (each compared in its own namespace)."""
        pairs = ((user_id, self.bot_user_id), (bot_id, self.bot_id), (app_id, self.app_id))
        return any(seen is not None and seen == own for seen, own in pairs)


class Normaliser(Protocol):
    """Capability: turn one verified platform payload into a :class:`NormalisedEvent`."""

    def normalise(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        """Never raises: unrecognised or malformed payloads yield ``webhook.received``."""
        ...


class PayloadNormaliser(ABC):
    """Base for provider normalisers: subclasses implement :meth:`normalise_payload`.

    The helpers in this module make ``normalise_payload`` total on any JSON-like input (the
    fuzz tests call it directly to prove that); the guard in :meth:`normalise` is only a
    last-resort net so one provider bug cannot wedge the event pipeline.
    """

    provider: ClassVar[str]

    def normalise(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        if not isinstance(payload, Mapping):
            return webhook_received()
        try:
            return self.normalise_payload(event_type, payload, context)
        except (LookupError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            # Payload content is deliberately not logged: it may carry personal data.
            logger.warning(
                "normaliser fell back to webhook.received",
                extra={"provider": self.provider, "error": type(exc).__name__},
            )
            return webhook_received()

    @abstractmethod
    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent: ...


# --- subscription patterns -------------------------------------------------------------------


def matches_pattern(event_type: str, pattern: str) -> bool:
    """Match a subscription pattern: ``*`` (everything), ``message.*`` / ``*.received``
    (``*`` stands for exactly one dot-separated segment) or an exact type."""
    if pattern == "*":
        return True
    wanted, actual = pattern.split("."), event_type.split(".")
    if len(wanted) != len(actual):
        return False
    return all(w == "*" or w == a for w, a in zip(wanted, actual, strict=True))


def is_known_pattern(pattern: str) -> bool:
    """Whether a pattern matches at least one event type (to reject typos in subscriptions)."""
    return any(matches_pattern(event_type, pattern) for event_type in ALL_EVENT_TYPES)


def is_event_type(value: object) -> TypeGuard[EventType]:
    """Whether ``value`` names a type a normaliser may emit (connection types excluded)."""
    return isinstance(value, str) and value in EVENT_TYPES


# --- construction helpers --------------------------------------------------------------------


def webhook_received(
    occurred_at: datetime | None = None, data: EventData | None = None
) -> NormalisedEvent:
    """The catch-all event for anything not modelled."""
    return NormalisedEvent(
        type="webhook.received", occurred_at=occurred_at, data=data or EventData()
    )


def make_conversation(conversation_id: str | None, kind: ConversationType) -> Conversation | None:
    return None if conversation_id is None else Conversation(id=conversation_id, type=kind)


def make_sender(
    sender_id: str | None, name: str | None = None, *, is_bot: bool = False
) -> Sender | None:
    return None if sender_id is None else Sender(id=sender_id, name=name, is_bot=is_bot)


def interaction_data(kind: str, **fields: Any) -> dict[str, Any]:
    """An ``interaction`` object with the common ``kind`` key; ``None`` fields are dropped."""
    return {"kind": kind, **{key: value for key, value in fields.items() if value is not None}}


def forwarded_event(
    type_name: object, data: object, occurred_at: datetime | None
) -> NormalisedEvent:
    """For senders that already speak the unified model (standard / generic webhooks).

    Only the unified inbound types are honoured (a third party cannot forge ``connection.*``)
    and only when ``data`` validates as :class:`EventData`; otherwise ``webhook.received``.
    """
    if is_event_type(type_name) and isinstance(data, Mapping):
        try:
            parsed = EventData.model_validate(dict(data))
        except ValidationError:
            return webhook_received(occurred_at)
        return NormalisedEvent(type=type_name, occurred_at=occurred_at, data=parsed)
    return webhook_received(occurred_at)


# --- total extraction helpers ----------------------------------------------------------------

_MAX_ID_INT: Final = 10**40
_INTEGER: Final = re.compile(r"-?[0-9]{1,30}")
_NUMBER: Final = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")


def get_path(value: Any, path: str | Sequence[str]) -> Any:
    """Follow a dotted path (``"a.b.0.c"``, optional leading ``$.``) through mappings and lists.

    Returns ``None`` when any step is missing or of the wrong kind.
    """
    if isinstance(path, str):
        path = path.removeprefix("$.").removeprefix("$").split(".") if path else []
    current = value
    for step in path:
        if isinstance(current, Mapping):
            current = current.get(step)
        elif isinstance(current, list) and step.isascii() and step.isdigit():
            index = int(step)
            current = current[index] if index < len(current) else None
        else:
            return None
    return current


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """A string as-is (empty included); anything else is ``None``."""
    return value if isinstance(value, str) else None


def as_id(value: Any) -> str | None:
    """An identifier: a non-empty string, or an integer rendered in decimal (not a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        # Bounded so str() cannot hit the int-to-str digit limit on hostile input.
        return str(value) if abs(value) < _MAX_ID_INT else None
    return value if isinstance(value, str) and value else None


def as_int(value: Any) -> int | None:
    """An integer, also from a decimal string (``"2"``); never a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        return int(value)
    return None


def first_id(*values: Any) -> str | None:
    return next((found for found in map(as_id, values) if found is not None), None)


def ref_id(value: Any) -> str | None:
    """An id given either directly or as an object with an ``id`` field."""
    return as_id(value) or as_id(as_mapping(value).get("id"))


def unique(items: Iterable[str | None]) -> list[str]:
    """Order-preserving de-duplication that drops ``None``."""
    return list(dict.fromkeys(item for item in items if item is not None))


def parse_json_object(value: Any) -> Mapping[str, Any]:
    """A mapping, or a JSON string holding an object (Lark ``content``); else ``{}``."""
    if isinstance(value, Mapping):
        return value
    if not isinstance(value, str | bytes):
        return {}
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_SECONDS: Final = 253_402_300_799  # 9999-12-31T23:59:59Z
_MS_THRESHOLD: Final = 100_000_000_000  # for unit="auto": larger values are milliseconds


def parse_timestamp(value: Any, *, unit: Literal["s", "ms", "auto"] = "s") -> datetime | None:
    """A UTC datetime, or ``None`` for anything that is not a plausible time.

    Accepts epoch numbers and numeric strings (decimal-exact, so Slack's
    ``"1355517523.000005"`` keeps its microseconds) and ISO 8601 strings (naive = UTC).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        if not _NUMBER.fullmatch(value.strip()):
            return _parse_iso(value)
        number = Decimal(value.strip())
    elif isinstance(value, int):
        if abs(value) >= _MAX_ID_INT:
            return None
        number = Decimal(value)
    elif isinstance(value, float) and math.isfinite(value):
        number = Decimal(repr(value))
    else:
        return None
    if unit == "ms" or (unit == "auto" and abs(number) >= _MS_THRESHOLD):
        number /= 1000
    if not 0 <= number <= _MAX_SECONDS:
        return None
    whole = int(number)
    micros = int((number - whole) * 1_000_000)
    return _EPOCH + timedelta(seconds=whole, microseconds=micros)


def _parse_iso(value: str) -> datetime | None:
    if len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        return None
