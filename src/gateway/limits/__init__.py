"""Per-tenant API rate limits, webhook flood control and daily quotas."""
