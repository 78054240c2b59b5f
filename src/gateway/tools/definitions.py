"""Which tool a name means, and its compiled definition.

Built-in tools (``gateway.providers.registry.BUILTIN_TOOLS``) and ``message.reply`` are compiled
once at import into an immutable mapping. Custom tools come from the database and are compiled on
first use, then cached per process for ``CACHE_TTL_SECONDS`` (in ``runtime.extras``, never a
module global): the invoke hot path then needs no query to know the tool. Deleting a toolset
drops its entries from this process's cache at once; other processes notice within the TTL.

The toolset's decrypted API key / basic credentials are cached beside the definitions, for the
same TTL, keyed by toolset id *and ciphertext* (a re-encrypted or replaced secret is a new
entry): decrypting per call cost more than building the request. They live in process memory
only, as ``AuthMaterial`` (whose ``repr`` masks them), and are never logged.

LLM tool-name rules (``^[A-Za-z0-9_-]{1,64}$``) forbid the dot in ``slack.send_message``: the
catalogue exports ``slack__send_message`` and every route accepts both spellings. Toolset names
cannot contain ``_``, so the first ``__`` always marks the namespace.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.crypto import Keyring
from gateway.kit.errors import NotFound, ValidationFailed
from gateway.kit.runtime import Runtime
from gateway.providers.registry import BUILTIN_TOOLS, all_providers
from gateway.providers.tools import BuiltinTool, ToolCredentials, ToolSpec
from gateway.tools import repository
from gateway.tools.custom import (
    AuthMaterial,
    CustomToolDefinition,
    ToolsetAuth,
    auth_material,
    compile_definition,
)
from gateway.tools.validation import ParameterValidator

CACHE_TTL_SECONDS: Final = 5.0
_CACHE_MAX_ENTRIES: Final = 10_000
_CACHE_KEY: Final = "tools.definition_cache"

REPLY_TOOL: Final = "message.reply"
REPLY_SPEC: Final = ToolSpec(
    name=REPLY_TOOL,
    provider="gateway",
    description=(
        "Reply to a received event (a message, command or interaction) in the same "
        "conversation, and in its thread where the platform has threads, on whichever platform "
        "it came from (Slack, Discord, Telegram, Lark/Feishu, DingTalk, WeCom). The connection "
        "that received the event is used unless connection_id is given. Returns the platform's "
        "result for the sent message."
    ),
    parameters={
        "type": "object",
        "properties": {
            "event_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 40,
                "description": "Id of the stored event to answer (evt_…).",
            },
            "text": {"type": "string", "minLength": 1, "description": "Reply text."},
            "connection_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 40,
                "description": "Send with this connection instead of the event's.",
            },
        },
        "required": ["event_id", "text"],
        "additionalProperties": False,
    },
)

#: Names a toolset may not take: they are built-in namespaces.
RESERVED_NAMESPACES: Final = frozenset(
    {"message", "gateway"}
    | {p.id for p in all_providers()}
    | {alias for p in all_providers() for alias in p.aliases}
)


@dataclass(frozen=True)
class BuiltinDefinition:
    spec: ToolSpec
    validator: ParameterValidator
    tool: BuiltinTool | None  # None for message.reply, which routes to another tool


def _compile_builtins() -> Mapping[str, BuiltinDefinition]:
    compiled = {
        name: BuiltinDefinition(tool.spec, ParameterValidator(tool.spec.parameters), tool)
        for name, tool in BUILTIN_TOOLS.items()
    }
    compiled[REPLY_TOOL] = BuiltinDefinition(
        REPLY_SPEC, ParameterValidator(REPLY_SPEC.parameters), None
    )
    return MappingProxyType(compiled)


BUILTIN_DEFINITIONS: Final[Mapping[str, BuiltinDefinition]] = _compile_builtins()


def canonical_name(name: str) -> str:
    """``slack__send_message`` → ``slack.send_message``; dotted names are returned as given."""
    if "." not in name and "__" in name:
        namespace, _, rest = name.partition("__")
        return f"{namespace}.{rest}"
    return name


def exported_name(name: str) -> str:
    """The LLM-safe spelling of a tool name (first ``.`` → ``__``)."""
    return name.replace(".", "__", 1)


def validate(validator: ParameterValidator, name: str, params: Mapping[str, Any]) -> None:
    """Raise ``ValidationFailed`` listing every violation as a JSON pointer and a message."""
    errors = validator.errors(params)
    if not errors:
        return
    raise ValidationFailed(
        f"invalid parameters for {name}",
        code="invalid_parameters",
        extra={
            "errors": [
                {"path": "/" + "/".join(str(p) for p in e.path), "message": e.message[:500]}
                for e in errors[:50]
            ]
        },
    )


class DefinitionCache:
    """Compiled custom tools of this process, keyed by (tenant, name), with a short TTL."""

    def __init__(self, ttl: float = CACHE_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, CustomToolDefinition]] = {}
        #: (toolset id, secret ciphertext) → (expiry, decrypted material)
        self._materials: dict[tuple[str, str], tuple[float, AuthMaterial]] = {}

    def get(self, tenant_id: str, name: str) -> CustomToolDefinition | None:
        entry = self._entries.get((tenant_id, name))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, definition: CustomToolDefinition) -> None:
        if len(self._entries) >= _CACHE_MAX_ENTRIES:
            self._entries.clear()
        self._entries[(definition.tenant_id, definition.name)] = (
            time.monotonic() + self._ttl,
            definition,
        )

    def auth_material(
        self, definition: CustomToolDefinition, keyring: Keyring, creds: ToolCredentials | None
    ) -> AuthMaterial:
        """``custom.auth_material``, with the toolset's own secret decrypted once per TTL."""
        secret_enc = definition.auth.secret_enc
        if secret_enc is None or not definition.authenticated:
            return auth_material(definition, keyring, creds)  # nothing to decrypt
        key = (definition.toolset_id, secret_enc)
        now = time.monotonic()
        entry = self._materials.get(key)
        if entry is not None and entry[0] >= now:
            return entry[1]
        material = auth_material(definition, keyring, creds)
        if len(self._materials) >= _CACHE_MAX_ENTRIES:
            self._materials.clear()
        self._materials[key] = (now + self._ttl, material)
        return material

    def forget_toolset(self, tenant_id: str, toolset_id: str) -> None:
        stale = [
            key
            for key, (_, d) in self._entries.items()
            if key[0] == tenant_id and d.toolset_id == toolset_id
        ]
        for key in stale:
            del self._entries[key]
        self._forget_materials({toolset_id})

    def forget_namespace(self, tenant_id: str, namespace: str) -> None:
        prefix = f"{namespace}."
        stale = [k for k in self._entries if k[0] == tenant_id and k[1].startswith(prefix)]
        toolsets = {self._entries[k][1].toolset_id for k in stale}
        for key in stale:
            del self._entries[key]
        self._forget_materials(toolsets)

    def _forget_materials(self, toolset_ids: set[str]) -> None:
        for key in [k for k in self._materials if k[0] in toolset_ids]:
            del self._materials[key]


