"""Where tool credentials come from: the connect domain's ``gateway.connections.credentials``.

A dependency (not a direct import in the service), so tests can stand in for the connect domain.
"""

from __future__ import annotations

from gateway.connections import credentials
from gateway.tools.invoke import CredentialSource

DEFAULT_CREDENTIALS: CredentialSource = credentials


async def get_credential_source() -> CredentialSource:
    """``async`` although it never awaits: FastAPI runs a plain ``def`` dependency in its
    thread pool."""
    return DEFAULT_CREDENTIALS
