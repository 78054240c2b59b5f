from tests.connections.fixtures import oauth_mock, platform, switchboard

__all__ = ["oauth_mock", "platform", "switchboard"]
