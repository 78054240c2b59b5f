"""OpenAPI schema objects → self-contained JSON Schema 2020-12, with local ``$ref`` resolution.

Every tool's ``parameters`` schema must stand alone (it is handed to an LLM or a validator without
the document), so references are inlined. A reference that recurses into itself cannot be inlined:
it becomes ``{"$ref": "#/$defs/<Name>"}`` with the definition placed in the tool schema's ``$defs``.

OpenAPI 3.0's dialect is translated: ``nullable`` → a ``"null"`` type, boolean
``exclusiveMinimum``/``exclusiveMaximum`` → the numeric form, ``example`` → ``examples``;
``discriminator``, ``xml``, ``externalDocs`` and ``x-*`` extensions are dropped. Properties marked
``readOnly`` are removed, since these schemas describe requests. 3.1 schemas are JSON Schema
already and pass through the same walk (refs, budget, read-only properties).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from gateway.kit.errors import ValidationFailed

#: Nesting deeper than this is refused (it is either a mistake or an attack on the walker).
MAX_DEPTH: Final = 64
#: Schema nodes produced for one operation, after inlining; guards against ref fan-out blow-up.
MAX_NODES: Final = 5_000

_DROPPED: Final = frozenset({"discriminator", "xml", "externalDocs"})
_SCHEMA_MAPS: Final = ("properties", "patternProperties", "dependentSchemas", "$defs")
_SCHEMA_LISTS: Final = ("allOf", "anyOf", "oneOf", "prefixItems")
_SCHEMA_ONE: Final = (
    "not",
    "contains",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_DEF_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the document: a JSON pointer into it and a message."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidOpenAPI(ValidationFailed):
    code = "invalid_openapi"
    title = "The OpenAPI document cannot be imported"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in the OpenAPI document",
            extra={"errors": [p.as_dict() for p in problems[:200]]},
        )


def pointer(*tokens: str | int) -> str:
    """A JSON pointer (RFC 6901) from raw tokens."""
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


class RefResolver:
    """Looks up local ``#/...`` references in one document."""

    def __init__(self, document: Mapping[str, Any], problems: list[Problem]) -> None:
        self.document = document
        self.problems = problems

    def lookup(self, ref: object, where: str) -> tuple[Any, str] | None:
        """``(target, pointer)`` for a local reference, or None with a problem recorded."""
        if not isinstance(ref, str):
            self.problems.append(Problem(where, "$ref must be a string"))
            return None
        if not ref.startswith("#"):
            self.problems.append(
                Problem(where, f"only local $refs ('#/...') are supported, not {ref[:200]!r}")
            )
            return None
        node: Any = self.document
        for raw in ref[1:].split("/")[1:]:
            token = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and token in node:
                node = node[token]
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                node = node[int(token)]
            else:
                self.problems.append(Problem(where, f"$ref {ref[:200]!r} does not resolve"))
                return None
        return node, ref[1:] or ""

    def follow(self, node: Any, where: str) -> tuple[Any, str] | None:
        """Follow a chain of whole-object references (parameters, request bodies, ...)."""
        for _ in range(32):
            if not (isinstance(node, Mapping) and "$ref" in node):
                return node, where
            found = self.lookup(node["$ref"], where + "/$ref")
            if found is None:
                return None
            node, where = found
        self.problems.append(Problem(where, "$ref chain is too long or circular"))
        return None


