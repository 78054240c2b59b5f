"""A tool's parameter schema, compiled for the invoke path.

Validation runs on every invoke, so the common answer ("valid") comes from ``jsonschema-rs``
(~0.3 us for the bench's schema against ~20 us for ``jsonschema``). ``jsonschema``, the
reference implementation, lists the violations when the answer is "invalid", and it has the
last word there: a rejection it does not confirm is not a rejection. Both treat ``format`` as an
annotation (Draft 2020-12's default), and a schema the fast validator cannot compile is checked
by the reference one alone.

``jsonschema-rs`` fetches a remote ``$ref`` over HTTP by default: a tenant's schema would make
the gateway connect wherever it points. Its retriever here refuses every URI (the OpenAPI import
resolves local references itself; ``jsonschema`` never fetches).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, ValidationError


def _refuse(uri: str) -> Any:
    raise ValueError(f"remote schema references are not fetched: {uri}")


class ParameterValidator:
    __slots__ = ("_fast", "_reference")

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._reference = Draft202012Validator(schema)
        self._fast: Any
        try:
            self._fast = jsonschema_rs.Draft202012Validator(dict(schema), retriever=_refuse)
        except (jsonschema_rs.ValidationError, ValueError, TypeError):
            self._fast = None

    def errors(self, instance: Any) -> list[ValidationError]:
        """Every violation, ordered by where it is; empty when ``instance`` is valid."""
        if self._fast is not None and self._fast.is_valid(instance):
            return []
        return sorted(self._reference.iter_errors(instance), key=lambda e: [str(p) for p in e.path])
