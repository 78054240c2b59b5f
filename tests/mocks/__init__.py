"""Local stand-ins for external services, runnable in-process (ASGI) or on a loopback port."""
