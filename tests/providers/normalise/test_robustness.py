"""Normalisers are total: no payload, however odd, makes them raise.

``normalise_payload`` is called directly (not the guarded ``normalise``) so these tests prove
the extraction code itself never raises, rather than the last-resort fallback hiding it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.providers.events import EVENT_TYPES, NormaliseContext, NormalisedEvent
from tests.providers.normalise.normalisers import NORMALISERS

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_CASES = sorted(GOLDEN.glob("*/*.input.json"))


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for child in value.values() for key in _keys(child)}
    if isinstance(value, list):
        return {key for child in value for key in _keys(child)}
    return set()


# Keys real payloads use, so random dictionaries reach deep into the extraction paths.
KNOWN_KEYS = sorted(
    {key for path in GOLDEN_CASES for key in _keys(json.loads(path.read_text("utf-8")))}
)
KNOWN_STRINGS = [
    *EVENT_TYPES,
    "connection.created",
    "event_callback",
    "message",
    "app_mention",
    "reaction_added",
    "member_joined_channel",
    "block_actions",
    "view_submission",
    "message_changed",
    "bot_message",
    "im.message.receive_v1",
    "im.message.reaction.created_v1",
    "im.chat.member.user.added_v1",
    "text",
    "post",
    "richText",
    "event",
    "click",
    "template_card_event",
    "private",
    "supergroup",
    "p2p",
    "app",
    "Bot",
    "mention",
    "text_mention",
    "restricted",
    "member",
    "2.0",
    "1",
    "2",
    '{"text": "@_user_1 hi"}',
    "1355517523.000005",
    "2024-03-01T12:00:00Z",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(KNOWN_STRINGS)
)
keys = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=6),
    max_leaves=40,
)
payloads = st.dictionaries(keys, json_values, max_size=8)
contexts = st.builds(
    NormaliseContext,
    bot_user_id=st.none() | st.sampled_from(["U0BOT00001", "7000000001", "1"]),
    bot_id=st.none() | st.just("B0BOT00001"),
    app_id=st.none() | st.just("cli_9f5343c580712544"),
    event_type_path=st.none() | st.sampled_from(["type", "$.meta.event", "a.0.b", "$", ""]),
)
event_types = st.none() | st.text(max_size=12) | st.sampled_from(KNOWN_STRINGS)

SETTINGS = settings(
    deadline=None,
    database=None,  # keep the working tree clean (no .hypothesis/ directory)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check(event: NormalisedEvent) -> None:
    assert isinstance(event, NormalisedEvent)
    json.loads(event.model_dump_json())  # what is stored and delivered must serialise


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """A golden payload with random subtrees replaced, dropped, retyped or left alone."""
    action = draw(st.sampled_from(["keep", "keep", "keep", "replace", "retype"]))
    if action == "replace":
        return draw(json_values)
    if action == "retype":
        return draw(scalars)
    if isinstance(value, dict):
        return {
            key: draw(mutated(child, depth + 1))
            for key, child in value.items()
            if draw(st.integers(0, 9)) > 0  # drop ~10% of keys
        }
    if isinstance(value, list):
        return [draw(mutated(child, depth + 1)) for child in value]
    return value


@pytest.mark.parametrize("provider", sorted(NORMALISERS))
@settings(SETTINGS, max_examples=150)
@given(event_type=event_types, payload=payloads, context=contexts)
def test_random_payloads_never_raise(
    provider: str, event_type: str | None, payload: dict[str, Any], context: NormaliseContext
) -> None:
    _check(NORMALISERS[provider].normalise_payload(event_type, payload, context))


@pytest.mark.parametrize(
    "input_path", GOLDEN_CASES, ids=lambda p: f"{p.parent.name}/{p.name.split('.')[0]}"
)
@settings(SETTINGS, max_examples=40)  # x ~70 golden cases
@given(data=st.data(), context=contexts)
def test_mutated_golden_payloads_never_raise(
    input_path: Path, data: st.DataObject, context: NormaliseContext
) -> None:
    case = json.loads(input_path.read_text("utf-8"))
    payload = data.draw(mutated(case["payload"]).filter(lambda value: isinstance(value, dict)))
    event_type = data.draw(st.just(case["event_type"]) | event_types)
    _check(NORMALISERS[input_path.parent.name].normalise_payload(event_type, payload, context))


@pytest.mark.parametrize("provider", sorted(NORMALISERS))
@pytest.mark.parametrize("payload", [None, [], "text", 42, b"bytes"])
def test_non_mapping_payload_is_webhook_received(provider: str, payload: Any) -> None:
    event = NORMALISERS[provider].normalise(None, payload, NormaliseContext())
    assert event.type == "webhook.received"
