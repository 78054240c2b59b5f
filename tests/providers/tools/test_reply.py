from datetime import UTC, datetime

import pytest

from gateway.providers.dingtalk.tools import TOOLS as DINGTALK
from gateway.providers.discord.tools import TOOLS as DISCORD
from gateway.providers.lark.tools import TOOLS as LARK
from gateway.providers.reply import EventNotReplyable, reply_target
from gateway.providers.slack.tools import TOOLS as SLACK
from gateway.providers.telegram.tools import TOOLS as TELEGRAM
from gateway.providers.tools import validate_parameters
from gateway.providers.wecom.tools import TOOLS as WECOM

SPECS = {tool.spec.name: tool.spec for tool in SLACK + DISCORD + TELEGRAM + LARK + DINGTALK + WECOM}
NOW = datetime(2025, 1, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def target(provider, data, raw=None):
    name, params = reply_target(provider, data, raw or {}, now=NOW)
    # What message.reply will send must pass the tool's own schema.
    validate_parameters(SPECS[name], {**params, "text": "reply"})
    return name, params


def test_slack_top_level_message_starts_a_thread_under_it():
    data = {"conversation": {"id": "C1", "type": "channel"}, "message_id": "1700000000.000100"}
    assert target("slack", data) == (
        "slack.send_message",
        {"channel": "C1", "thread_ts": "1700000000.000100"},
    )


def test_slack_threaded_message_replies_in_the_same_thread():
    data = {
        "conversation": {"id": "C1"},
        "message_id": "1700000000.000200",
        "thread_id": "1700000000.000100",
    }
    assert target("slack", data)[1]["thread_ts"] == "1700000000.000100"


def test_slack_falls_back_to_the_raw_event():
    raw = {"event": {"type": "app_mention", "channel": "C9", "ts": "1.2", "thread_ts": "1.1"}}
    assert target("slack", {}, raw)[1] == {"channel": "C9", "thread_ts": "1.1"}


def test_telegram_replies_to_the_message_in_its_chat():
    data = {"conversation": {"id": "-1001234567890", "type": "group"}, "message_id": "42"}
    raw = {"update_id": 1, "message": {"message_id": 42, "chat": {"id": -1001234567890}}}
    assert target("telegram", data, raw) == (
        "telegram.send_message",
        {"chat_id": -1001234567890, "reply_to_message_id": 42},
    )


def test_telegram_forum_topic_keeps_the_topic():
    raw = {
        "message": {
            "message_id": 42,
            "message_thread_id": 7,
            "is_topic_message": True,
            "chat": {"id": -100},
        }
    }
    assert target("telegram", {}, raw)[1] == {
        "chat_id": -100,
        "reply_to_message_id": 42,
        "message_thread_id": 7,
    }


def test_telegram_reply_thread_outside_a_forum_is_not_a_topic():
    # Telegram sets message_thread_id on plain replies too; sending it outside forums fails.
    raw = {"message": {"message_id": 42, "message_thread_id": 40, "chat": {"id": -100}}}
    assert "message_thread_id" not in target("telegram", {}, raw)[1]


def test_discord_replies_with_a_message_reference():
    data = {"conversation": {"id": "111"}, "message_id": "222"}
    assert target("discord", data) == (
        "discord.send_message",
        {"channel_id": "111", "reply_to_message_id": "222"},
    )


def test_discord_interaction_without_message_posts_in_channel():
    raw = {"type": 2, "id": "999", "channel_id": "111"}
    assert target("discord", {}, raw)[1] == {"channel_id": "111"}


@pytest.mark.parametrize("provider", ["lark", "feishu"])
def test_lark_replies_to_the_message(provider):
    data = {"conversation": {"id": "oc_1"}, "message_id": "om_1"}
    assert target(provider, data) == ("lark.send_message", {"reply_to_message_id": "om_1"})


def test_lark_threaded_message_replies_in_thread():
    raw = {"event": {"message": {"message_id": "om_1", "thread_id": "omt_1", "chat_id": "oc_1"}}}
    assert target("lark", {}, raw)[1] == {"reply_to_message_id": "om_1", "reply_in_thread": True}


def test_lark_without_message_sends_to_the_chat():
    data = {"conversation": {"id": "oc_1", "type": "group"}}
    assert target("lark", data)[1] == {"receive_id": "oc_1", "receive_id_type": "chat_id"}


DINGTALK_GROUP = {
    "conversationId": "cidAbC==",
    "conversationType": "2",
    "senderStaffId": "manager1",
    "robotCode": "dingrobot",
    "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=s1",
}


def test_dingtalk_live_session_webhook_is_preferred():
    raw = {**DINGTALK_GROUP, "sessionWebhookExpiredTime": NOW_MS + 3_600_000}
    assert target("dingtalk", {}, raw) == (
        "dingtalk.send_message",
        {"session_webhook": DINGTALK_GROUP["sessionWebhook"]},
    )


@pytest.mark.parametrize("expires", [NOW_MS - 1, NOW_MS + 30_000, None])
def test_dingtalk_expired_or_unknown_session_falls_back_to_group(expires):
    raw = {**DINGTALK_GROUP, "sessionWebhookExpiredTime": expires}
    assert target("dingtalk", {"conversation": {"id": "cidAbC=="}}, raw)[1] == {
        "robot_code": "dingrobot",
        "open_conversation_id": "cidAbC==",
    }


def test_dingtalk_one_to_one_falls_back_to_the_sender():
    raw = {**DINGTALK_GROUP, "conversationType": "1", "sessionWebhookExpiredTime": NOW_MS}
    assert target("dingtalk", {}, raw)[1] == {"robot_code": "dingrobot", "user_ids": ["manager1"]}


def test_wecom_replies_to_the_sender():
    data = {
        "conversation": {"id": "ChenJiaShun", "type": "direct"},
        "sender": {"id": "ChenJiaShun"},
    }
    assert target("wecom", data) == ("wecom.send_message", {"touser": ["ChenJiaShun"]})


@pytest.mark.parametrize(
    ("provider", "data"),
    [("github", {"conversation": {"id": "x"}}), ("slack", {}), ("wecom", {}), ("discord", {})],
)
def test_not_replyable(provider, data):
    with pytest.raises(EventNotReplyable) as caught:
        reply_target(provider, data, {}, now=NOW)
    assert caught.value.status_code == 422
