"""Subscriptions: outbound delivery of unified events to applications."""
