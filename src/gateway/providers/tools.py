"""Built-in tools: the per-platform actions the gateway performs ("Act").

A built-in tool is two pure functions around one HTTP exchange, declared by its provider module
(``gateway/providers/<p>/tools.py`` exports ``TOOLS``)::

    validate_parameters(tool.spec, params)          # JSON Schema 2020-12, before anything else
    request  = tool.build_request(params, creds)    # no I/O
    response = await client.send(request)           # owned by the invoke service
    output   = tool.parse_response(response, body)  # ToolOutput, or a classified error below
    # transport failure: raise classify_transport_error(exc) from exc

The invoke service owns the client, timeouts, retries, credential refresh and the invocation log;
nothing here holds state. Transport errors and platform error bodies are mapped **once**, into:

    GatewayError (gateway.kit.errors)
    └── ProviderCallError (502)          not retryable; not the platform's verdict (bad config,
        │                                undecodable body, ...)
        ├── ProviderRateLimited (429)    retry after ``retry_after`` seconds
        ├── ProviderTokenExpired (502)   refresh the credential, then retry once
        ├── ProviderUnavailable (503)    transient: 5xx, connection errors (504: timeouts);
        │                                ``delivery_uncertain`` when the platform may have acted
        └── ProviderPermanentError (502) the platform refused (``platform_code``, ``_message``)
            └── ProviderAuthRevoked      the credential is dead for good: mark ``needs_reauth``

``status_code`` on these errors is the *gateway's* HTTP status (how the problem is rendered); the
platform's own HTTP status is ``upstream_status``. Messages never contain credentials: log
``redact_url(request.url)``, never the request itself (Telegram and WeCom put tokens in the URL).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, urlencode

import httpx
from jsonschema import Draft202012Validator
from pydantic import SecretStr

from gateway.kit.errors import GatewayError, ValidationFailed

#: Upper bound for any platform-supplied wait; a retry budget shorter than this fails fast.
MAX_RETRY_AFTER: Final = 3600.0
#: Wait used when a platform signals a rate limit without saying for how long.
DEFAULT_RETRY_AFTER: Final = 5.0

_SECRET_QUERY_PARAMS: Final = frozenset(
    {"access_token", "token", "session", "sign", "signature", "secret", "key", "client_secret"}
)
# Telegram: https://api.telegram.org/bot<id>:<secret>/<method> and /file/bot<token>/<path>.
_TELEGRAM_TOKEN_SEGMENT: Final = re.compile(r"/bot\d+(?::|%3A)[^/]*", re.IGNORECASE)


@dataclass(frozen=True)
class ToolSpec:
    """What a tool is, for the catalogue and for LLM function calling."""

    name: str  # "<provider>.<action>", e.g. "slack.send_message"
    provider: str
    description: str
    parameters: dict[str, Any]  # JSON Schema 2020-12, type object, additionalProperties false


@dataclass(frozen=True)
class ToolCredentials:
    """What a tool needs from the connection, decrypted at the point of use."""

    access_token: SecretStr
    #: Non-secret connection metadata (``agent_id``, ``robot_code``, ``bot_user_id``, ...).
    extra: Mapping[str, str] = field(default_factory=dict)
    #: Override of the platform API base (sandbox, local Bot API server, tests). Operator-set only:
    #: the token is sent there.
    base_url: str | None = None


@dataclass(frozen=True)
class ToolOutput:
    status_code: int  # the platform's HTTP status
    output: Any  # the platform's result object (JSON)


class BuiltinTool(Protocol):
    """One platform action. Implementations are stateless and do no I/O."""

    spec: ToolSpec

    def build_request(self, params: Mapping[str, Any], creds: ToolCredentials) -> httpx.Request:
        """The request for already-validated ``params``. May raise ``ValidationFailed`` for
        cross-field rules a schema cannot express, or ``ProviderCallError`` for bad credentials."""
        ...

    def parse_response(self, response: httpx.Response, body: bytes) -> ToolOutput:
        """The result of a 2xx call, or raise the classified ``ProviderCallError``."""
        ...


# --- errors -----------------------------------------------------------------------------------


class ProviderCallError(GatewayError):
    status_code = 502
    code = "provider_call_failed"
    title = "The call to the provider failed"

    def __init__(
        self,
        message: str | None = None,
        *,
        provider: str | None = None,
        upstream_status: int | None = None,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.provider = provider
        self.upstream_status = upstream_status
        details: dict[str, Any] = {"provider": provider, "upstream_status": upstream_status}
        super().__init__(
            message,
            code=code,
            status_code=status_code,
            extra={**details, **(extra or {})},
            headers=headers,
        )


class ProviderRateLimited(ProviderCallError):
    status_code = 429
    code = "provider_rate_limited"
    title = "The provider rate-limited the call"

    def __init__(
        self,
        retry_after: float,
        *,
        hinted: bool = True,
        provider: str | None = None,
        upstream_status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.retry_after = retry_after
        #: False when the platform gave no wait and ``DEFAULT_RETRY_AFTER`` was used.
        self.hinted = hinted
        super().__init__(
            f"{provider or 'provider'} rate-limited the call; retry after {retry_after:g}s",
            provider=provider,
            upstream_status=upstream_status,
            extra={"retry_after": retry_after, **(extra or {})},
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )


class ProviderTokenExpired(ProviderCallError):
    code = "provider_token_expired"
    title = "The provider rejected the access token as expired or invalid"


class ProviderUnavailable(ProviderCallError):
    status_code = 503
    code = "provider_unavailable"
    title = "The provider is unavailable; retry later"

    def __init__(
        self, message: str | None = None, *, delivery_uncertain: bool = True, **kw: Any
    ) -> None:
        #: The platform may have acted on the request (read timeout, 5xx after receipt): a retry
        #: of a non-idempotent call (sending a message) may duplicate it.
        self.delivery_uncertain = delivery_uncertain
        super().__init__(message, **kw)


class ProviderPermanentError(ProviderCallError):
    code = "provider_rejected"
    title = "The provider rejected the call"

    def __init__(
        self,
        platform_code: str,
        platform_message: str,
        upstream_status: int | None,
        *,
        provider: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.platform_code = platform_code
        self.platform_message = platform_message
        text = f"{provider or 'provider'} rejected the call: {platform_code}"
        super().__init__(
            f"{text}: {platform_message}" if platform_message else text,
            provider=provider,
            upstream_status=upstream_status,
            extra={"platform_code": platform_code, "platform_message": platform_message}
            | (extra or {}),
        )


class ProviderAuthRevoked(ProviderPermanentError):
    """The credential can never work again (revoked, uninstalled, bot token reset): re-authorize."""

    code = "provider_auth_revoked"
    title = "The provider credential was revoked; the connection needs re-authorization"


# --- classification helpers shared by every provider -------------------------------------------


def classify_transport_error(
    exc: httpx.HTTPError, *, provider: str | None = None
) -> ProviderCallError:
    """Map an httpx failure to the error tree. The message names the host, never the URL."""
    if isinstance(exc, httpx.HTTPStatusError):
        return error_for_status(exc.response, provider=provider) or ProviderCallError(
            f"unexpected HTTP {exc.response.status_code}", provider=provider
        )
    what = f"{type(exc).__name__} calling {_host_of(exc)}"
    if isinstance(exc, httpx.TimeoutException):
        sent = not isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout)
        return ProviderUnavailable(
            what,
            delivery_uncertain=sent,
            provider=provider,
            code="provider_timeout",
            status_code=504,
        )
    if isinstance(exc, httpx.ConnectError | httpx.ProxyError):
        return ProviderUnavailable(what, delivery_uncertain=False, provider=provider)
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        return ProviderUnavailable(what, delivery_uncertain=True, provider=provider)
    # UnsupportedProtocol, LocalProtocolError, DecodingError, TooManyRedirects: retrying the same
    # request cannot help.
    return ProviderCallError(what, provider=provider)


def error_for_status(response: httpx.Response, *, provider: str | None) -> ProviderCallError | None:
    """Generic meaning of an HTTP status, for bodies a provider module could not interpret.

    ``None`` for 2xx. Providers check their own body signals first.
    """
    status = response.status_code
    if response.is_success:
        return None
    if status == 429:
        return rate_limited(response, provider=provider)
    if status == 401:
        return ProviderTokenExpired(
            f"{provider or 'provider'} answered HTTP 401", provider=provider, upstream_status=401
        )
    if status >= 500:
        return ProviderUnavailable(
            f"{provider or 'provider'} answered HTTP {status}",
            provider=provider,
            upstream_status=status,
        )
    return ProviderPermanentError(
        f"http_{status}", response.reason_phrase, status, provider=provider
    )


def unexpected_body(response: httpx.Response, *, provider: str | None) -> ProviderCallError:
    """The status says nothing useful and the body is not the platform's JSON."""
    return error_for_status(response, provider=provider) or ProviderCallError(
        f"{provider or 'provider'} answered HTTP {response.status_code} with an unreadable body",
        provider=provider,
        upstream_status=response.status_code,
    )


