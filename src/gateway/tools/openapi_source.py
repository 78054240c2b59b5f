"""Reading an OpenAPI document: JSON or YAML text, or an already-parsed object, as plain JSON
data (what the importer walks and what the database can store).

YAML is read with a safe loader that also refuses aliases: ``&a [*a, *a, ...]`` chains ("billion
laughs") cost nothing to parse but make every later walk over the document exponential.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

import yaml

from gateway.tools.openapi_schema import InvalidOpenAPI, Problem

_MAX_DOC_DEPTH: Final = 200


def load_document(source: str | Mapping[str, Any]) -> dict[str, Any]:
    """The document as plain JSON data; JSON text first, then YAML (aliases refused)."""
    if isinstance(source, str):
        try:
            data: Any = json.loads(source)
        except ValueError:
            try:
                data = yaml.load(source, Loader=_NoAliasLoader)
            except yaml.YAMLError as exc:
                reason = str(getattr(exc, "problem", None) or "invalid YAML")
                raise InvalidOpenAPI([Problem("", f"not valid JSON or YAML: {reason}")]) from None
    else:
        data = source
    try:
        plain = _plain(data, 0)
    except _TooDeep:
        raise InvalidOpenAPI([Problem("", "document is nested too deeply")]) from None
    if not isinstance(plain, dict):
        raise InvalidOpenAPI([Problem("", "the document must be an object")])
    return plain


class _TooDeep(Exception):
    pass


def _plain(value: Any, depth: int) -> Any:
    """JSON-compatible copy: YAML dates become ISO strings, keys become strings."""
    if depth > _MAX_DOC_DEPTH:
        raise _TooDeep
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases: ``&a [*a, *a, ...]`` chains ("billion laughs") would
    make every later walk over the document exponential."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "YAML aliases are not supported", mark)
        return super().compose_node(parent, index)
