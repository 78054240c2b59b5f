"""The webhook capability shared by every provider: request in, verified event (or handshake) out.

    InboundRequest ──WebhookVerifier.verify()──► VerifiedWebhook
                          │                       ├─ handshake set: answer it, store nothing
                          │                       └─ else store (dedup on provider_event_id),
                          │                          answer ``ack`` or 200 {"ok": true}
                          └─ raises SignatureInvalid (401) / BadRequest (400)

Rules every verifier follows (shared/reliability.md W1, W2, pitfalls 1 and 10):

- Authenticate over the exact raw ``body`` bytes *before* parsing it; JSON is never re-serialised.
- Compare secrets and signatures in constant time (``hmac.compare_digest``).
- Signed timestamps are checked in both directions (default ±300 s, injected clock).
- ``SignatureInvalid`` is raised for anything not authenticated (401), ``BadRequest`` only for a
  body that authenticated but cannot be parsed (400). Messages never contain secret material.
- A config whose secret is empty never verifies anything, whatever the stored data says.
- Secret rotation: ``verify`` accepts a request authenticated by the current config *or* any
  config in ``previous_configs`` (the overlap window is managed by the caller).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, SecretStr

from gateway.kit.errors import BadRequest, SignatureInvalid

# Stable ``code`` values of the SignatureInvalid errors raised by verifiers.
SIGNATURE_MISSING = "signature_missing"
SIGNATURE_INVALID = "signature_invalid"
TIMESTAMP_STALE = "timestamp_stale"
TOKEN_INVALID = "token_invalid"

#: Replay window for signed unix-second timestamps (Slack, Standard Webhooks, Stripe, Svix).
DEFAULT_TOLERANCE_SECONDS = 300.0

JsonPayload = dict[str, Any] | list[Any]

#: ``model_config`` of every endpoint config model: immutable, unknown keys refused, and
#: validation errors never echo the input (pydantic would otherwise print rejected secrets).
WEBHOOK_CONFIG = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


@dataclass(frozen=True)
class InboundRequest:
    """One HTTP request as received, before any parsing.

    ``headers`` keys are lower-cased on construction, so lookups are case-insensitive whatever
    the caller passed; ``now`` is the injected clock (unix seconds) used for replay windows.
    """

    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    now: float

    def __post_init__(self) -> None:
        # Normalising here makes the "lower-cased keys" contract hold even for careless callers.
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})
        object.__setattr__(self, "query", dict(self.query))

    def header(self, name: str) -> str | None:
        """The header value, or None when absent (name is matched case-insensitively)."""
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class HandshakeResponse:
    """An exact HTTP answer a platform expects (URL handshake or success acknowledgement)."""

    status_code: int
    body: bytes
    media_type: str

    @classmethod
    def from_json(cls, content: Any, status_code: int = 200) -> HandshakeResponse:
        """Compact JSON (no spaces), as platforms compare some answers byte for byte."""
        body = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status_code=status_code, body=body, media_type="application/json")

    @classmethod
    def from_text(cls, content: bytes, status_code: int = 200) -> HandshakeResponse:
        """A ``text/plain`` answer with exactly these bytes (no newline added)."""
        return cls(status_code=status_code, body=content, media_type="text/plain")

    @classmethod
    def empty(cls, status_code: int = 204) -> HandshakeResponse:
        """An empty body (204 for Discord webhook events, 200 for WeCom's "stop retrying")."""
        return cls(status_code=status_code, body=b"", media_type="text/plain")


@dataclass
class VerifiedWebhook:
    """The result of a successful verification.

    ``provider_event_id`` is the dedup key (None: the caller dedups on a body digest);
    ``event_type`` is the platform's raw type; ``payload`` the decrypted, parsed body, and
    ``document`` the JSON text it was parsed from when that is the raw body itself (the caller
    may store those bytes instead of serialising ``payload`` again).
    If ``handshake`` is set the caller answers with it and stores no event; otherwise it stores
    the event and answers ``ack`` (or 200 ``{"ok": true}`` when ``ack`` is None).
    """

    provider_event_id: str | None
    event_type: str | None
    payload: JsonPayload
    handshake: HandshakeResponse | None = None
    ack: HandshakeResponse | None = None
    is_retry: bool = False
    document: bytes | None = None


ConfigT = TypeVar("ConfigT", bound=BaseModel)


class WebhookVerifier(ABC, Generic[ConfigT]):
    """Verifies one platform's inbound webhooks.

    Subclasses declare ``provider``, ``config_schema`` (the endpoint config model, secrets as
    ``SecretStr``), ``secret_fields`` and implement :meth:`verify_single` for one config;
    :meth:`verify` adds secret rotation on top.
    """

    provider: ClassVar[str]
    config_schema: ClassVar[type[BaseModel]]
    secret_fields: ClassVar[tuple[str, ...]]

    def parse_config(self, data: Mapping[str, Any]) -> ConfigT:
        """Validate raw endpoint config (pydantic ``ValidationError`` names the bad field)."""
        return cast(ConfigT, self.config_schema.model_validate(dict(data)))

    def verify(
        self,
        request: InboundRequest,
        config: ConfigT,
        previous_configs: Sequence[ConfigT] = (),
    ) -> VerifiedWebhook:
        """Verify ``request`` against the current config, then each previous one.

        Raises the current config's ``SignatureInvalid`` when none authenticates the request.
        ``BadRequest`` propagates at once: it means a config *did* authenticate the request.
        """
        failures: list[SignatureInvalid] = []
        for candidate in (config, *previous_configs):
            try:
                return self.verify_single(request, candidate)
            except SignatureInvalid as exc:
                failures.append(exc)
        raise failures[0]

    @abstractmethod
    def verify_single(self, request: InboundRequest, config: ConfigT) -> VerifiedWebhook:
        """Verify against exactly one config (no rotation)."""


# --- helpers shared by the verifiers -------------------------------------------------------


def unauthenticated(code: str, message: str) -> SignatureInvalid:
    """A 401 with a stable code. Never put secrets or received signatures in ``message``."""
    return SignatureInvalid(message, code=code)


def require_secret(secret: SecretStr | None, name: str) -> bytes:
    """The secret's UTF-8 bytes; an empty or absent secret refuses every request."""
    value = secret.get_secret_value() if secret is not None else ""
    if not value:
        raise unauthenticated(SIGNATURE_INVALID, f"webhook endpoint has no {name} configured")
    return value.encode()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality that accepts any str (``compare_digest`` rejects non-ASCII str)."""
    a_bytes = a if isinstance(a, bytes) else a.encode("utf-8", "surrogatepass")
    b_bytes = b if isinstance(b, bytes) else b.encode("utf-8", "surrogatepass")
    return hmac.compare_digest(a_bytes, b_bytes)


def require_header(request: InboundRequest, name: str) -> str:
    """A non-empty header value, else 401 ``signature_missing``."""
    value = request.header(name)
    if not value:
        raise unauthenticated(SIGNATURE_MISSING, f"missing {name} header")
    return value


def require_query(request: InboundRequest, *names: str) -> str:
    """The first non-empty query parameter among ``names`` (aliases), else 401."""
    for name in names:
        value = request.query.get(name)
        if value:
            return value
    raise unauthenticated(SIGNATURE_MISSING, f"missing {names[0]} query parameter")


def check_timestamp(
    raw: str,
    now: float,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    milliseconds: bool = False,
) -> None:
    """Reject a signed timestamp outside ``now ± tolerance`` seconds (bounds included).

    Only ASCII digits are accepted: ``int()`` would also take "+1", " 1" or non-ASCII digits.
    """
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 16:
        raise unauthenticated(SIGNATURE_INVALID, "malformed timestamp")
    seconds = int(raw) / 1000 if milliseconds else int(raw)
    if abs(now - seconds) > tolerance:
        raise unauthenticated(TIMESTAMP_STALE, "timestamp outside the accepted window")


def hmac_digest(key: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    """Raw HMAC digest (stdlib; ``algorithm`` is a hashlib name)."""
    return hmac.new(key, message, algorithm).digest()


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256, the dedup key of platforms without an event id."""
    return hashlib.sha256(data).hexdigest()


def parse_json(data: bytes | str) -> JsonPayload:
    """Parse an authenticated JSON document (object or array), else 400."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BadRequest("body is not valid JSON", code="invalid_body") from exc
    if not isinstance(value, dict | list):
        raise BadRequest("body must be a JSON object or array", code="invalid_body")
    return value


def parse_json_object(data: bytes | str) -> dict[str, Any]:
    """Parse an authenticated JSON object, else 400."""
    value = parse_json(data)
    if not isinstance(value, dict):
        raise BadRequest("body must be a JSON object", code="invalid_body")
    return value


def is_form_encoded(request: InboundRequest) -> bool:
    """True for ``application/x-www-form-urlencoded`` bodies (Slack commands, GitHub option)."""
    content_type = request.header("content-type") or ""
    return content_type.split(";", 1)[0].strip().lower() == "application/x-www-form-urlencoded"


def parse_form(body: bytes) -> dict[str, Any]:
    """Parse an authenticated form body; the first occurrence of a repeated field wins."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("form body is not UTF-8", code="invalid_body") from exc
    form: dict[str, Any] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        form.setdefault(name, value)
    return form


def lookup_path(document: Any, path: str) -> Any:
    """Follow a dotted path (``data.id``; digits index lists) or return None."""
    current = document
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isascii() and part.isdigit():
            index = int(part)
            current = current[index] if index < len(current) else None
        else:
            return None
    return current


def as_identifier(value: Any) -> str | None:
    """A scalar id as a string (ints become decimal strings); anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value or None
    if isinstance(value, int):
        return str(value)
    return None
