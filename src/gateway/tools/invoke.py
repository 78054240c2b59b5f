"""The call loop of one tool invocation, shared by built-in and custom tools::

    for each attempt (at most ``RetryPolicy.max_attempts`` sends, plus one after a refresh):
        token bucket (per connection)             wait for a slot, or refuse (429) before sending
        build the request with the credentials    ``ToolCall.build``
        send through the shared client            ``runtime.http`` (SSRF-guarded, total timeout)
        read the body, capped at 10 MiB           ``read_capped``
        classify                                  ``ToolCall.parse`` → output or ProviderCallError
        ├── expired token    → refresh the connection once, retry
        ├── revoked          → the connection is marked needs_reauth; the tool's error
        ├── rate limited     → penalize the bucket, wait ``retry_after`` (≤ max_wait), retry
        ├── unavailable      → exponential backoff with jitter (or the server's Retry-After), retry
        │                      (not after a timeout: the platform may have acted, and a second
        │                      30 s wait would double the caller's)
        └── anything else    → the tool's error, with the platform's code and message

Every secret in play (the access token, the API key, the basic password) is scrubbed from the
response body before it is parsed, returned or logged. Nothing here touches the database except
through ``ConnectionCredentials`` (the connect domain's refresh).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import httpx
import pydantic_core
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.errors import GatewayError, RateLimited
from gateway.kit.http import DEFAULT_RESPONSE_LIMIT, ResponseTooLarge, read_capped
from gateway.kit.runtime import Runtime
from gateway.kit.ssrf import DestinationBlocked
from gateway.providers.tools import (
    ProviderAuthRevoked,
    ProviderCallError,
    ProviderRateLimited,
    ProviderTokenExpired,
    ProviderUnavailable,
    ToolCredentials,
    ToolOutput,
    classify_transport_error,
    parse_retry_after,
)
from gateway.tools.ratelimit import OutboundLimiter, OutboundRateLimited

SCRUBBED: Final = b"***"
#: Secrets shorter than this are not scrubbed from bodies (they would mangle ordinary text).
_MIN_SCRUB_LENGTH: Final = 4


class CredentialSource(Protocol):
    """The connect domain's credential functions (``gateway.connections.credentials``)."""

    async def tool_credentials(
        self, session: AsyncSession, runtime: Runtime, *, tenant_id: str, connection_id: str
    ) -> ToolCredentials: ...

    async def refresh_after_rejection(
        self,
        session: AsyncSession,
        runtime: Runtime,
        *,
        tenant_id: str,
        connection_id: str,
        rejected_access_token: str,
    ) -> ToolCredentials: ...

    async def mark_needs_reauth(
        self,
        session: AsyncSession,
        runtime: Runtime,
        *,
        tenant_id: str,
        connection_id: str,
        error_code: str,
    ) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    #: Longest wait honoured (Retry-After, bucket queue); beyond it the call fails fast.
    max_wait: float = 10.0
    backoff_base: float = 0.25
    backoff_cap: float = 2.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter for the wait after send number ``attempt``."""
        ceiling: float = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def rate_limit_wait(self, retry_after: float) -> float:
        """The platform's wait, never less, with a little jitter so retries do not align."""
        return retry_after + random.uniform(0, min(0.1 * retry_after, 0.25))


@dataclass
class ConnectionCredentials:
    """One connection's credentials for one invocation; ``refresh`` may be called once.

    The refresh runs under ``session_lock`` (the request session is shared with the early
    release in ``tools.service``) and is committed at once: rotated tokens are stored before
    the new access token is used.
    """

    source: CredentialSource
    session: AsyncSession
    runtime: Runtime
    tenant_id: str
    connection_id: str
    session_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    current: ToolCredentials | None = None

    async def load(self) -> ToolCredentials:
        self.current = await self.source.tool_credentials(
            self.session, self.runtime, tenant_id=self.tenant_id, connection_id=self.connection_id
        )
        return self.current

    async def refresh(self) -> ToolCredentials:
        rejected = self.current.access_token.get_secret_value() if self.current else ""
        async with self.session_lock:
            self.current = await self.source.refresh_after_rejection(
                self.session,
                self.runtime,
                tenant_id=self.tenant_id,
                connection_id=self.connection_id,
                rejected_access_token=rejected,
            )
            await self.session.commit()
        return self.current

    async def mark_revoked(self, error: ProviderAuthRevoked) -> None:
        """The platform says the credential is dead for good: the connection needs re-auth."""
        async with self.session_lock:
            await self.source.mark_needs_reauth(
                self.session,
                self.runtime,
                tenant_id=self.tenant_id,
                connection_id=self.connection_id,
                error_code=error.code,
            )


@dataclass(frozen=True)
class PreparedRequest:
    request: httpx.Request
    #: The URL safe to log (credentials masked).
    log_target: str
    #: Strings to scrub from anything recorded or returned.
    secrets: tuple[str, ...] = ()


@dataclass
class ToolCall:
    tool: str
    provider: str
    #: The connection whose token bucket paces this call; None: not paced (an API-key toolset
    #: talks to the tenant's own API, whose 429s are still honoured).
    bucket: str | None
    build: Callable[[ToolCredentials | None], PreparedRequest]
    parse: Callable[[httpx.Response, bytes], ToolOutput]
    credentials: ConnectionCredentials | None = None


