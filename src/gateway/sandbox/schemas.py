"""Request/response shapes of the sandbox platform (``/sandbox/...``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field


class SandboxUser(BaseModel):
    """Who posts a simulated message (a person in the sandbox workspace)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default="u_developer", min_length=1, max_length=100)
    name: str | None = Field(default="Developer", max_length=200)


class SandboxSender(BaseModel):
    id: str
    name: str | None
    kind: Literal["user", "app"] = Field(description="`user`: a person; `app`: a connected app")


class SandboxMessageOut(BaseModel):
    """A message of a sandbox conversation."""

    id: str
    conversation: str
    thread_id: str | None = Field(description="The message whose thread this message is in")
    text: str
    sender: SandboxSender
    created_at: datetime


class SandboxMessageCreate(BaseModel):
    """A message posted by a connected app (``Authorization: Bearer <sandbox access token>``)."""

    model_config = ConfigDict(extra="forbid")

    conversation: str = Field(min_length=1, max_length=200, examples=["general"])
    text: str = Field(min_length=1, max_length=4000)
    thread_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="Reply in this message's thread"
    )


class SimulateRequest(BaseModel):
    """A person posts a message in the sandbox; the sandbox sends it, signed, to the endpoint."""

    model_config = ConfigDict(extra="forbid")

    endpoint_id: str = Field(
        min_length=1, max_length=64, description="One of your `sandbox` webhook endpoints"
    )
    conversation: str = Field(min_length=1, max_length=200, examples=["general"])
    text: str = Field(min_length=1, max_length=4000, examples=["Hello, gateway!"])
    thread_id: str | None = Field(default=None, min_length=1, max_length=64)
    user: SandboxUser = Field(default_factory=SandboxUser)


class SimulateResult(BaseModel):
    """What happened when the sandbox delivered the event to the gateway's webhook URL."""

    webhook_id: str = Field(
        description="The delivery's `webhook-id`: the event's `provider_event_id` in /v1/events"
    )
    delivered: bool = Field(description="Whether the webhook URL answered 2xx")
    status_code: int | None = Field(description="The webhook URL's HTTP status (null: no answer)")
    response: Any = Field(description="The webhook URL's answer (JSON, or text)")
    event_id: str | None = Field(
        description="The gateway's event for this delivery (`evt_…`, for `message.reply`), "
        "when it stored one"
    )
    message: SandboxMessageOut


class SandboxWorkspace(BaseModel):
    id: str
    name: str


class SandboxTokenResponse(BaseModel):
    """RFC 6749 §5.1 token response, plus the workspace that was connected."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    scope: str
    workspace: SandboxWorkspace
    bot_user_id: str = Field(description="The app's user id in the workspace")


class OAuthErrorOut(BaseModel):
    """RFC 6749 §5.2 error response (the token and revocation endpoints answer in this format,
    which OAuth clients parse, instead of problem+json)."""

    error: str = Field(examples=["invalid_grant"])
    error_description: str | None = None


class RevocationOut(BaseModel):
    """RFC 7009: 200 whether or not the token was known."""

    ok: Literal[True] = True


def problems(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI error responses as ``application/problem+json`` with the ``Problem`` schema (the
    media type the handlers send; ``descriptions`` by ``s<status>``, e.g. ``s403="…"``)."""
    defaults = {
        401: "Missing or invalid credentials",
        403: "The credentials lack a needed scope",
        404: "Not found (or owned by another tenant)",
        422: "Validation failed",
        429: "Rate limited",
    }
    schema = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {
            "description": descriptions.get(f"s{status}", defaults.get(status, "Error")),
            "content": {"application/problem+json": {"schema": schema}},
        }
        for status in statuses
    }


def form_body_schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` documenting an ``application/x-www-form-urlencoded`` request body."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {"type": "object", "properties": properties, "required": required}
                }
            },
        }
    }


# --- OpenAPI documentation of the form-encoded and HTML routes -------------------------------

#: The consent form's field carrying the consent token.
CONSENT_FIELD: Final = "consent_token"

HTML_BODY: Final[dict[str, Any]] = {"text/html": {"schema": {"type": "string"}}}
AUTHORIZE_PARAMETERS: Final[list[dict[str, Any]]] = [
    {"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
    for name in ("response_type", "client_id", "redirect_uri", "state", "code_challenge")
] + [
    {"name": "code_challenge_method", "in": "query", "required": True,
     "schema": {"type": "string", "enum": ["S256"]}},
    {"name": "scope", "in": "query", "required": False, "schema": {"type": "string"},
     "description": "Space-separated: `messages:read`, `messages:write` (default: both)"},
]  # fmt: skip
BROWSER_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    302: {"description": "Back to the client's redirect URI with `code` or `error`, and `state`"},
    400: {"content": HTML_BODY, "description": "Error page: the client or redirect URI is invalid"},
    403: {"content": HTML_BODY, "description": "Error page: the consent form expired"},
}


CONSENT_FORM: Final = form_body_schema(
    {
        "decision": {"type": "string", "enum": ["approve", "deny"]},
        CONSENT_FIELD: {"type": "string"},
        **{p["name"]: p["schema"] for p in AUTHORIZE_PARAMETERS},
    },
    ["decision", CONSENT_FIELD],
)


OAUTH_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": OAuthErrorOut, "description": "RFC 6749 §5.2 error (`invalid_grant`, …)"},
    401: {"model": OAuthErrorOut, "description": "Client authentication failed"},
}


TOKEN_FORM: Final = form_body_schema(
    {
        "grant_type": {"type": "string", "enum": ["authorization_code", "refresh_token"]},
        "code": {"type": "string"},
        "redirect_uri": {"type": "string"},
        "code_verifier": {"type": "string"},
        "refresh_token": {"type": "string"},
        "scope": {"type": "string"},
        "client_id": {"type": "string"},
        "client_secret": {"type": "string"},
    },
    ["grant_type"],
)
