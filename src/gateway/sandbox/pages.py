"""The sandbox's consent and error pages: small, accessible HTML, no script, no external resource.

The consent form posts back to the authorize URL with the request's parameters and a consent
token bound to this browser's cookie (``authorization.consent_token``). ``form-action`` allows
the sandbox itself and the redirect URI's origin (the decision answers with a redirect there).
"""

from __future__ import annotations

from html import escape
from typing import Final
from urllib.parse import urlsplit

from fastapi.responses import HTMLResponse

from gateway.providers.sandbox.oauth import SCOPES
from gateway.sandbox.authorization import APP_NAME, ConsentRequest
from gateway.sandbox.schemas import CONSENT_FIELD

_STYLE: Final = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1b1b1b;background:#fff}"
    ".note{color:#4a4a4a;font-size:.95rem}"
    ".actions{display:flex;gap:1rem;margin-top:1.5rem}"
    "button{font:inherit;padding:.6rem 1.4rem;border-radius:.4rem;border:2px solid #1d4ed8;"
    "cursor:pointer}"
    "button[value=approve]{background:#1d4ed8;color:#fff}"
    "button[value=deny]{background:#fff;color:#1d4ed8}"
    "button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}"
    "code{background:#f1f1f1;padding:.1rem .3rem}"
)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(form_target: str | None = None) -> dict[str, str]:
    form_action = f"'self' {_origin(form_target)}" if form_target else "'none'"
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'",
    }


def _page(title: str, body: str, status_code: int, headers: dict[str, str]) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)


def consent_page(request: ConsentRequest, token: str) -> HTMLResponse:
    """Approve / Deny for one checked authorization request."""
    client = APP_NAME if request.client_owner == "system" else f"{APP_NAME} ({request.client_id})"
    scopes = "".join(
        f"<li><code>{escape(scope)}</code>: {escape(SCOPES[scope])}</li>"
        for scope in request.scopes
    )
    hidden = "".join(
        f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'
        for name, value in {**request.fields(), CONSENT_FIELD: token}.items()
    )
    body = (
        f"<p><strong>{escape(client)}</strong> wants to connect to the sandbox workspace "
        f"<strong>{escape(request.workspace_name)}</strong>.</p>"
        f'<h2 id="scopes">It will be able to</h2><ul aria-labelledby="scopes">{scopes}</ul>'
        '<form method="post" action="/sandbox/oauth/authorize">'
        f"{hidden}"
        '<div class="actions">'
        '<button type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</div></form>"
        '<p class="note">This is the gateway\'s built-in sandbox platform: no real account or '
        "platform is involved. You can revoke access by deleting the connection.</p>"
    )
    return _page(
        "Authorize access to your sandbox workspace",
        body,
        200,
        security_headers(request.redirect_uri),
    )


def error_page(error: str, description: str, status_code: int = 400) -> HTMLResponse:
    """The authorization request cannot go back to the client: say why, with a stable code."""
    body = (
        f'<p role="alert">{escape(description)}</p>'
        f"<p>Error: <code>{escape(error)}</code>. Start connecting again from the application.</p>"
    )
    return _page("Sandbox authorization refused", body, status_code, security_headers())
