"""Custom (OpenAPI-imported) tools: the compiled definition, request building, classification.

A ``CustomToolDefinition`` is what the invoke path needs from the ``custom_tools`` and
``toolsets`` rows, compiled once (validator, reverse path bindings) and cached per process. It
holds the toolset's *ciphertext*, never a decrypted secret; ``auth_material`` opens it per call.

Responses are classified like a platform's, with generic HTTP semantics: 2xx → output; 429 →
rate limited (``Retry-After``); 5xx → unavailable (retried); 401 → expired token when the toolset
borrows an OAuth connection's bearer token (refresh, retry once), otherwise a permanent error;
anything else → a permanent error ``http_<status>`` with the body as the tool's output.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx

from gateway.kit.crypto import FieldContext, Keyring
from gateway.providers.tools import (
    ProviderPermanentError,
    ProviderTokenExpired,
    ToolCredentials,
    ToolOutput,
    error_for_status,
    redact_url,
)
from gateway.tools.validation import ParameterValidator

_TEMPLATE_VAR: Final = re.compile(r"\{([^{}/]+)\}")
_DELIMITERS: Final = {"spaceDelimited": " ", "pipeDelimited": "|"}


@dataclass(frozen=True)
class ToolsetAuth:
    """The toolset's auth binding. ``secret_enc`` is a keyring ciphertext bound to the toolset."""

    type: str  # none | api_key | basic | oauth_connection
    location: str | None = None  # api_key: header | query
    name: str | None = None  # api_key: header or query parameter name
    secret_enc: str | None = None
    connection_id: str | None = None

    def __repr__(self) -> str:
        return f"ToolsetAuth(type={self.type!r}, location={self.location!r}, name={self.name!r})"


@dataclass(frozen=True)
class CustomToolDefinition:
    tenant_id: str
    toolset_id: str
    toolset_version: int
    name: str
    description: str
    method: str
    path: str
    server_url: str
    parameters: dict[str, Any]
    bindings: dict[str, Any]
    authenticated: bool
    auth: ToolsetAuth
    validator: ParameterValidator = field(repr=False)
    #: path template variable → parameter property
    path_properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def uses_connection(self) -> bool:
        return self.authenticated and self.auth.type == "oauth_connection"


def compile_definition(
    *,
    tenant_id: str,
    toolset_id: str,
    toolset_version: int,
    name: str,
    description: str,
    method: str,
    path: str,
    server_url: str,
    parameters: dict[str, Any],
    bindings: dict[str, Any],
    authenticated: bool,
    auth: ToolsetAuth,
) -> CustomToolDefinition:
    return CustomToolDefinition(
        tenant_id=tenant_id,
        toolset_id=toolset_id,
        toolset_version=toolset_version,
        name=name,
        description=description,
        method=method,
        path=path,
        server_url=server_url.rstrip("/"),
        parameters=parameters,
        bindings=bindings,
        authenticated=authenticated,
        auth=auth,
        validator=ParameterValidator(parameters),
        path_properties={b["name"]: prop for prop, b in bindings.get("path", {}).items()},
    )


@dataclass(frozen=True)
class AuthMaterial:
    """Credentials to inject into one request, and the strings to scrub from what is logged."""

    headers: Mapping[str, str] = field(default_factory=dict)
    query: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"AuthMaterial(headers={list(self.headers)!r}, query=[...], secrets=***)"


NO_AUTH: Final = AuthMaterial()


def toolset_secret_context(toolset_id: str, tenant_id: str) -> FieldContext:
    return FieldContext("toolsets", "auth_secret_enc", toolset_id, tenant_id)


