"""What a platform provider declares: one object per platform, built from its capability modules.

Adding a platform = adding one package with these modules and listing it in ``registry.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.providers.events import Normaliser
from gateway.providers.oauth_spec import OAuthSpec
from gateway.providers.tools import BuiltinTool
from gateway.providers.webhooks import WebhookVerifier

AuthKind = Literal["oauth2", "credentials", "api_key", "wecom_web_auth", "none"]


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    normaliser: Normaliser
    verifier: WebhookVerifier[Any] | None = None
    oauth: OAuthSpec | None = None
    tools: tuple[BuiltinTool, ...] = ()
    auth_kinds: tuple[AuthKind, ...] = ()
    aliases: tuple[str, ...] = ()
    docs_url: str | None = None
    credential_fields: tuple[str, ...] = field(default_factory=tuple)
