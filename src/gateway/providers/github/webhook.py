"""GitHub webhook verification.

Scheme (shared/providers.md §7): ``X-Hub-Signature-256: sha256=hex(HMAC-SHA256(secret,
raw_body))``. The legacy SHA-1 ``X-Hub-Signature`` is never accepted, even alone: GitHub always
sends the SHA-256 header when a secret is set. No timestamp is signed, so there is no replay
window; ``X-GitHub-Delivery`` (the same on manual redelivery) is the dedup key and
``X-GitHub-Event`` the type (``ping`` is an ordinary event).

Bodies are JSON, or ``application/x-www-form-urlencoded`` with the JSON in a ``payload`` field
when the hook was created with that content type; both yield the decoded JSON.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field, SecretStr

from gateway.kit.errors import BadRequest
from gateway.providers.webhooks import (
    SIGNATURE_INVALID,
    WEBHOOK_CONFIG,
    InboundRequest,
    JsonPayload,
    VerifiedWebhook,
    WebhookVerifier,
    constant_time_equal,
    hmac_digest,
    is_form_encoded,
    parse_form,
    parse_json,
    require_header,
    require_secret,
    unauthenticated,
)


class GitHubWebhookConfig(BaseModel):
    """Endpoint config: the webhook secret entered on GitHub."""

    model_config = WEBHOOK_CONFIG

    secret: SecretStr = Field(min_length=1)


class GitHubWebhookVerifier(WebhookVerifier[GitHubWebhookConfig]):
    """``sha256=`` HMAC over the raw body."""

    provider: ClassVar[str] = "github"
    config_schema: ClassVar[type[BaseModel]] = GitHubWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    def verify_single(
        self, request: InboundRequest, config: GitHubWebhookConfig
    ) -> VerifiedWebhook:
        """Authenticate, then parse; id and type come from headers."""
        secret = require_secret(config.secret, "secret")
        signature = require_header(request, "x-hub-signature-256")
        expected = "sha256=" + hmac_digest(secret, request.body).hex()
        if not constant_time_equal(expected, signature):
            raise unauthenticated(SIGNATURE_INVALID, "GitHub signature does not match")
        return VerifiedWebhook(
            provider_event_id=request.header("x-github-delivery") or None,
            event_type=request.header("x-github-event") or None,
            payload=_parse(request),
        )


def _parse(request: InboundRequest) -> JsonPayload:
    if not is_form_encoded(request):
        return parse_json(request.body)
    form = parse_form(request.body)
    if "payload" not in form:
        raise BadRequest("form body without a payload field", code="invalid_body")
    return parse_json(form["payload"])


VERIFIER = GitHubWebhookVerifier()
