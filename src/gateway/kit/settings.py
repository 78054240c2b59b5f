"""Service configuration, read from ``GATEWAY_*`` environment variables (and ``.env``).

Every variable is listed in ``.env.example``. Secrets are ``SecretStr`` with no default.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(Exception):
    """The configuration cannot run; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_file=".env", extra="ignore", case_sensitive=False
    )

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path(".gateway")
    database_url: str | None = None
    redis_url: str | None = None
    queue_name: str = "arq:queue"
    encryption_keys: SecretStr | None = None
    public_base_url: str | None = None
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = "INFO"
    log_json: bool = True
    outbound_allowlist: str | None = None
    oauth_state_ttl_seconds: int = Field(default=600, ge=30, le=600)
    provider_base_urls: dict[str, str] = Field(default_factory=dict)  # dev/tests: mock platforms
    return_to_origins: str = ""  # origins an OAuth flow may redirect back to (comma-separated)
    connection_refresh_margin_seconds: int = Field(default=600, ge=60, le=24 * 3600)
    webhook_secret_overlap_seconds: int = Field(default=24 * 3600, ge=0)
    sweeper_interval_seconds: float = Field(default=30.0, gt=0)
    inbox_lease_seconds: float = Field(default=60.0, gt=0)
    ingest_batch_window_seconds: float = Field(default=0.002, ge=0, le=0.1)
    event_max_attempts: int = Field(default=5, ge=1, le=50)
    tool_timeout_seconds: float = Field(default=30.0, gt=0, le=30)
    tool_rate_per_second: float = Field(default=20.0, gt=0)  # outbound calls per connection
    tool_rate_burst: int = Field(default=40, ge=1)
    subscription_secret_overlap_seconds: int = Field(default=24 * 3600, ge=0, le=7 * 24 * 3600)
    delivery_concurrency_per_subscription: int = Field(default=16, ge=1, le=256)
    # Rate limits and quotas (0 = unlimited); per-tenant overrides live in tenant_limits.
    api_rate_limit_rpm: int = Field(default=600, ge=0)
    api_key_rate_limit_rpm: int = Field(default=300, ge=0)
    webhook_rate_limit_rps: int = Field(default=200, ge=0)
    quota_events_per_day: int = Field(default=0, ge=0)
    quota_invocations_per_day: int = Field(default=0, ge=0)
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    limits_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    sandbox_enabled: bool | None = None  # the built-in sandbox platform; None: on in development

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'gateway.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_public_base_url(self) -> str:
        return (self.public_base_url or "http://127.0.0.1:8000").rstrip("/")

    @property
    def resolved_outbound_allowlist(self) -> str:
        if self.outbound_allowlist is not None:
            return self.outbound_allowlist
        return "" if self.is_production else "127.0.0.0/8,::1"

    def check_runnable(self) -> None:
        """Refuse configurations that must not serve traffic (one-line reasons)."""
        if not self.is_production:
            return
        if self.encryption_keys is None or not self.encryption_keys.get_secret_value().strip():
            raise ConfigurationError(
                "GATEWAY_ENCRYPTION_KEYS is required in production "
                "(generate one with `gateway keys generate`)"
            )
        if self.is_sqlite:
            raise ConfigurationError(
                "GATEWAY_DATABASE_URL must point to PostgreSQL in production, not SQLite"
            )
        if not self.public_base_url:
            raise ConfigurationError("GATEWAY_PUBLIC_BASE_URL is required in production")
        if not self.redis_url:
            raise ConfigurationError("GATEWAY_REDIS_URL is required in production")