@dataclass
class SchemaConverter:
    """Converts the schemas of one operation; ``defs`` collects recursive definitions."""

    refs: RefResolver
    openapi_31: bool
    defs: dict[str, Any] = field(default_factory=dict)
    _def_names: dict[str, str] = field(default_factory=dict)
    _stack: list[str] = field(default_factory=list)
    _recursive: set[str] = field(default_factory=set)
    _nodes: int = 0
    over_budget: bool = False

    def convert(self, node: Any, where: str, depth: int = 0) -> Any:
        if isinstance(node, bool) and self.openapi_31:
            return node
        if not isinstance(node, Mapping):
            self.refs.problems.append(Problem(where, "a schema must be an object"))
            return {}
        if depth > MAX_DEPTH:
            self.refs.problems.append(Problem(where, f"schema nested deeper than {MAX_DEPTH}"))
            return {}
        self._nodes += 1
        if self._nodes > MAX_NODES:
            if not self.over_budget:
                self.over_budget = True
                self.refs.problems.append(
                    Problem(where, f"schemas exceed {MAX_NODES} nodes once $refs are resolved")
                )
            return {}
        if "$ref" in node:
            return self._convert_ref(node, where, depth)
        return self._convert_keywords(node, where, depth)

    def _convert_ref(self, node: Mapping[str, Any], where: str, depth: int) -> Any:
        ref = node["$ref"]
        if isinstance(ref, str) and ref in self._stack:
            self._recursive.add(ref)
            return {"$ref": f"#/$defs/{self._def_name(ref)}"}
        if isinstance(ref, str) and ref in self._def_names:
            return {"$ref": f"#/$defs/{self._def_names[ref]}"}
        found = self.refs.lookup(ref, where + "/$ref")
        if found is None:
            return {}
        target, target_where = found
        self._stack.append(ref)
        try:
            resolved = self.convert(target, "#" + target_where, depth + 1)
        finally:
            self._stack.pop()
        if ref in self._recursive:
            self.defs[self._def_name(ref)] = resolved
            resolved = {"$ref": f"#/$defs/{self._def_name(ref)}"}
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if siblings and self.openapi_31:
            # 3.1 allows keywords beside $ref (3.0 ignores them): keep both constraints.
            extra = self._convert_keywords(siblings, where, depth)
            return {"allOf": [resolved], **extra} if extra else resolved
        return resolved

    def _def_name(self, ref: str) -> str:
        if ref not in self._def_names:
            base = _DEF_NAME.sub("_", ref.rsplit("/", 1)[-1]) or "Schema"
            name, n = base, 2
            while name in self._def_names.values():
                name, n = f"{base}{n}", n + 1
            self._def_names[ref] = name
        return self._def_names[ref]

    def _convert_keywords(self, node: Mapping[str, Any], where: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED or key.startswith("x-"):
                continue
            here = f"{where}/{key}"
            if key in _SCHEMA_MAPS and isinstance(value, Mapping):
                out[key] = {
                    name: self.convert(sub, f"{here}/{name}", depth + 1)
                    for name, sub in value.items()
                }
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [
                    self.convert(sub, f"{here}/{i}", depth + 1) for i, sub in enumerate(value)
                ]
            elif key in _SCHEMA_ONE or (key in ("items", "additionalProperties") and value):
                if isinstance(value, bool):
                    out[key] = value
                elif key == "items" and isinstance(value, list):  # draft-4 tuple form
                    out["prefixItems"] = [
                        self.convert(sub, f"{here}/{i}", depth + 1) for i, sub in enumerate(value)
                    ]
                else:
                    out[key] = self.convert(value, here, depth + 1)
            else:
                out[key] = value
        if not self.openapi_31:
            _translate_30(out)
        _drop_read_only(out)
        return out


def _translate_30(schema: dict[str, Any]) -> None:
    """OpenAPI 3.0 schema dialect → JSON Schema 2020-12, in place."""
    if schema.pop("nullable", False) is True:
        kind = schema.get("type")
        if isinstance(kind, str):
            schema["type"] = [kind, "null"]
        if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = schema.get(exclusive)
        if isinstance(flag, bool):
            del schema[exclusive]
            if flag and bound in schema:
                schema[exclusive] = schema.pop(bound)
    if "example" in schema:
        schema.setdefault("examples", [schema.pop("example")])


def _drop_read_only(schema: dict[str, Any]) -> None:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    read_only = [
        name for name, sub in properties.items() if isinstance(sub, dict) and sub.get("readOnly")
    ]
    for name in read_only:
        del properties[name]
    required = schema.get("required")
    if read_only and isinstance(required, list):
        schema["required"] = [r for r in required if r not in read_only]