@dataclass
class CallOutcome:
    ok: bool
    attempts: int
    duration_ms: float
    status_code: int | None = None
    output: Any = None
    error: ProviderCallError | None = None
    request: PreparedRequest | None = None
    response_body: bytes | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)


async def run_call(
    client: httpx.AsyncClient, call: ToolCall, limiter: OutboundLimiter, policy: RetryPolicy
) -> CallOutcome:
    """Run ``call`` to a result. Raises only for problems found before anything was sent:
    ``RateLimited`` (the bucket is full beyond ``max_wait``) and the ``ValidationFailed`` a
    tool's ``build`` may raise."""
    started = time.perf_counter()
    creds = call.credentials.current if call.credentials else None
    sends = 0
    refreshed = False
    prepared: PreparedRequest | None = None
    response: httpx.Response | None = None
    body: bytes | None = None

    def outcome(**kw: Any) -> CallOutcome:
        return CallOutcome(
            attempts=sends,
            duration_ms=(time.perf_counter() - started) * 1000,
            request=prepared,
            status_code=response.status_code if response is not None else None,
            response_body=body,
            secrets=prepared.secrets if prepared is not None else (),
            **kw,
        )

    while True:
        try:
            if call.bucket is not None:
                await limiter.acquire(call.bucket, policy.max_wait, sleep=policy.sleep)
        except OutboundRateLimited as exc:
            if sends == 0:
                raise RateLimited(
                    f"outbound calls for this connection are queued for {exc.wait_seconds:.1f}s",
                    code="outbound_rate_limited",
                    retry_after=exc.wait_seconds,
                ) from None
            limited = ProviderRateLimited(exc.wait_seconds, provider=call.provider)
            return outcome(ok=False, error=limited, output=_decode(response, body))
        try:
            prepared = call.build(creds)
        except ProviderCallError as exc:
            if isinstance(exc, ProviderAuthRevoked) and call.credentials is not None:
                await call.credentials.mark_revoked(exc)
            return outcome(ok=False, error=exc)
        sends += 1
        response, body = None, None
        error: ProviderCallError
        try:
            response = await client.send(prepared.request, stream=True)
            body = scrub(await read_capped(response, DEFAULT_RESPONSE_LIMIT), prepared.secrets)
        except (ResponseTooLarge, DestinationBlocked) as exc:
            # Not retryable: the same answer or the same refusal would come back.
            error = ProviderCallError(exc.message, provider=call.provider, code=exc.code)
        except httpx.HTTPError as exc:
            error = classify_transport_error(exc, provider=call.provider)
        else:
            try:
                result = call.parse(response, body)
            except ProviderCallError as exc:
                error = exc
            else:
                return outcome(ok=True, output=result.output)

        if isinstance(error, ProviderTokenExpired) and call.credentials and not refreshed:
            refreshed = True
            try:
                creds = await call.credentials.refresh()
            except GatewayError as exc:
                failed = ProviderCallError(exc.message, provider=call.provider, code=exc.code)
                return outcome(ok=False, error=failed, output=_decode(response, body))
            continue
        if isinstance(error, ProviderAuthRevoked) and call.credentials is not None:
            await call.credentials.mark_revoked(error)
        wait = _retry_wait(error, response, sends, policy)
        if wait is None:
            return outcome(ok=False, error=error, output=_decode(response, body))
        if isinstance(error, ProviderRateLimited) and call.bucket is not None:
            await limiter.penalize(call.bucket, error.retry_after)
        await policy.sleep(wait)


def _retry_wait(
    error: ProviderCallError, response: httpx.Response | None, sends: int, policy: RetryPolicy
) -> float | None:
    """Seconds to wait before retrying, or None to stop."""
    if sends >= policy.max_attempts:
        return None
    if isinstance(error, ProviderRateLimited):
        if error.retry_after > policy.max_wait:
            return None
        return policy.rate_limit_wait(error.retry_after)
    if isinstance(error, ProviderUnavailable) and error.code != "provider_timeout":
        hinted = parse_retry_after(response.headers) if response is not None else None
        if hinted is None:
            return policy.backoff(sends)
        return hinted if hinted <= policy.max_wait else None
    return None


def scrub(body: bytes, secrets: tuple[str, ...]) -> bytes:
    """``body`` with every secret replaced by ``***`` (a substring test first: cheap)."""
    for secret in secrets:
        if len(secret) < _MIN_SCRUB_LENGTH:
            continue
        raw = secret.encode()
        if raw in body:
            body = body.replace(raw, SCRUBBED)
    return body


def decode_output(response: httpx.Response, body: bytes) -> Any:
    """The response body as the tool's output: JSON when it is JSON, else text, else None.
    (pydantic's parser: ~5x faster than ``json.loads``; a body it refuses, such as one nested
    deeper than its limit, is returned as text.)"""
    if not body:
        return None
    content_type = response.headers.get("content-type", "")
    if "json" in content_type or body[:1] in (b"{", b"["):
        try:
            return pydantic_core.from_json(body)
        except ValueError:
            pass
    return body.decode("utf-8", errors="replace")


def _decode(response: httpx.Response | None, body: bytes | None) -> Any:
    return decode_output(response, body) if response is not None and body is not None else None
