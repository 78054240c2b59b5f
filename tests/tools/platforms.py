"""Per-platform wire shapes for the built-in send tools (mocked with respx).

Each case names the send endpoint, valid parameters, and the platform's own answers for:
success, rate limited (with its wait signal), expired token, and a permanent refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass(frozen=True)
class Platform:
    provider: str
    url: str  # regex, matched against the full URL
    params: dict[str, Any]
    success: httpx.Response
    rate_limited: httpx.Response
    retry_after: float  # what the rate-limited answer asks for
    expired: httpx.Response | None  # None: the platform has no refreshable token
    permanent: httpx.Response
    platform_code: str
    account: dict[str, str] = field(default_factory=dict)
    token_prefix: str = ""

    def token(self, name: str) -> str:
        return f"{self.token_prefix}{name}-0123456789abcdef"


def _json(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


PLATFORMS: tuple[Platform, ...] = (
    Platform(
        provider="slack",
        url=r"https://slack\.com/api/chat\.postMessage",
        params={"channel": "C123", "text": "hello", "thread_ts": "1700000000.000100"},
        success=_json(200, {"ok": True, "channel": "C123", "ts": "1700000001.000200"}),
        rate_limited=_json(429, {"ok": False, "error": "ratelimited"}, **{"Retry-After": "3"}),
        retry_after=3,
        expired=_json(200, {"ok": False, "error": "token_expired"}),
        permanent=_json(200, {"ok": False, "error": "channel_not_found"}),
        platform_code="channel_not_found",
        token_prefix="xoxb-",
    ),
    Platform(
        provider="discord",
        url=r"https://discord\.com/api/v10/channels/111/messages",
        params={"channel_id": "111", "text": "hello", "reply_to_message_id": "222"},
        success=_json(200, {"id": "333", "channel_id": "111"}),
        rate_limited=_json(
            429,
            {"message": "You are being rate limited.", "retry_after": 1.5, "global": False},
            **{"X-RateLimit-Scope": "user"},
        ),
        retry_after=1.5,
        expired=_json(401, {"message": "401: Unauthorized", "code": 0}),
        permanent=_json(403, {"message": "Missing Access", "code": 50001}),
        platform_code="50001",
    ),
    Platform(
        provider="telegram",
        url=r"https://api\.telegram\.org/bot[^/]+/sendMessage",
        params={"chat_id": -1001234567890, "text": "hello", "reply_to_message_id": 42},
        success=_json(200, {"ok": True, "result": {"message_id": 43}}),
        rate_limited=_json(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 2",
                "parameters": {"retry_after": 2},
            },
        ),
        retry_after=2,
        expired=None,  # bot tokens do not expire; a 401 means revoked (see the test)
        permanent=_json(
            400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        ),
        platform_code="400",
        token_prefix="123456:",
    ),
    Platform(
        provider="lark",
        url=r"https://open\.feishu\.cn/open-apis/im/v1/messages\?receive_id_type=chat_id",
        params={"receive_id": "oc_abc", "text": "hello"},
        success=_json(200, {"code": 0, "msg": "success", "data": {"message_id": "om_1"}}),
        rate_limited=_json(
            429,
            {"code": 99991400, "msg": "request trigger frequency limit"},
            **{"x-ogw-ratelimit-reset": "4"},
        ),
        retry_after=4,
        expired=_json(400, {"code": 99991663, "msg": "Invalid access token for authorization."}),
        permanent=_json(
            400, {"code": 230001, "msg": "Your request contains an invalid request parameter."}
        ),
        platform_code="230001",
        token_prefix="t-",
    ),
    Platform(
        provider="dingtalk",
        url=r"https://api\.dingtalk\.com/v1\.0/robot/groupMessages/send",
        params={"open_conversation_id": "cid9==", "text": "hello"},
        success=_json(200, {"processQueryKey": "q-1"}),
        rate_limited=_json(
            429, {"code": "Throttling", "message": "flow control"}, **{"Retry-After": "2"}
        ),
        retry_after=2,
        expired=_json(401, {"code": "InvalidAuthentication", "message": "invalid token"}),
        permanent=_json(
            400, {"code": "invalidParameter.robotCode", "message": "robot does not exist"}
        ),
        platform_code="invalidParameter.robotCode",
        account={"robot_code": "dingrobot"},
    ),
    Platform(
        provider="wecom",
        url=r"https://qyapi\.weixin\.qq\.com/cgi-bin/message/send\?access_token=.+",
        params={"touser": ["zhangsan"], "text": "hello"},
        success=_json(200, {"errcode": 0, "errmsg": "ok", "msgid": "m-1"}),
        rate_limited=_json(200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        retry_after=5,  # WeCom gives no wait: the provider module's default
        expired=_json(200, {"errcode": 42001, "errmsg": "access_token expired"}),
        permanent=_json(200, {"errcode": 81013, "errmsg": "user & party & tag all invalid"}),
        platform_code="81013",
        account={"agent_id": "1000002"},
    ),
)

BY_PROVIDER = {p.provider: p for p in PLATFORMS}


def carries(request: httpx.Request, token: str) -> bool:
    """Whether ``request`` authenticates with ``token`` (header, query or Telegram path)."""
    return token in str(request.url) or any(token in v for v in request.headers.values())
