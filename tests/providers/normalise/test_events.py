"""The event model, subscription patterns and the shared extraction helpers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.providers.discord.normalise import snowflake_time
from gateway.providers.events import (
    ALL_EVENT_TYPES,
    CONNECTION_EVENT_TYPES,
    EVENT_TYPES,
    NormaliseContext,
    NormalisedEvent,
    Normaliser,
    PayloadNormaliser,
    as_id,
    forwarded_event,
    get_path,
    is_known_pattern,
    matches_pattern,
    parse_timestamp,
)
from tests.providers.normalise.normalisers import NORMALISERS


def test_event_type_catalogue_matches_the_public_contract() -> None:
    assert set(ALL_EVENT_TYPES) == {
        "message.received",
        "message.updated",
        "reaction.added",
        "member.joined",
        "interaction.received",
        "webhook.received",
        "connection.created",
        "connection.refreshed",
        "connection.needs_reauth",
        "connection.revoked",
    }
    assert len(ALL_EVENT_TYPES) == len(set(ALL_EVENT_TYPES))
    assert not set(EVENT_TYPES) & set(CONNECTION_EVENT_TYPES)


@pytest.mark.parametrize(
    ("event_type", "pattern", "expected"),
    [
        ("message.received", "*", True),
        ("connection.revoked", "*", True),
        ("message.received", "message.*", True),
        ("message.updated", "message.*", True),
        ("reaction.added", "message.*", False),
        ("messages.received", "message.*", False),
        ("message.received", "*.received", True),
        ("interaction.received", "*.received", True),
        ("message.updated", "*.received", False),
        ("message.received", "message.received", True),
        ("message.received", "message.receive", False),
        ("message.received", "message", False),
        ("message.received", "message.*.*", False),
        ("message.received", "*.*", True),
        ("message.received", "", False),
        ("message.received", "Message.*", False),
        ("message.received", "message*", False),
    ],
)
def test_matches_pattern(event_type: str, pattern: str, expected: bool) -> None:
    assert matches_pattern(event_type, pattern) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [("*", True), ("message.*", True), ("connection.*", True), ("*.added", True),
     ("mesage.*", False), ("message", False), ("webhook.received.*", False)],
)  # fmt: skip
def test_is_known_pattern(pattern: str, expected: bool) -> None:
    assert is_known_pattern(pattern) is expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        # Slack ts: the decimal string keeps its exact microseconds.
        ("1355517523.000005", "s", datetime(2012, 12, 14, 20, 38, 43, 5, tzinfo=UTC)),
        (1441645532, "s", datetime(2015, 9, 7, 17, 5, 32, tzinfo=UTC)),
        ("1609073151345", "ms", datetime(2020, 12, 27, 12, 45, 51, 345000, tzinfo=UTC)),
        (1613630252678, "ms", datetime(2021, 2, 18, 6, 37, 32, 678000, tzinfo=UTC)),
        (1709294400, "auto", datetime(2024, 3, 1, 12, tzinfo=UTC)),
        (1709294400123, "auto", datetime(2024, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)),
        (1.5, "s", datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)),
        ("2024-01-02T09:30:00+01:00", "s", datetime(2024, 1, 2, 8, 30, tzinfo=UTC)),
        ("2011-04-14T16:00:49Z", "s", datetime(2011, 4, 14, 16, 0, 49, tzinfo=UTC)),
        # Naive ISO (Discord webhook events) is read as UTC.
        ("2024-10-18T14:42:53.064834", "s", datetime(2024, 10, 18, 14, 42, 53, 64834, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(value: Any, unit: Any, expected: datetime) -> None:
    assert parse_timestamp(value, unit=unit) == expected


@pytest.mark.parametrize(
    "value",
    [None, True, False, "", "abc", "NaN", "inf", "1e10", "-5", -5, 10**30, 10**400, float("nan"),
     float("inf"), "²", "١٢٣", "9" * 5000, [1], {"ts": 1}, "0001-01-01T00:00:00+01:00"],
)  # fmt: skip
def test_parse_timestamp_rejects_implausible_values(value: Any) -> None:
    assert parse_timestamp(value) is None


def test_snowflake_time_matches_discord_documentation_example() -> None:
    # https://discord.com/developers/docs/reference#snowflakes
    assert snowflake_time("175928847299117063") == datetime(
        2016, 4, 30, 11, 18, 25, 796000, tzinfo=UTC
    )
    assert snowflake_time("not-a-snowflake") is None


def test_get_path() -> None:
    payload = {"meta": {"event": "x", "items": [{"id": 7}]}, "list": [1]}
    assert get_path(payload, "meta.event") == "x"
    assert get_path(payload, "$.meta.event") == "x"
    assert get_path(payload, "meta.items.0.id") == 7
    assert get_path(payload, ["meta", "items", "0", "id"]) == 7
    assert get_path(payload, "meta.items.5.id") is None
    assert get_path(payload, "meta.event.deeper") is None
    assert get_path(payload, "list.²") is None
    assert get_path(payload, "missing.path") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("U123", "U123"), (42, "42"), (-1001234567890, "-1001234567890"),
     ("", None), (True, None), (None, None), (1.5, None), ({"id": 1}, None), (10**50, None)],
)  # fmt: skip
def test_as_id(value: Any, expected: str | None) -> None:
    assert as_id(value) == expected


def test_is_own_compares_each_id_in_its_own_namespace() -> None:
    context = NormaliseContext(bot_user_id="U1", bot_id="B1", app_id="123")
    assert context.is_own(user_id="U1")
    assert context.is_own(bot_id="B1")
    assert context.is_own(app_id="123")
    # A user whose id happens to equal the app id is not the bot (GitHub ids are all numeric).
    assert not context.is_own(user_id="123")
    assert not NormaliseContext().is_own(user_id=None, bot_id=None, app_id=None)


def test_forwarded_event_never_accepts_connection_types_or_bad_data() -> None:
    data = {"sender": {"id": "u1"}}
    assert forwarded_event("message.updated", data, None).type == "message.updated"
    assert forwarded_event("connection.revoked", data, None).type == "webhook.received"
    assert forwarded_event("message.updated", {"sender": "u1"}, None).type == "webhook.received"
    assert forwarded_event("message.updated", ["not", "a", "mapping"], None).type == (
        "webhook.received"
    )
    assert forwarded_event(None, data, None).type == "webhook.received"


class _Broken(PayloadNormaliser):
    provider = "broken"

    def normalise_payload(
        self, event_type: str | None, payload: Mapping[str, Any], context: NormaliseContext
    ) -> NormalisedEvent:
        raise KeyError("boom")


def test_guard_turns_a_normaliser_bug_into_webhook_received_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.providers.events"):
        event = _Broken().normalise("x", {"secret": "do-not-log"}, NormaliseContext())
    assert event == NormalisedEvent(type="webhook.received")
    [record] = caplog.records
    assert record.__dict__["provider"] == "broken"
    assert record.__dict__["error"] == "KeyError"
    assert "do-not-log" not in caplog.text


@pytest.mark.parametrize("provider", sorted(NORMALISERS))
def test_every_normaliser_satisfies_the_protocol(provider: str) -> None:
    normaliser: Normaliser = NORMALISERS[provider]  # checked statically by mypy
    event = normaliser.normalise(None, {}, NormaliseContext())
    assert event.type == "webhook.received"
    assert NORMALISERS[provider].provider == provider
