"""OAuth clients: a tenant's own per provider, with the system client (set by CLI) as fallback."""
