"""Platform checks for credential connections (``POST /v1/connections``) and their renewal.

Each check asks the platform whether the credentials work and returns the token to use: the bot
token itself (Telegram, Discord: no expiry) or a freshly fetched app token (DingTalk, WeCom,
Lark: expires, re-fetched from the stored app secret by the refresh machinery). Refusals raise
``InvalidCredentials`` (422, the platform's reason); outages ``TokenEndpointUnavailable`` (503).
Hosts follow ``GATEWAY_PROVIDER_BASE_URLS`` (mocks, sandboxes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from gateway.catalogue.credential_kinds import (
    ApiKeyCredentials,
    DingTalkAppCredentials,
    DiscordBotCredentials,
    LarkAppCredentials,
    TelegramBotCredentials,
    WeComAppCredentials,
    credential_model,
)
from gateway.catalogue.service import provider_base_url
from gateway.kit.errors import DecryptionFailed
from gateway.kit.runtime import Runtime
from gateway.providers.dingtalk.credentials import fetch_dingtalk_app_token
from gateway.providers.lark.credentials import fetch_lark_tenant_token
from gateway.providers.oauth import (
    InvalidCredentials,
    TokenSet,
    fetch_credential_json,
    platform_reason,
    rebase_url,
)
from gateway.providers.telegram.credentials import fetch_telegram_bot_identity
from gateway.providers.wecom.credentials import fetch_wecom_corp_token

# Discord has no credentials module in ``providers/discord``; the check is small enough to live
# here (GET /users/@me answers 401 for a bad bot token).
DISCORD_ME_URL: Final = "https://discord.com/api/v10/users/@me"


@dataclass(frozen=True)
class CheckedCredentials:
    auth_kind: Literal["credentials", "api_key"]
    tokens: TokenSet
    stored: dict[str, SecretStr]  # kept encrypted in ``credentials_enc`` to renew the token


async def _discord_bot(http: httpx.AsyncClient, token: str, base: str | None) -> TokenSet:
    request = httpx.Request(
        "GET", rebase_url(DISCORD_ME_URL, base), headers={"Authorization": f"Bot {token}"}
    )
    response, body = await fetch_credential_json(http, request, mask=(token,))
    if not response.is_success or not isinstance(body.get("id"), str):
        reason = platform_reason(body.get("code", response.status_code), body.get("message"))
        raise InvalidCredentials(platform_reason(reason, mask=(token,)))
    account = {"bot_user_id": body["id"]}
    if isinstance(body.get("username"), str):
        account["username"] = body["username"]
    return TokenSet(access_token=SecretStr(token), token_type="bot", account=account)


async def _fetch(runtime: Runtime, provider_id: str, creds: BaseModel) -> TokenSet:
    http, base = runtime.http, provider_base_url(runtime.settings, provider_id)
    if isinstance(creds, TelegramBotCredentials):
        return await fetch_telegram_bot_identity(http, bot_token=creds.bot_token, base_url=base)
    if isinstance(creds, DiscordBotCredentials):
        return await _discord_bot(http, creds.bot_token.get_secret_value(), base)
    if isinstance(creds, DingTalkAppCredentials):
        tokens = await fetch_dingtalk_app_token(
            http, app_key=creds.app_key, app_secret=creds.app_secret, base_url=base
        )
        if creds.robot_code:
            tokens.account["robot_code"] = creds.robot_code
        return tokens
    if isinstance(creds, WeComAppCredentials):
        tokens = await fetch_wecom_corp_token(
            http, corp_id=creds.corp_id, corp_secret=creds.corp_secret, base_url=base
        )
        tokens.account["agent_id"] = creds.agent_id
        return tokens
    if isinstance(creds, LarkAppCredentials):
        return await fetch_lark_tenant_token(
            http, app_id=creds.app_id, app_secret=creds.app_secret, base_url=base
        )
    raise AssertionError(f"no check for {type(creds).__name__}")


async def check(runtime: Runtime, provider_id: str, creds: BaseModel) -> CheckedCredentials:
    """Validate parsed credentials against the platform (an API key is stored as given)."""
    if isinstance(creds, ApiKeyCredentials):
        tokens = TokenSet(access_token=creds.api_key, token_type="api_key")
        return CheckedCredentials("api_key", tokens, {})
    tokens = await _fetch(runtime, provider_id, creds)
    stored: dict[str, SecretStr] = {}
    if not isinstance(creds, TelegramBotCredentials | DiscordBotCredentials):
        for name, value in creds.model_dump().items():
            if value is not None:
                stored[name] = value if isinstance(value, SecretStr) else SecretStr(str(value))
    return CheckedCredentials("credentials", tokens, stored)


async def recheck(
    runtime: Runtime, provider_id: str, stored: Mapping[str, str], access_token: SecretStr | None
) -> TokenSet:
    """Renew a credential connection's token: re-fetch the app token from the stored app
    secret, or re-validate a bot token (which is its own credential)."""
    fields: dict[str, str] = dict(stored)
    if not fields and access_token is not None:
        fields = {"bot_token": access_token.get_secret_value()}
    model = credential_model(provider_id, fields)
    try:
        creds = model.model_validate(fields)
    except ValidationError:
        raise DecryptionFailed("stored credentials no longer match the provider's fields") from None
    return await _fetch(runtime, provider_id, creds)


__all__ = ["CheckedCredentials", "check", "recheck"]
