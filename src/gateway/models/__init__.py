"""Table models, one file per table, re-exported here (alembic reads this metadata)."""

from gateway.models.api_key import ApiKey
from gateway.models.audit_record import AuditRecord
from gateway.models.connection import Connection
from gateway.models.event import Event
from gateway.models.oauth_client import SYSTEM_OWNER, OAuthClient
from gateway.models.tenant import Tenant
from gateway.models.webhook_endpoint import WebhookEndpoint

__all__ = [
    "SYSTEM_OWNER",
    "ApiKey",
    "AuditRecord",
    "Connection",
    "Event",
    "OAuthClient",
    "Tenant",
    "WebhookEndpoint",
]
