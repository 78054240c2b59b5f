"""``gateway`` — serve, worker, db, keys, tenants, api-keys, oauth-client."""

from __future__ import annotations

import typer

from gateway.cli import (
    connections_cmd,
    db_cmd,
    doctor_cmd,
    events_cmd,
    keys_cmd,
    limits_cmd,
    oauth_client_cmd,
    serve_cmd,
    tenants_cmd,
    webhooks_cmd,
)

app = typer.Typer(
    name="gateway",
    help="Self-hosted integration gateway for messaging platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_cmd.serve)
app.command("worker")(serve_cmd.worker)
app.command("doctor")(doctor_cmd.doctor)
app.add_typer(db_cmd.app, name="db")
app.add_typer(keys_cmd.app, name="keys")
tenants_cmd.tenants.command("limits")(limits_cmd.tenant_limits)
app.add_typer(tenants_cmd.tenants, name="tenants")
app.add_typer(tenants_cmd.api_keys, name="api-keys")
app.add_typer(oauth_client_cmd.app, name="oauth-client")
app.add_typer(connections_cmd.app, name="connections")
app.add_typer(webhooks_cmd.app, name="webhooks")
app.add_typer(events_cmd.app, name="events")

if __name__ == "__main__":
    app()
