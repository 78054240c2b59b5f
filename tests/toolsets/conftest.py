"""Fixtures shared with the other Act test packages."""

from tests.tools.support import real_sleep, tool_env

__all__ = ["real_sleep", "tool_env"]
