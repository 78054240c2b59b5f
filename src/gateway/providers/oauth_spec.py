"""OAuthSpec and the pure request builders (re-exported by ``gateway.providers.oauth``)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal
from urllib.parse import quote, quote_plus, urlencode, urlsplit

import httpx
from pydantic import SecretStr

from gateway.kit.errors import ValidationFailed
from gateway.providers.oauth_tokens import TokenParser, TokenSet, parse_rfc6749_token_response

TokenAuthMethod = Literal["client_secret_basic", "client_secret_post"]
TokenBodyFormat = Literal["form", "json", "json_camel"]
RevocationStyle = Literal["rfc7009", "slack", "none"]
OAuthFlow = Literal["oauth2", "wecom_web_auth"]
GrantType = Literal["authorization_code", "refresh_token"]

_RESERVED_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
)
# DingTalk's user-token endpoint takes camelCase JSON (alibabacloud-dingtalk GetUserTokenRequest).
_CAMEL = {
    "client_id": "clientId",
    "client_secret": "clientSecret",
    "code": "code",
    "refresh_token": "refreshToken",
    "grant_type": "grantType",
}


def utc_now() -> datetime:
    """The current time as an aware UTC datetime (the default ``now`` of the wrappers)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class OAuthSpec:
    """Everything the gateway needs to run one provider's authorization-code flow.

    ``flow="wecom_web_auth"`` marks WeCom's non-OAuth web auth: only the authorize URL is built
    here, the code exchange lives in ``providers.wecom.oauth``. ``token_parser`` None means plain
    RFC 6749 parsing with ``scope_separator``.
    """

    authorization_url: str
    token_url: str
    revocation_url: str | None = None
    default_scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    scope_param: str = "scope"
    pkce: bool = True
    token_auth_method: TokenAuthMethod = "client_secret_basic"
    token_body_format: TokenBodyFormat = "form"
    code_param: str = "code"
    client_id_param: str = "client_id"
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict, hash=False)
    refresh_supported: bool = True
    revocation_style: RevocationStyle = "none"
    flow: OAuthFlow = "oauth2"
    url_fragment: str | None = None
    token_parser: TokenParser | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        extras = MappingProxyType(dict(self.extra_authorize_params))
        object.__setattr__(self, "extra_authorize_params", extras)
        if clash := _reserved_keys(self, extras):
            raise ValueError(f"extra_authorize_params may not set {sorted(clash)}")
        if (
            self.token_body_format == "json_camel"
            and self.token_auth_method != "client_secret_post"
        ):
            raise ValueError("json_camel bodies carry the client credentials in the body")
        if (self.revocation_style == "none") != (self.revocation_url is None):
            raise ValueError("revocation_url and revocation_style must agree")
        if not self.scope_separator:
            raise ValueError("scope_separator must not be empty")

    def rebased(self, base_url: str) -> OAuthSpec:
        """The same spec with every endpoint's scheme+host replaced (mock servers, sandboxes)."""
        revocation = self.revocation_url and rebase_url(self.revocation_url, base_url)
        return replace(
            self,
            authorization_url=rebase_url(self.authorization_url, base_url),
            token_url=rebase_url(self.token_url, base_url),
            revocation_url=revocation,
        )


def _reserved_keys(spec: OAuthSpec, params: Mapping[str, str]) -> set[str]:
    return set((_RESERVED_PARAMS | {spec.client_id_param, spec.scope_param}) & params.keys())


def rebase_url(url: str, base_url: str | None) -> str:
    """``url`` with scheme+host (and any base path prefix) taken from ``base_url``."""
    if base_url is None:
        return url
    parts = urlsplit(url)
    return base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


# --------------------------------------------------------------------------- pure builders


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(ascii(verifier))) without padding."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)``: 32 CSPRNG bytes → 43-char verifier, S256."""
    verifier = _b64url(secrets.token_bytes(32))
    return verifier, pkce_challenge(verifier)


def build_authorization_url(
    spec: OAuthSpec,
    *,
    client_id: str,
    redirect_uri: str,
    state: str,
    code_challenge: str | None = None,
    scopes: Sequence[str] | None = None,
    extra_params: Mapping[str, str] | None = None,
) -> str:
    """The provider consent URL. ``scopes`` None → ``spec.default_scopes``.

    A PKCE spec requires ``code_challenge`` (O2); a non-PKCE spec ignores it. ``extra_params``
    are per-connection extras (Slack ``user_scope``, WeCom ``agentid``) and cannot override the
    protocol parameters.
    """
    if not state:
        raise ValueError("state is required")
    if spec.pkce and not code_challenge:
        raise ValueError("this provider uses PKCE: pass the challenge from pkce_pair()")
    chosen = tuple(spec.default_scopes if scopes is None else scopes)
    params = {
        spec.client_id_param: client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
    }
    if chosen:
        params[spec.scope_param] = spec.scope_separator.join(chosen)
    params["state"] = state
    if spec.pkce and code_challenge:
        params |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
    extras = dict(extra_params or {})
    if clash := _reserved_keys(spec, extras):
        raise ValueError(f"extra_params may not set {sorted(clash)}")
    params |= {**spec.extra_authorize_params, **extras}
    joiner = "&" if "?" in spec.authorization_url else "?"
    url = f"{spec.authorization_url}{joiner}{urlencode(params, quote_via=quote)}"
    return f"{url}#{spec.url_fragment}" if spec.url_fragment else url