def auth_material(
    definition: CustomToolDefinition, keyring: Keyring, creds: ToolCredentials | None
) -> AuthMaterial:
    """Decrypt the toolset's secret (or take the connection's token) at the point of use."""
    auth = definition.auth
    if not definition.authenticated or auth.type == "none":
        return NO_AUTH
    if auth.type == "oauth_connection":
        if creds is None:
            return NO_AUTH
        token = creds.access_token.get_secret_value()
        return AuthMaterial(headers={"Authorization": f"Bearer {token}"}, secrets=(token,))
    if auth.secret_enc is None:
        return NO_AUTH
    secret = json.loads(
        keyring.decrypt(
            auth.secret_enc, toolset_secret_context(definition.toolset_id, definition.tenant_id)
        )
    )
    if auth.type == "basic":
        username, password = str(secret["username"]), str(secret["password"])
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        return AuthMaterial(headers={"Authorization": f"Basic {basic}"}, secrets=(password, basic))
    value = str(secret["value"])
    name = auth.name or "X-API-Key"
    if auth.location == "query":
        return AuthMaterial(query=((name, value),), secrets=(value,))
    return AuthMaterial(headers={name: value}, secrets=(value,))


@dataclass(frozen=True)
class BuiltRequest:
    request: httpx.Request
    #: The URL safe to log: ``redact_url`` without the API-key query parameter.
    log_target: str


def build_request(
    definition: CustomToolDefinition, params: Mapping[str, Any], auth: AuthMaterial
) -> BuiltRequest:
    """The HTTP request for already-validated ``params``."""
    bindings = definition.bindings

    def substitute(match: re.Match[str]) -> str:
        prop = definition.path_properties.get(match.group(1))
        if prop is None or prop not in params:
            return match.group(0)
        return quote(_simple(params[prop]), safe="")

    path = _TEMPLATE_VAR.sub(substitute, definition.path)
    query: list[tuple[str, str]] = []
    for prop, binding in bindings.get("query", {}).items():
        if prop in params:
            query.extend(_query_pairs(binding, params[prop]))
    headers: dict[str, str] = {}
    for prop, binding in bindings.get("header", {}).items():
        if prop in params:
            headers[binding["name"]] = _simple(params[prop])
    content: bytes | None = None
    body = bindings.get("body")
    if body is not None and body["property"] in params:
        value = params[body["property"]]
        if body["media_type"].split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            flat = value.items() if isinstance(value, Mapping) else ()
            content = urlencode([(str(k), _simple(v)) for k, v in flat]).encode()
        else:
            content = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        headers["Content-Type"] = body["media_type"]
    url = definition.server_url + path
    # Parsed once: the log target and the request share it (unless the key goes in the query).
    target = httpx.URL(url, params=query) if query else httpx.URL(url)
    log_target = redact_url(target)
    if auth.query:
        target = httpx.URL(url, params=[*query, *auth.query])
    headers.update(auth.headers)
    request = httpx.Request(definition.method, target, headers=headers, content=content)
    return BuiltRequest(request, log_target)


def classify_response(
    response: httpx.Response, body: bytes, output: Any, *, refreshable: bool, provider: str
) -> ToolOutput:
    """``ToolOutput`` for a 2xx, else raise the classified ``ProviderCallError``."""
    if response.is_success:
        return ToolOutput(response.status_code, output)
    error = error_for_status(response, provider=provider)
    if isinstance(error, ProviderTokenExpired) and not refreshable:
        error = ProviderPermanentError("http_401", response.reason_phrase, 401, provider=provider)
    assert error is not None
    raise error


def _simple(value: Any) -> str:
    """OpenAPI ``simple``/``form`` serialisation of one value (arrays comma-joined)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_simple(v) for v in value)
    if isinstance(value, Mapping):
        return ",".join(f"{k},{_simple(v)}" for k, v in value.items())
    return str(value)


def _query_pairs(binding: Mapping[str, Any], value: Any) -> list[tuple[str, str]]:
    name, style, explode = binding["name"], binding.get("style", "form"), binding.get("explode")
    if isinstance(value, list):
        if explode and style == "form":
            return [(name, _simple(v)) for v in value]
        return [(name, _DELIMITERS.get(style, ",").join(_simple(v) for v in value))]
    if isinstance(value, Mapping):
        if style == "deepObject":
            return [(f"{name}[{k}]", _simple(v)) for k, v in value.items()]
        if explode:
            return [(str(k), _simple(v)) for k, v in value.items()]
    return [(name, _simple(value))]
