"""Provider behaviour that golden files do not show well: input variants and decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.providers.events import NormaliseContext
from tests.providers.normalise.normalisers import NORMALISERS

NO_CONTEXT = NormaliseContext()


def test_slack_slash_command_form_parsed_with_parse_qs() -> None:
    form = {"command": ["/todo"], "text": ["buy milk"], "user_id": ["U1"], "channel_id": ["D1"]}
    event = NORMALISERS["slack"].normalise(None, form, NO_CONTEXT)
    assert event.type == "interaction.received"
    assert event.data.interaction == {"kind": "command", "name": "/todo", "value": "buy milk"}
    assert event.data.conversation is not None
    assert event.data.conversation.type == "direct"


def test_slack_interactivity_payload_given_unwrapped() -> None:
    payload = {"type": "shortcut", "callback_id": "open_ticket", "user": {"id": "U1"}}
    event = NORMALISERS["slack"].normalise("shortcut", payload, NO_CONTEXT)
    assert event.type == "interaction.received"
    assert event.data.interaction == {"kind": "shortcut", "type": "shortcut", "name": "open_ticket"}


def test_slack_url_verification_is_not_an_event() -> None:
    payload = {"token": "t", "challenge": "c", "type": "url_verification"}
    assert NORMALISERS["slack"].normalise(None, payload, NO_CONTEXT).type == "webhook.received"


def test_slack_system_message_subtype_is_not_a_message() -> None:
    payload = {
        "type": "event_callback",
        "event": {"type": "message", "subtype": "channel_join", "user": "U1", "channel": "C1",
                  "text": "<@U1> has joined the channel", "ts": "1.2"},
    }  # fmt: skip
    assert NORMALISERS["slack"].normalise(None, payload, NO_CONTEXT).type == "webhook.received"


def test_lark_without_bot_identity_treats_any_app_sender_as_echo() -> None:
    payload = {
        "schema": "2.0",
        "header": {"event_type": "im.message.receive_v1"},
        "event": {
            "sender": {"sender_id": {"open_id": "ou_other_bot"}, "sender_type": "app"},
            "message": {"chat_id": "oc_1", "chat_type": "group", "message_type": "text",
                        "content": json.dumps({"text": "hi"})},
        },
    }  # fmt: skip
    lark = NORMALISERS["lark"]
    assert lark.normalise(None, payload, NO_CONTEXT).data.is_bot_echo
    configured = NormaliseContext(bot_user_id="ou_our_bot")
    other_bot = lark.normalise(None, payload, configured).data
    assert other_bot.sender is not None
    assert other_bot.sender.is_bot
    assert not other_bot.is_bot_echo


def test_lark_locale_wrapped_post_and_undecodable_content() -> None:
    def message(message_type: str, content: str) -> dict[str, object]:
        return {
            "schema": "2.0",
            "header": {"event_type": "im.message.receive_v1"},
            "event": {"message": {"message_type": message_type, "content": content}},
        }

    post = json.dumps({"zh_cn": {"title": "", "content": [[{"tag": "text", "text": "你好"}]]}})
    lark = NORMALISERS["lark"]
    assert lark.normalise(None, message("post", post), NO_CONTEXT).data.text == "你好"
    broken = lark.normalise(None, message("text", "{not json"), NO_CONTEXT)
    assert broken.type == "message.received"
    assert broken.data.text is None


def test_telegram_reaction_with_custom_emoji() -> None:
    payload = {
        "message_reaction": {
            "chat": {"id": 1, "type": "private"},
            "message_id": 5,
            "date": 1700000000,
            "user": {"id": 1, "is_bot": False, "first_name": "A"},
            "old_reaction": [],
            "new_reaction": [{"type": "custom_emoji", "custom_emoji_id": "5368"}],
        }
    }
    event = NORMALISERS["telegram"].normalise("message_reaction", payload, NO_CONTEXT)
    assert (event.type, event.data.reaction) == ("reaction.added", "5368")


def test_telegram_bot_echo_uses_the_bot_user_id() -> None:
    payload = {
        "message": {"message_id": 1, "date": 1700000000, "text": "hi",
                    "chat": {"id": -1, "type": "group"},
                    "from": {"id": 7000000001, "is_bot": True, "first_name": "Gateway"}}
    }  # fmt: skip
    telegram = NORMALISERS["telegram"]
    own = NormaliseContext(bot_user_id="7000000001")
    assert telegram.normalise("message", payload, own).data.is_bot_echo
    assert not telegram.normalise("message", payload, NO_CONTEXT).data.is_bot_echo


def test_generic_type_path_is_what_makes_a_unified_type() -> None:
    payload = {"meta": {"event": "message.received"}, "data": {"text": "hi"}}
    generic = NORMALISERS["generic"]
    with_path = generic.normalise(None, payload, NormaliseContext(event_type_path="meta.event"))
    assert with_path.type == "message.received"
    assert generic.normalise(None, payload, NO_CONTEXT).type == "webhook.received"


def test_wecom_json_mode_integers() -> None:
    # JSON-mode callbacks carry numbers where XML mode has strings.
    payload = {
        "ToUserName": "wx5823bf96d3bd56c7",
        "FromUserName": "mycreate",
        "CreateTime": 1409659813,
        "MsgType": "text",
        "Content": "hello",
        "MsgId": 4561255354251345929,
        "AgentID": 218,
    }
    event = NORMALISERS["wecom"].normalise("text", payload, NO_CONTEXT)
    assert event.type == "message.received"
    assert event.data.message_id == "4561255354251345929"
    assert event.occurred_at == datetime(2014, 9, 2, 12, 10, 13, tzinfo=UTC)
