"""Toolsets: OpenAPI documents imported as custom tools, with an auth binding."""
