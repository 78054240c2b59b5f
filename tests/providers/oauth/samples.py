"""Provider response samples, copied from providers.md (which cites the official sources).

Where providers.md gives only the field list (Lark, DingTalk), the sample is built from exactly
those documented field names; those values are ours.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)

# providers.md §1.3, slackapi/slack-api-specs web-api/slack_web_openapi_v2.json [V]
SLACK_SUCCESS: dict[str, Any] = {
    "ok": True,
    "access_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "token_type": "bot",
    "scope": "commands,incoming-webhook",
    "bot_user_id": "U0KRQLJ9H",
    "app_id": "A0KRD7HC3",
    "team": {"id": "T9TK3CUKW", "name": "Slack Softball Team"},
    "enterprise": {"id": "E12345678", "name": "slack-sports"},
    "authed_user": {
        "id": "U1234",
        "scope": "chat:write",
        "access_token": "xoxp-1234",
        "token_type": "user",
    },
}
SLACK_ERROR: dict[str, Any] = {"ok": False, "error": "invalid_client_id"}  # spec example [V]

# providers.md §2.3, discord-api-docs developers/topics/oauth2.mdx [V]
DISCORD_SUCCESS: dict[str, Any] = {
    "access_token": "6qrZcUqja7812RVdnEKjpzOL4CvHBFG",
    "token_type": "Bearer",
    "expires_in": 604800,
    "refresh_token": "D43f5y0ahjqew82jZ4NViEr2YafMKhue",
    "scope": "identify",
}

# providers.md §4.3 field list for /authen/v2/oauth/token [D]
LARK_SUCCESS: dict[str, Any] = {
    "code": 0,
    "access_token": "eyJhbGciOiJFUzI1NiIs.lark-user-access-token",
    "expires_in": 7200,
    "refresh_token": "eyJhbGciOiJFUzI1NiIs.lark-refresh-token",
    "refresh_token_expires_in": 604800,
    "token_type": "Bearer",
    "scope": "auth:user.id:read offline_access",
}
# providers.md §4.3 tenant_access_token example [D]
LARK_TENANT_SUCCESS: dict[str, Any] = {
    "code": 0,
    "msg": "ok",
    "tenant_access_token": "t-caecc734c2e3328a62489fe0648c4b98779515d3",
    "expire": 7200,
}

# providers.md §5.3 / §5.4 field names (alibabacloud-dingtalk models) [D/V]
DINGTALK_SUCCESS: dict[str, Any] = {
    "accessToken": "dt-user-access-token-abc",
    "refreshToken": "dt-user-refresh-token-def",
    "expireIn": 7200,
    "corpId": "ding6ccabc44d2c8d38b",
}
DINGTALK_APP_SUCCESS: dict[str, Any] = {"accessToken": "dt-app-access-token", "expireIn": 7200}

# providers.md §6.3 [D]
WECOM_GETTOKEN_SUCCESS: dict[str, Any] = {
    "errcode": 0,
    "errmsg": "ok",
    "access_token": "wecom-corp-access-token-xyz",
    "expires_in": 7200,
}
WECOM_USERINFO_MEMBER: dict[str, Any] = {
    "errcode": 0,
    "errmsg": "ok",
    "userid": "USERID",
    "user_ticket": "USER_TICKET",
}
