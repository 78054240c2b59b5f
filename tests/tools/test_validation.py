"""Tool parameter validation: the fast validator and the reference one agree, the reference one
lists the violations, and compiling a schema never fetches anything."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gateway.tools.definitions import BUILTIN_DEFINITIONS
from gateway.tools.validation import ParameterValidator

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "body"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "tag": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
        "body": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 5},
                "when": {"type": "string", "format": "date-time"},
                "kind": {"enum": ["a", "b"]},
                "ratio": {"type": "number", "exclusiveMaximum": 1},
            },
        },
    },
}

INSTANCES: list[Any] = [
    {"id": 1, "body": {"name": "x"}},
    {"id": 1.0, "body": {"name": "ab"}},  # 1.0 is an integer in JSON Schema
    {"id": 2, "tag": ["ok", "fine"], "body": {"name": "héllo", "kind": "b", "ratio": 0.5}},
    {"id": 1, "body": {"name": "x", "when": "not a date"}},  # format is an annotation
    {"id": 0, "body": {"name": "x"}},
    {"id": "1", "body": {"name": "x"}},
    {"id": True, "body": {"name": "x"}},
    {"id": 1, "body": {"name": "toolong"}},
    {"id": 1, "body": {"name": ""}},
    {"id": 1, "body": {}},
    {"id": 1, "tag": ["OK"], "body": {"name": "x"}},
    {"id": 1, "body": {"name": "x", "kind": "c"}},
    {"id": 1, "body": {"name": "x", "ratio": 1}},
    {"id": 1, "body": {"name": "x"}, "extra": 1},
    {"body": {"name": "x"}},
    [],
    None,
]


@pytest.mark.parametrize("instance", INSTANCES)
def test_agrees_with_the_reference_implementation(instance: Any) -> None:
    expected = sorted(
        Draft202012Validator(SCHEMA).iter_errors(instance), key=lambda e: [str(p) for p in e.path]
    )
    got = ParameterValidator(SCHEMA).errors(instance)
    assert [(list(e.path), e.message) for e in got] == [(list(e.path), e.message) for e in expected]


def test_every_builtin_schema_compiles_for_the_fast_validator() -> None:
    for name, definition in BUILTIN_DEFINITIONS.items():
        assert definition.validator._fast is not None, name


def test_a_schema_only_the_reference_compiles_is_still_validated() -> None:
    # ``\\Z`` is a Python regex anchor jsonschema-rs does not know
    validator = ParameterValidator({"type": "string", "pattern": "^a+\\Z"})
    assert validator._fast is None
    assert validator.errors("aaa") == []
    assert [e.validator for e in validator.errors("b")] == ["pattern"]


def test_compiling_a_schema_with_a_remote_reference_connects_nowhere() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []

    def accept() -> None:
        try:
            accepted.append(listener.accept()[0])
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        validator = ParameterValidator({"$ref": f"http://127.0.0.1:{port}/schema.json"})
        thread.join()
    finally:
        listener.close()
        for connection in accepted:
            connection.close()
    assert accepted == []
    assert validator._fast is None
