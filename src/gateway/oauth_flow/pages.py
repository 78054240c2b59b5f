"""The small HTML pages a browser sees at the end of a connect flow (no script, no external
resources). Failure pages name a stable reason code that support can look up in the audit log.
Every response of the browser legs forbids caching and referrers: the callback URL holds the
authorization code, which must not leak to the next site through ``Referer``."""

from __future__ import annotations

from html import escape
from typing import Final

from fastapi.responses import HTMLResponse

SECURITY_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
}

REASONS: Final = {
    "access_denied": "The authorization was declined at the provider.",
    "authorization_error": "The provider reported an error instead of authorizing.",
    "invalid_session": "This connect link is invalid, expired or was already used.",
    "missing_state": "The provider's answer did not carry the expected state.",
    "invalid_state": "This sign-in attempt is unknown, expired or was already completed.",
    "missing_cookie": "This browser did not start the sign-in (its cookie is missing).",
    "browser_mismatch": "This sign-in was started in another browser.",
    "provider_mismatch": "The answer arrived for a different provider than the one asked.",
    "issuer_mismatch": "The answer came from an unexpected authorization server.",
    "missing_code": "The provider's answer did not carry an authorization code.",
    "oauth_client_missing": "No OAuth client is configured for this provider.",
    "exchange_failed": "The provider refused to exchange the authorization code.",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1b1b1b;background:#fff}code{background:#f1f1f1;padding:.1rem .3rem}"
)


def _page(title: str, body: str, status_code: int) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body><main role="main"><h1>{escape(title)}</h1>{body}</main></body></html>'
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def success_page(provider_name: str, connection_id: str) -> HTMLResponse:
    body = (
        f"<p>Your {escape(provider_name)} account is connected. You can close this window.</p>"
        f"<p>Connection: <code>{escape(connection_id)}</code></p>"
    )
    return _page("Account connected", body, 200)


def failure_page(reason: str, status_code: int, detail: str | None = None) -> HTMLResponse:
    message = REASONS.get(reason, "The account could not be connected.")
    extra = f" (<code>{escape(detail)}</code>)" if detail else ""
    body = (
        f'<p role="alert">{escape(message)}</p>'
        f"<p>Reason: <code>{escape(reason)}</code>{extra}. Start again from the application.</p>"
    )
    return _page("Account not connected", body, status_code)
