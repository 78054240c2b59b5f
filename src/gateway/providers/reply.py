"""Where to answer a stored event: the built-in tool and parameters that reply in place.

Used by the ``message.reply`` tool: ``name, params = reply_target(provider, event.data, event.raw)``
then invoke ``name`` with ``{**params, "text": text}`` (every ``<p>.send_message`` takes its body
in ``text``) and the event's connection credentials.

The unified fields (``conversation.id``, ``message_id``, ``thread_id``, ``sender.id``) are
preferred; the raw platform payload fills gaps and carries what the unified model does not
(DingTalk's session webhook, Telegram's topic flag, Lark's thread).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from gateway.kit.errors import ValidationFailed
from gateway.providers.dingtalk.tools import SendMessage as DingTalkSend
from gateway.providers.discord.tools import SendMessage as DiscordSend
from gateway.providers.lark.tools import SendMessage as LarkSend
from gateway.providers.sandbox.tools import SendMessage as SandboxSend
from gateway.providers.slack.tools import SendMessage as SlackSend
from gateway.providers.telegram.tools import SendMessage as TelegramSend
from gateway.providers.wecom.tools import SendMessage as WeComSend

#: A session webhook this close to expiry is not used: the call may be queued or retried.
SESSION_WEBHOOK_MARGIN_SECONDS: Final = 60


class EventNotReplyable(ValidationFailed):
    code = "event_not_replyable"
    title = "The event has no conversation the gateway can reply to"


def reply_target(
    provider: str,
    unified_event_data: Mapping[str, Any],
    raw_payload: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """``(tool name, parameters without text)`` answering in the event's conversation/thread.

    Raises ``EventNotReplyable`` for providers without a send tool or events without a
    conversation (e.g. a reaction whose channel is unknown).
    """
    target = _TARGETS.get("lark" if provider == "feishu" else provider)
    if target is None:
        raise EventNotReplyable(f"{provider} events cannot be replied to")
    event = _Event(unified_event_data, raw_payload, now or datetime.now(UTC))
    return target(event)


class _Event:
    def __init__(self, data: Mapping[str, Any], raw: Mapping[str, Any], now: datetime) -> None:
        self.data, self.raw, self.now = data, raw, now
        self.conversation_id = _text(_dig(data, "conversation", "id"))
        self.conversation_type = _text(_dig(data, "conversation", "type"))
        self.sender_id = _text(_dig(data, "sender", "id"))
        self.message_id = _text(data.get("message_id"))
        self.thread_id = _text(data.get("thread_id"))

    def require(self, value: str | None, what: str) -> str:
        if value is None:
            raise EventNotReplyable(f"the event has no {what} to reply to")
        return value


def _slack(event: _Event) -> tuple[str, dict[str, Any]]:
    inner = _dig(event.raw, "event") or {}
    channel = event.require(event.conversation_id or _text(_dig(inner, "channel")), "channel")
    params: dict[str, Any] = {"channel": channel}
    # Replying to a threaded message stays in its thread; to a top-level one, starts a thread.
    thread_ts = (
        event.thread_id
        or _text(_dig(inner, "thread_ts"))
        or event.message_id
        or _text(_dig(inner, "ts"))
    )
    if thread_ts:
        params["thread_ts"] = thread_ts
    return SlackSend.spec.name, params


def _telegram(event: _Event) -> tuple[str, dict[str, Any]]:
    raw = event.raw
    message = next(
        (
            raw[k]
            for k in ("message", "edited_message", "channel_post")
            if isinstance(raw.get(k), dict)
        ),
        _dig(raw, "callback_query", "message") or {},
    )
    chat = event.require(event.conversation_id or _text(_dig(message, "chat", "id")), "chat")
    params: dict[str, Any] = {"chat_id": int(chat) if _is_int(chat) else chat}
    message_id = event.message_id if _is_int(event.message_id) else _text(message.get("message_id"))
    if _is_int(message_id):
        params["reply_to_message_id"] = int(str(message_id))
    # message_thread_id is only valid in forum topics; elsewhere Telegram rejects it.
    thread = _text(message.get("message_thread_id")) if message.get("is_topic_message") else None
    if thread is None and not message:
        thread = event.thread_id
    if _is_int(thread):
        params["message_thread_id"] = int(str(thread))
    return TelegramSend.spec.name, params


def _discord(event: _Event) -> tuple[str, dict[str, Any]]:
    raw = event.raw
    channel = event.conversation_id or _text(
        raw.get("channel_id") or _dig(raw, "channel", "id") or _dig(raw, "d", "channel_id")
    )
    params: dict[str, Any] = {"channel_id": event.require(channel, "channel")}
    if event.message_id:
        params["reply_to_message_id"] = event.message_id
    return DiscordSend.spec.name, params


def _lark(event: _Event) -> tuple[str, dict[str, Any]]:
    message = _dig(event.raw, "event", "message") or {}
    message_id = event.message_id or _text(message.get("message_id"))
    if message_id:
        params: dict[str, Any] = {"reply_to_message_id": message_id}
        if event.thread_id or message.get("thread_id"):
            params["reply_in_thread"] = True
        return LarkSend.spec.name, params
    chat = event.require(event.conversation_id or _text(message.get("chat_id")), "chat")
    return LarkSend.spec.name, {"receive_id": chat, "receive_id_type": "chat_id"}


def _dingtalk(event: _Event) -> tuple[str, dict[str, Any]]:
    raw = event.raw
    webhook = _text(raw.get("sessionWebhook"))
    expires_ms = raw.get("sessionWebhookExpiredTime")
    if webhook and isinstance(expires_ms, int | float) and not isinstance(expires_ms, bool):
        margin_ms = SESSION_WEBHOOK_MARGIN_SECONDS * 1000
        if expires_ms - margin_ms > event.now.timestamp() * 1000:
            return DingTalkSend.spec.name, {"session_webhook": webhook}
    params: dict[str, Any] = {}
    robot_code = _text(raw.get("robotCode"))
    if robot_code:
        params["robot_code"] = robot_code
    kind = _text(raw.get("conversationType"))
    if kind == "2" or (kind is None and event.conversation_type in {"group", "channel"}):
        conversation = event.conversation_id or _text(raw.get("conversationId"))
        params["open_conversation_id"] = event.require(conversation, "group conversation")
    else:
        user = _text(raw.get("senderStaffId")) or event.sender_id
        params["user_ids"] = [event.require(user, "sender")]
    return DingTalkSend.spec.name, params


def _sandbox(event: _Event) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"conversation": event.require(event.conversation_id, "conversation")}
    if thread := event.thread_id or event.message_id:  # a top-level message starts a thread
        params["thread_id"] = thread
    return SandboxSend.spec.name, params


def _wecom(event: _Event) -> tuple[str, dict[str, Any]]:
    user = event.require(event.sender_id or _text(event.raw.get("FromUserName")), "sender")
    return WeComSend.spec.name, {"touser": [user]}


_TARGETS: Final[Mapping[str, Callable[[_Event], tuple[str, dict[str, Any]]]]] = {
    "slack": _slack,
    "telegram": _telegram,
    "discord": _discord,
    "lark": _lark,
    "dingtalk": _dingtalk,
    "wecom": _wecom,
    "sandbox": _sandbox,
}


def _dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str | None:
    """A non-empty identifier as a string (platforms mix ints and strings for ids)."""
    if isinstance(value, bool) or value is None:
        return None
    text = str(value).strip()
    return text or None


def _is_int(value: Any) -> bool:
    return value is not None and str(value).lstrip("-").isdigit()
