"""Table models, one file per table, re-exported here (alembic reads this metadata)."""

from gateway.models.api_key import ApiKey
from gateway.models.oauth_client import SYSTEM_OWNER, OAuthClient
from gateway.models.tenant import Tenant

__all__ = ["SYSTEM_OWNER", "ApiKey", "OAuthClient", "Tenant"]
