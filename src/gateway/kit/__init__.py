"""Shared infrastructure: settings, database, crypto, HTTP client, errors, queue."""