def definition_cache(runtime: Runtime) -> DefinitionCache:
    cache = runtime.extras.get(_CACHE_KEY)
    if cache is None:
        cache = runtime.extras[_CACHE_KEY] = DefinitionCache()
    assert isinstance(cache, DefinitionCache)
    return cache


async def custom_definition(
    session: AsyncSession, runtime: Runtime, tenant_id: str, name: str
) -> CustomToolDefinition:
    """The tenant's custom tool ``name`` (cached), or ``NotFound``."""
    cache = definition_cache(runtime)
    cached = cache.get(tenant_id, name)
    if cached is not None:
        return cached
    found = await repository.get_custom_tool(session, tenant_id, name)
    if found is None:
        raise NotFound(f"no tool named {name!r}", code="tool_not_found")
    tool, toolset = found
    definition = compile_definition(
        tenant_id=tenant_id,
        toolset_id=toolset.id,
        toolset_version=toolset.version,
        name=tool.name,
        description=tool.description,
        method=tool.method,
        path=tool.path,
        server_url=toolset.server_url,
        parameters=tool.parameters,
        bindings=tool.bindings,
        authenticated=tool.authenticated,
        auth=ToolsetAuth(
            type=toolset.auth_type,
            location=toolset.auth_in,
            name=toolset.auth_name,
            secret_enc=toolset.auth_secret_enc,
            connection_id=toolset.connection_id,
        ),
    )
    cache.put(definition)
    return definition
