from tests.sandbox.live import live_gateway

__all__ = ["live_gateway"]
