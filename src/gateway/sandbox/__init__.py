"""The sandbox platform: a small chat platform served by the gateway itself (development)."""