def reveal(secret: SecretStr | str) -> str:
    """The plain value of a secret given either as ``SecretStr`` or ``str``."""
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def basic_auth_header(client_id: str, client_secret: str) -> str:
    """RFC 6749 §2.3.1 Basic credentials: both parts form-urlencoded before base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def build_token_request(
    spec: OAuthSpec,
    *,
    client_id: str,
    client_secret: SecretStr | str,
    grant: GrantType,
    code: str | None = None,
    refresh_token: SecretStr | str | None = None,
    redirect_uri: str | None = None,
    code_verifier: str | None = None,
    base_url: str | None = None,
) -> httpx.Request:
    """The token-endpoint request for ``grant`` in the provider's body format and client auth."""
    if spec.flow != "oauth2":
        raise ValueError(f"{spec.flow} has no OAuth token endpoint")
    fields: dict[str, str] = {"grant_type": grant}
    if grant == "authorization_code":
        if not code:
            raise ValueError("code is required")
        fields["code"] = code
        if redirect_uri is not None:
            fields["redirect_uri"] = redirect_uri
        if spec.pkce:
            if not code_verifier:
                raise ValueError("this provider uses PKCE: code_verifier is required")
            fields["code_verifier"] = code_verifier
    else:
        if not spec.refresh_supported:
            raise ValueError("this provider does not issue refresh tokens")
        if not refresh_token:
            raise ValueError("refresh_token is required")
        fields["refresh_token"] = reveal(refresh_token)
    headers = {"Accept": "application/json"}
    if spec.token_auth_method == "client_secret_basic":
        headers["Authorization"] = basic_auth_header(client_id, reveal(client_secret))
    else:
        fields |= {"client_id": client_id, "client_secret": reveal(client_secret)}
    url = rebase_url(spec.token_url, base_url)
    if spec.token_body_format == "form":
        return httpx.Request("POST", url, data=fields, headers=headers)
    if spec.token_body_format == "json_camel":
        fields = {_CAMEL[k]: v for k, v in fields.items() if k in _CAMEL}
    return httpx.Request("POST", url, json=fields, headers=headers)


# --------------------------------------------------------------------------- response parsing


def parse_token_response(
    spec_or_parser: OAuthSpec | TokenParser, response: httpx.Response, *, now: datetime
) -> TokenSet:
    """Parse with the spec's provider parser, or RFC 6749 with the spec's scope separator."""
    if not isinstance(spec_or_parser, OAuthSpec):
        return spec_or_parser(response, now=now)
    if spec_or_parser.token_parser is not None:
        return spec_or_parser.token_parser(response, now=now)
    sep = spec_or_parser.scope_separator
    return parse_rfc6749_token_response(response, now=now, scope_separator=sep)


# --------------------------------------------------------------------------- custom providers


def _check_endpoint(name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(f"{name} must be an absolute http(s) URL")
    if parts.username or parts.password or parts.fragment:
        raise ValidationFailed(f"{name} must not contain credentials or a fragment")


def custom_spec(
    *,
    authorization_url: str,
    token_url: str,
    revocation_url: str | None = None,
    scopes: Sequence[str] = (),
    scope_separator: str = " ",
    pkce: bool = True,
    token_auth_method: TokenAuthMethod = "client_secret_basic",
    extra_authorize_params: Mapping[str, str] | None = None,
) -> OAuthSpec:
    """An RFC 6749 spec from the ``POST /v1/providers`` body; bad input → ValidationFailed.

    Reachability of the URLs (SSRF guard, N1) is checked by the HTTP client layer, not here.
    """
    _check_endpoint("authorization_url", authorization_url)
    _check_endpoint("token_url", token_url)
    if revocation_url is not None:
        _check_endpoint("revocation_url", revocation_url)
    if len(scope_separator) != 1:
        raise ValidationFailed("scope_separator must be a single character")
    if any(not s or scope_separator in s or " " in s for s in scopes):
        raise ValidationFailed("scopes must be non-empty and must not contain the separator")
    try:
        return OAuthSpec(
            authorization_url=authorization_url,
            token_url=token_url,
            revocation_url=revocation_url,
            default_scopes=tuple(scopes),
            scope_separator=scope_separator,
            pkce=pkce,
            token_auth_method=token_auth_method,
            extra_authorize_params=dict(extra_authorize_params or {}),
            revocation_style="rfc7009" if revocation_url else "none",
        )
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
