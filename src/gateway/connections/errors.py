"""Errors of the connections domain (rooted at ``gateway.kit.errors``)."""

from __future__ import annotations

from gateway.kit.errors import Conflict, NotFound


class ConnectionNotFound(NotFound):
    code = "connection_not_found"
    title = "Connection not found"


class ConnectionNeedsReauth(Conflict):
    """The grant or credentials were refused (or revoked): connect the account again."""

    code = "connection_needs_reauth"
    title = "The connection must be authorised again"


class ConnectionNotRefreshable(Conflict):
    code = "connection_not_refreshable"
    title = "This connection has no way to renew its token"


class ConnectionHasNoToken(Conflict):
    """A WeCom web-auth connection records who signed in; it holds no token to act with."""

    code = "connection_has_no_token"
    title = "This connection holds no credential the gateway can act with"
