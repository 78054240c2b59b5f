"""What ``POST /v1/connections`` accepts per provider: the credential fields, secrets as SecretStr.

Declarations only (shown in the catalogue as JSON Schema, secrets ``writeOnly``); the platform
checks that validate them live in ``gateway.connections.validators``. Any provider also accepts a
generic ``{"api_key": …}``, stored as given (nothing to validate it against).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr

# Validation errors never echo input: a rejected secret must not come back in the 422 body.
CREDENTIALS_CONFIG = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


def _int_to_str(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=2000)]


class TelegramBotCredentials(BaseModel):
    """A bot token from @BotFather, validated with ``getMe``."""

    model_config = CREDENTIALS_CONFIG
    bot_token: Secret


class DiscordBotCredentials(BaseModel):
    """A bot token (Developer Portal → Bot), validated with ``GET /users/@me``."""

    model_config = CREDENTIALS_CONFIG
    bot_token: Secret


class DingTalkAppCredentials(BaseModel):
    """An internal app's AppKey/AppSecret, exchanged for an app access token (cached, renewed)."""

    model_config = CREDENTIALS_CONFIG
    app_key: Identifier
    app_secret: Secret
    robot_code: Identifier | None = None


class WeComAppCredentials(BaseModel):
    """Corp id, the app's Secret and AgentId, exchanged for a corp access token."""

    model_config = CREDENTIALS_CONFIG
    corp_id: Identifier
    corp_secret: Secret
    agent_id: Annotated[Identifier, BeforeValidator(_int_to_str)]


class LarkAppCredentials(BaseModel):
    """A self-built app's App ID/App Secret, exchanged for a ``tenant_access_token``."""

    model_config = CREDENTIALS_CONFIG
    app_id: Identifier
    app_secret: Secret


class ApiKeyCredentials(BaseModel):
    """Any provider: a key or token stored encrypted as given (not validated)."""

    model_config = CREDENTIALS_CONFIG
    api_key: Secret


CREDENTIAL_KINDS: Final[Mapping[str, type[BaseModel]]] = MappingProxyType(
    {
        "telegram": TelegramBotCredentials,
        "discord": DiscordBotCredentials,
        "dingtalk": DingTalkAppCredentials,
        "wecom": WeComAppCredentials,
        "lark": LarkAppCredentials,
    }
)

#: Providers whose credential connection holds an app token that expires and is re-fetched.
APP_TOKEN_PROVIDERS: Final = frozenset({"dingtalk", "wecom", "lark"})


def credential_model(provider_id: str, fields: Mapping[str, Any]) -> type[BaseModel]:
    """The model to validate ``fields`` with: the generic API key when that is what was sent."""
    if set(fields) == {"api_key"} or provider_id not in CREDENTIAL_KINDS:
        return ApiKeyCredentials
    return CREDENTIAL_KINDS[provider_id]


def write_only_schema(
    model: type[BaseModel], secret_fields: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The model's JSON Schema with every secret property marked ``writeOnly``."""
    schema = model.model_json_schema()
    properties: dict[str, Any] = schema.get("properties", {})
    for name, prop in properties.items():
        annotation = model.model_fields[name].annotation
        is_secret = name in secret_fields or "SecretStr" in repr(annotation)
        if is_secret:
            prop["writeOnly"] = True
    return schema
