"""Table models, one file per table, re-exported here (alembic reads this metadata)."""

from gateway.models.api_key import ApiKey
from gateway.models.audit_record import AuditRecord
from gateway.models.connect_session import ConnectSession
from gateway.models.connection import Connection
from gateway.models.custom_provider import CustomProvider
from gateway.models.custom_tool import CustomTool
from gateway.models.delivery import Delivery
from gateway.models.delivery_attempt import DeliveryAttempt
from gateway.models.event import Event
from gateway.models.idempotency_record import IdempotencyRecord
from gateway.models.oauth_client import SYSTEM_OWNER, OAuthClient
from gateway.models.oauth_state import OAuthState
from gateway.models.sandbox_authorization_code import SandboxAuthorizationCode
from gateway.models.sandbox_grant import SandboxGrant
from gateway.models.sandbox_message import SandboxMessage
from gateway.models.sandbox_token import SandboxToken
from gateway.models.subscription import Subscription
from gateway.models.tenant import Tenant
from gateway.models.tenant_limits import TenantLimits
from gateway.models.tool_invocation import ToolInvocation
from gateway.models.toolset import Toolset
from gateway.models.webhook_endpoint import WebhookEndpoint

__all__ = [
    "SYSTEM_OWNER",
    "ApiKey",
    "AuditRecord",
    "ConnectSession",
    "Connection",
    "CustomProvider",
    "CustomTool",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "IdempotencyRecord",
    "OAuthClient",
    "OAuthState",
    "SandboxAuthorizationCode",
    "SandboxGrant",
    "SandboxMessage",
    "SandboxToken",
    "Subscription",
    "Tenant",
    "TenantLimits",
    "ToolInvocation",
    "Toolset",
    "WebhookEndpoint",
]
