"""Receive: webhook endpoints (config, rotation) and the verified, deduplicated ingest path."""
