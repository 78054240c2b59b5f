"""``Annotated`` dependency aliases, defined once; routers use these and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from gateway.kit.crypto import Keyring
from gateway.kit.db import take_pending_jobs
from gateway.kit.errors import InvalidApiKey
from gateway.kit.runtime import Runtime
from gateway.kit.settings import Settings
from gateway.limits import middleware as limits_middleware
from gateway.limits import service as limits_service
from gateway.tenants import service as tenant_service
from gateway.tenants.auth_cache import ApiKeyCache, CurrentTenant

# The dependencies below are ``async def`` although they never await: FastAPI runs a plain
# ``def`` dependency in its thread pool, a thread hop per request per dependency.


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def get_keyring(runtime: RuntimeDep) -> Keyring:
    return runtime.keyring


def api_key_cache(runtime: Runtime) -> ApiKeyCache:
    """The process's authenticated-key cache (lives with the runtime, not in a global)."""
    cache = runtime.extras.get("api_key_cache")
    if not isinstance(cache, ApiKeyCache):
        cache = ApiKeyCache(ttl=runtime.settings.api_key_cache_seconds)
        runtime.extras["api_key_cache"] = cache
    return cache


SettingsDep = Annotated[Settings, Depends(get_settings)]
KeyringDep = Annotated[Keyring, Depends(get_keyring)]


class _LazySession:
    """The request's session, created on first use: a request served from per-process caches
    (a cached invoke) then never builds one (~12 us of ORM set-up). Everything but
    ``in_transaction`` is the real :class:`AsyncSession`'s."""

    __slots__ = ("_runtime", "real")

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.real: AsyncSession | None = None

    def in_transaction(self) -> bool:
        return self.real is not None and self.real.in_transaction()

    def __getattr__(self, name: str) -> Any:
        if self.real is None:
            self.real = self._runtime.sessionmaker()
        return getattr(self.real, name)


@asynccontextmanager
async def request_session(runtime: Runtime, *, lazy: bool = False) -> AsyncIterator[AsyncSession]:
    """The request's transaction: committed when the block ends, rolled back on error; jobs
    collected meanwhile are sent after the commit.

    :func:`get_session` serves it as a dependency. A hot route may open it in its body instead
    (``tools.router``): same semantics, without the per-request cost of a generator
    dependency; ``lazy`` there also defers creating the session until something uses it.
    """
    deferred = _LazySession(runtime) if lazy else None
    session = runtime.sessionmaker() if deferred is None else None

    def used() -> AsyncSession | None:
        return session if deferred is None else deferred.real

    try:
        yield cast(AsyncSession, deferred) if session is None else session
        real = used()
        if real is None:
            return  # a lazy session nobody used
        # A request served from per-process caches never began a transaction: skip the
        # commit and close (each a greenlet round trip), there is nothing to end.
        if real.in_transaction():
            await real.commit()
            await real.close()
    except BaseException:
        real = used()
        if real is not None:
            real.info.pop("pending_jobs", None)
            await real.close()  # rolls back
        raise
    await runtime.dispatch(take_pending_jobs(real))


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The request's transaction (:func:`request_session`): committed before the response.

    Function scope makes FastAPI run the code after ``yield`` before sending the response, so
    no 2xx leaves before the commit.
    """
    async with request_session(runtime) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


_bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiKey", description="A tenant API key: `gwk_…`"
)


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer …`` header value, as ``_bearer`` reads them
    (None when absent or another scheme): for routes that read headers themselves."""
    if not authorization:
        return None
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


async def authenticate(runtime: Runtime, scope: Scope, presented: str | None) -> CurrentTenant:
    """The API key's tenant, after charging the request to the key's and tenant's rate limits
    (429 when over; the RateLimit-* headers go on every authenticated response, recorded in
    ``scope`` for :class:`~gateway.limits.middleware.RateLimitHeadersMiddleware`).

    Usually answered from per-process caches (keys, tenant limits); a miss reads in a short
    session of its own, so authenticating never needs the route's session.
    """
    presented = presented.strip() if presented else ""
    if not presented:
        raise InvalidApiKey(
            "Send the API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # A key reads gwk_<prefix>_<secret>; its public prefix names its rate-limit bucket. A key
    # refused moments ago is refused again before any lookup, so hammering stays cheap.
    key_prefix = presented.split("_", 2)[1] if presented.count("_") >= 2 else ""
    if key_prefix:
        limits_service.refuse_if_recently_limited(runtime, key_prefix)
    try:
        cache = api_key_cache(runtime)
        cached = cache.get(presented)
        if cached is None:
            async with runtime.sessionmaker() as session:
                tenant = CurrentTenant.of(await tenant_service.authenticate(session, presented))
            cache.put(presented, tenant)
        else:
            tenant = cached
    except InvalidApiKey as exc:
        exc.headers.setdefault("WWW-Authenticate", "Bearer")
        raise
    state = await limits_service.check_api_limit(runtime, None, tenant.id, key_prefix)
    limits_middleware.attach(scope, limits_middleware.ApiCallLimits(key_prefix, state))
    return tenant


async def get_tenant(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> CurrentTenant:
    """Every ``/v1`` route's authentication: :func:`authenticate` with the bearer key."""
    return await authenticate(
        runtime, request.scope, credentials.credentials if credentials is not None else None
    )


TenantDep = Annotated[CurrentTenant, Depends(get_tenant)]
