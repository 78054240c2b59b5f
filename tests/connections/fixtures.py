"""Fixtures shared by the connect test packages (imported by their ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.kit.runtime import Runtime
from tests.connections.support import PlatformMock, Switchboard, serve
from tests.mocks.oauth_server import MockAuthServer, create_mock_oauth_server
from tests.mocks.oauth_wire import Style

MockFactory = Callable[..., tuple[MockAuthServer, str]]


@pytest.fixture(scope="session")
def switchboard() -> Iterator[Switchboard]:
    board = Switchboard()
    with serve(board) as base:
        board.base = base
        yield board


@pytest.fixture
def oauth_mock(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, switchboard: Switchboard
) -> Iterator[MockFactory]:
    """``oauth_mock(style, provider=None, wrap=None, **options)`` → (mock, base URL).

    Each mock is served on loopback under its own base URL; with ``provider``, that provider's
    endpoints point at the mock for this test.
    """
    keys: list[str] = []

    def make(
        style: Style, provider: str | None = None, wrap: Any = None, **options: Any
    ) -> tuple[MockAuthServer, str]:
        mock = create_mock_oauth_server(style, **options)
        key, base = switchboard.mount(wrap(mock.app) if wrap else mock.app)
        keys.append(key)
        if provider is not None:
            monkeypatch.setitem(runtime.settings.provider_base_urls, provider, base)
        return mock, base

    yield make
    for key in keys:
        switchboard.unmount(key)


@pytest.fixture
def platform(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, switchboard: Switchboard
) -> Iterator[PlatformMock]:
    """The credential endpoints of Telegram, Discord, DingTalk, WeCom and Lark, on loopback."""
    mock = PlatformMock()
    key, base = switchboard.mount(mock.app())
    for provider in ("telegram", "discord", "dingtalk", "wecom", "lark"):
        monkeypatch.setitem(runtime.settings.provider_base_urls, provider, base)
    yield mock
    switchboard.unmount(key)
