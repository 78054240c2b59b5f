"""Where a finished connect flow may send the browser (RFC 9700 §4.11: no open redirects).

Accepted: a path on this gateway's own origin (``/done?x=1``), or an absolute ``http(s)`` URL
whose origin is listed in ``GATEWAY_RETURN_TO_ORIGINS``. Refused: protocol-relative ``//evil``,
backslashes (browsers read ``/\\evil`` as ``//evil``), schemes on relative values (``https:evil``,
``javascript:``), userinfo, control characters and whitespace, and any of these hidden behind
percent-encoding (``/%2F%2Fevil``, ``/%5Cevil``; decoded repeatedly until stable).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from gateway.kit.errors import ValidationFailed

_MAX_DECODE_ROUNDS = 5


class InvalidReturnTo(ValidationFailed):
    code = "invalid_return_to"
    title = "return_to must be a path on this gateway or an allow-listed origin"


def _origin(scheme: str, host: str, port: int | None) -> str:
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def parse_origins(setting: str) -> frozenset[str]:
    """``GATEWAY_RETURN_TO_ORIGINS`` as normalised origins (entries that are not one are
    ignored rather than widened)."""
    origins: set[str] = set()
    for item in setting.split(","):
        parts = urlsplit(item.strip())
        if parts.scheme in ("http", "https") and parts.hostname and parts.path in ("", "/"):
            if not (parts.query or parts.fragment or parts.username or parts.password):
                origins.add(_origin(parts.scheme, parts.hostname, parts.port))
    return frozenset(origins)


def _decoded_forms(value: str) -> list[str]:
    forms = [value]
    for _ in range(_MAX_DECODE_ROUNDS):
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms


def _unsafe_characters(text: str) -> bool:
    return any(ch == "\\" or not ch.isprintable() for ch in text)


def validate_return_to(value: str, allowed_origins: frozenset[str]) -> str:
    """``value`` if it is a safe place to send the browser back to, else InvalidReturnTo."""
    forms = _decoded_forms(value)
    if any(ch.isspace() for ch in value) or any(_unsafe_characters(form) for form in forms):
        raise InvalidReturnTo("return_to contains backslashes, whitespace or control characters")
    if value.startswith("/"):
        for form in forms:
            parts = urlsplit(form)
            if form.startswith("//") or parts.scheme or parts.netloc:
                raise InvalidReturnTo("return_to must be a path, not another origin")
        return value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidReturnTo() from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.netloc:
        raise InvalidReturnTo()
    if parts.username is not None or parts.password is not None:
        raise InvalidReturnTo("return_to must not contain credentials")
    if _origin(parts.scheme, parts.hostname, port) not in allowed_origins:
        raise InvalidReturnTo("return_to's origin is not in GATEWAY_RETURN_TO_ORIGINS")
    return value


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` added to its query string (existing parameters kept)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))