def rate_limited(
    response: httpx.Response,
    *,
    provider: str | None,
    retry_after: float | None = None,
    header: str = "retry-after",
    extra: dict[str, Any] | None = None,
) -> ProviderRateLimited:
    """A rate-limit error whose wait is ``retry_after`` (a body hint), else the ``header``, else
    ``DEFAULT_RETRY_AFTER``."""
    wait = retry_after
    if wait is None:
        wait = parse_retry_after(response.headers, header=header)
    return ProviderRateLimited(
        DEFAULT_RETRY_AFTER if wait is None else wait,
        hinted=wait is not None,
        provider=provider,
        upstream_status=response.status_code,
        extra=extra,
    )


def parse_retry_after(
    headers: Mapping[str, str] | httpx.Headers,
    now: datetime | None = None,
    *,
    header: str = "retry-after",
) -> float | None:
    """Seconds to wait from a ``Retry-After``-style header (delay-seconds, decimals accepted, or an
    HTTP-date), clamped to ``[0, MAX_RETRY_AFTER]``; ``None`` when absent or unparseable."""
    raw = httpx.Headers(headers).get(header)
    if raw is None or not raw.strip():
        return None
    seconds = coerce_retry_after(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP-dates are GMT
        when = when.replace(tzinfo=UTC)
    return _bounded((when - (now or datetime.now(UTC))).total_seconds())


def coerce_retry_after(value: object) -> float | None:
    """A wait given as a JSON number or numeric string (Telegram ``parameters.retry_after``,
    Discord ``retry_after``), clamped like ``parse_retry_after``; ``None`` when not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return None
    return _bounded(float(value))


def _bounded(seconds: float) -> float:
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def decode_json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or ``None`` (empty, HTML error page, array, bad encoding)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return value if isinstance(value, dict) else None


# --- request helpers ------------------------------------------------------------------------


def api_base(creds: ToolCredentials, default: str) -> str:
    return (creds.base_url or default).rstrip("/")


def json_request(
    url: str | httpx.URL, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> httpx.Request:
    """A ``POST`` with a compact UTF-8 JSON body (Slack warns without the charset)."""
    return httpx.Request(
        "POST",
        url,
        json=payload,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def validate_parameters(spec: ToolSpec, params: Mapping[str, Any]) -> None:
    """Raise ``ValidationFailed`` listing every schema violation (JSON pointer + message)."""
    errors = sorted(
        Draft202012Validator(spec.parameters).iter_errors(params), key=lambda e: list(e.path)
    )
    if errors:
        raise ValidationFailed(
            f"invalid parameters for {spec.name}",
            extra={
                "errors": [
                    {"path": "/" + "/".join(str(p) for p in e.path), "message": e.message}
                    for e in errors
                ]
            },
        )


def redact_url(url: httpx.URL | str) -> str:
    """The URL with credentials masked, safe to log: Telegram ``bot<token>`` path segments,
    token-like query parameters (WeCom ``access_token``, DingTalk ``session``), userinfo."""
    parsed = httpx.URL(url)
    path = _TELEGRAM_TOKEN_SEGMENT.sub("/bot***", parsed.raw_path.decode("ascii"))
    path, _, query = path.partition("?")
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        masked = [(k, "***" if k.lower() in _SECRET_QUERY_PARAMS else v) for k, v in pairs]
        path = f"{path}?{urlencode(masked, safe='*')}"
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}{path}"


def _host_of(exc: httpx.HTTPError) -> str:
    try:
        return exc.request.url.host or "provider"
    except RuntimeError:  # raised by httpx when the error was created without a request
        return "provider"
