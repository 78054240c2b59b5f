"""Prometheus collectors. Defined once per process; ``/metrics`` renders the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total", "HTTP requests by route template", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOKS_ACCEPTED = Counter(
    "gateway_webhooks_accepted_total", "Verified webhooks stored", ["provider"]
)
WEBHOOKS_DUPLICATE = Counter(
    "gateway_webhooks_duplicate_total", "Verified webhooks dropped as duplicates", ["provider"]
)
WEBHOOKS_REJECTED = Counter(
    "gateway_webhooks_rejected_total", "Webhooks rejected", ["provider", "reason"]
)
QUEUE_LAG = Histogram(
    "gateway_event_queue_lag_seconds",
    "Time from receipt to processing start",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
PROCESSING_LATENCY = Histogram(
    "gateway_event_processing_seconds",
    "Time spent processing one event",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
EVENTS_PENDING = Gauge("gateway_events_pending", "Inbox rows not yet processed (last sweep)")
