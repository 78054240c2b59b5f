"""Platform providers: one package per platform; the registry is assembled in registry.py."""
