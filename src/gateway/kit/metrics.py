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
DELIVERY_ATTEMPTS = Counter(
    "gateway_delivery_attempts_total", "Outbound event delivery attempts", ["outcome"]
)
DELIVERY_LATENCY = Histogram(
    "gateway_delivery_duration_seconds",
    "Subscriber response time per delivery attempt",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)
RATE_LIMITED = Counter(
    "gateway_rate_limited_total",
    "Requests refused by a rate limit (api_key, api_tenant, webhook_endpoint)",
    ["kind"],
)
QUOTA_EXCEEDED = Counter(
    "gateway_quota_exceeded_total", "Operations refused by a daily quota", ["kind"]
)
RATE_LIMITER_ERRORS = Counter(
    "gateway_rate_limiter_errors_total",
    "Limiter backend failures (the request was let through)",
    ["operation"],
)
TOOL_INVOCATIONS = Counter(
    "gateway_tool_invocations_total",
    "Tool invocations by tool (custom tools counted as 'custom') and outcome",
    ["tool", "outcome"],
)
CONNECTION_REFRESHES = Counter(
    "gateway_connection_refreshes_total", "Token refresh calls by outcome", ["provider", "outcome"]
)
