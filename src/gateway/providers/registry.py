"""The explicit list of built-in providers, as a ``Final`` mapping; duplicates fail at import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from gateway.providers import (
    dingtalk,
    discord,
    generic,
    github,
    lark,
    sandbox,
    slack,
    standard,
    telegram,
    wecom,
)
from gateway.providers.base import Provider
from gateway.providers.tools import BuiltinTool

_PROVIDERS: Final[tuple[Provider, ...]] = (
    slack.PROVIDER,
    discord.PROVIDER,
    telegram.PROVIDER,
    lark.PROVIDER,
    dingtalk.PROVIDER,
    wecom.PROVIDER,
    github.PROVIDER,
    standard.PROVIDER,
    generic.PROVIDER,
    sandbox.PROVIDER,
)


def _index(providers: Iterable[Provider]) -> Mapping[str, Provider]:
    by_id: dict[str, Provider] = {}
    for provider in providers:
        for key in (provider.id, *provider.aliases):
            if key in by_id:
                raise RuntimeError(f"duplicate provider id {key!r}")
            by_id[key] = provider
    return MappingProxyType(by_id)


PROVIDERS: Final[Mapping[str, Provider]] = _index(_PROVIDERS)


def _tool_index(providers: Iterable[Provider]) -> Mapping[str, BuiltinTool]:
    tools: dict[str, BuiltinTool] = {}
    for provider in providers:
        for tool in provider.tools:
            if tool.spec.name in tools:
                raise RuntimeError(f"duplicate tool name {tool.spec.name!r}")
            tools[tool.spec.name] = tool
    return MappingProxyType(tools)


BUILTIN_TOOLS: Final[Mapping[str, BuiltinTool]] = _tool_index(_PROVIDERS)


def get_provider(provider_id: str) -> Provider | None:
    """The provider for an id or alias (``feishu`` → lark), or None."""
    return PROVIDERS.get(provider_id)


def all_providers() -> tuple[Provider, ...]:
    return _PROVIDERS
