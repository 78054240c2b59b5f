"""OpenAPI documents → tools: what an LLM will be handed, and every problem reported."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from gateway.tools.openapi_import import import_openapi
from gateway.tools.openapi_schema import InvalidOpenAPI
from gateway.tools.openapi_source import load_document
from tests.tools.support import fixture_text


def ops(source: Any, toolset: str = "tasks") -> dict[str, Any]:
    return {op.operation_id: op for op in import_openapi(source, toolset).operations}


def problems(source: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidOpenAPI) as caught:
        import_openapi(source, "tasks")
    assert caught.value.status_code == 422
    errors: list[dict[str, str]] = caught.value.extra["errors"]
    return errors


def minimal(paths: dict[str, Any], version: str = "3.0.3", **extra: Any) -> dict[str, Any]:
    return {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def test_json_and_yaml_fixtures_import_to_the_same_tools() -> None:
    from_json = import_openapi(fixture_text("tasks.json"), "tasks")
    from_yaml = import_openapi(fixture_text("tasks.yaml"), "tasks")
    assert from_json == from_yaml
    assert sorted(op.operation_id for op in from_json.operations) == [
        "createTask",
        "deleteTask",
        "getHealth",
        "getTask",
        "listTasks",
        "updateTask",
    ]
    assert from_json.servers == ("https://tasks.example.com/api/v1",)
    assert {
        s.name: (s.type, s.location, s.parameter, s.scheme)
        for s in from_json.security_schemes.values()
    } == {
        "ApiKeyHeader": ("apiKey", "header", "X-API-Key", None),
        "ApiKeyQuery": ("apiKey", "query", "api_key", None),
        "BasicAuth": ("http", None, None, "basic"),
        "OAuth": ("oauth2", None, None, None),
    }
    # The multipart upload cannot be called with JSON: reported, not fatal.
    assert [p.message for p in from_json.skipped] == [
        "the request body is neither JSON nor form data"
    ]


def test_parameters_come_from_path_query_header_and_shared_refs() -> None:
    listing = ops(fixture_text("tasks.yaml"))["listTasks"]
    schema = listing.parameters
    assert set(schema["properties"]) == {"projectId", "status", "limit", "tag", "X-Request-Id"}
    assert schema["required"] == ["projectId"]
    assert schema["additionalProperties"] is False
    # $ref'd path parameter and $ref'd enum schema were inlined, descriptions kept.
    assert schema["properties"]["projectId"]["pattern"] == "^[A-Z][A-Z0-9]{1,9}$"
    assert schema["properties"]["status"]["enum"] == ["open", "in_progress", "done"]
    assert schema["properties"]["status"]["description"] == "Only tasks in this state."
    assert listing.bindings["query"]["tag"] == {"name": "tag", "style": "form", "explode": True}
    assert listing.bindings["header"] == {
        "X-Request-Id": {"name": "X-Request-Id", "style": "simple", "explode": False}
    }
    assert listing.description.startswith("List the tasks of a project")


def test_request_body_refs_and_openapi_30_dialect_become_json_schema_2020_12() -> None:
    create = ops(fixture_text("tasks.json"))["createTask"]
    schema = create.parameters
    Draft202012Validator.check_schema(schema)
    body = schema["$defs"]["TaskInput"]  # recursive (subtasks): kept as a definition
    assert schema["properties"]["body"]["$ref"] == "#/$defs/TaskInput"
    assert body["properties"]["subtasks"]["items"] == {"$ref": "#/$defs/TaskInput"}
    assert "id" not in body["properties"]  # readOnly: not part of a request
    assert body["properties"]["due_date"]["type"] == ["string", "null"]  # nullable
    assert body["properties"]["priority"] == {
        "type": "integer",
        "minimum": 0,
        "exclusiveMaximum": 5,
    }
    assert body["properties"]["title"]["examples"] == ["Renew the TLS certificate"]
    assert body["properties"]["labels"]["items"]["required"] == ["name"]  # non-recursive: inlined
    assert schema["required"] == ["projectId", "body"]
    validator = Draft202012Validator(schema)
    good = {"projectId": "OPS", "body": {"title": "x", "subtasks": [{"title": "y"}]}}
    assert validator.is_valid(good)
    assert not validator.is_valid({"projectId": "OPS", "body": {"subtasks": [{}]}})


def test_security_requirements_decide_whether_credentials_are_injected() -> None:
    imported = ops(fixture_text("tasks.yaml"))
    assert imported["getHealth"].authenticated is False  # security: []
    assert imported["getTask"].authenticated is True


def test_openapi_31_schemas_pass_through() -> None:
    doc = minimal(
        {
            "/items/{id}": {
                "put": {
                    "operationId": "putItem",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "requestBody": {
                        "content": {
                            "application/merge-patch+json": {
                                "schema": {
                                    "$ref": "#/components/schemas/Item",
                                    "description": "sibling kept in 3.1",
                                }
                            }
                        }
                    },
                }
            }
        },
        version="3.1.0",
        components={
            "schemas": {"Item": {"type": ["string", "null"], "const": "x", "examples": ["x"]}}
        },
    )
    put = ops(doc)["putItem"]
    assert put.bindings["body"] == {
        "property": "body",
        "media_type": "application/merge-patch+json",
    }
    assert put.parameters["properties"]["body"] == {
        "allOf": [{"type": ["string", "null"], "const": "x", "examples": ["x"]}],
        "description": "sibling kept in 3.1",
    }


def test_missing_operation_ids_are_derived_and_names_sanitised() -> None:
    doc = minimal(
        {
            "/a/{b}": {"get": {"parameters": [{"name": "b", "in": "path", "required": True}]}},
            "/c": {"post": {"operationId": "c.make"}},
        }
    )
    assert set(ops(doc)) == {"get_a_b", "c_make"}


def test_name_collisions_between_locations_are_prefixed() -> None:
    doc = minimal(
        {
            "/x/{id}": {
                "get": {
                    "operationId": "x",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        },
                        {"name": "id", "in": "query", "schema": {"type": "integer"}},
                    ],
                }
            }
        }
    )
    op = ops(doc)["x"]
    assert set(op.parameters["properties"]) == {"path_id", "query_id"}
    assert op.bindings["path"]["path_id"]["name"] == "id"


def test_an_invalid_document_lists_every_problem_with_its_location() -> None:
    doc = minimal(
        {
            "/tasks/{taskId}": {
                "get": {
                    "operationId": "getTask",
                    "parameters": [{"$ref": "#/components/parameters/Missing"}],
                },
                "post": {"operationId": "getTask"},
                "delete": {
                    "operationId": "removeTask",
                    "parameters": [{"name": "x", "in": "body"}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "https://example.com/schemas/task.json"}
                            }
                        }
                    },
                },
            },
            "no-slash": {"get": {}},
        }
    )
    found = {(p["path"], p["message"]) for p in problems(doc)}
    assert found == {
        (
            "/paths/~1tasks~1{taskId}/get/parameters/0/$ref",
            "$ref '#/components/parameters/Missing' does not resolve",
        ),
        ("/paths/~1tasks~1{taskId}/get", "path variable {taskId} has no parameter"),
        ("/paths/~1tasks~1{taskId}/post/operationId", "operationId 'getTask' is not unique"),
        ("/paths/~1tasks~1{taskId}/post", "path variable {taskId} has no parameter"),
        (
            "/paths/~1tasks~1{taskId}/delete/parameters/0",
            "'in' must be path, query, header or cookie",
        ),
        ("/paths/~1tasks~1{taskId}/delete", "path variable {taskId} has no parameter"),
        (
            "/paths/~1tasks~1{taskId}/delete/requestBody/content/application~1json/schema/$ref",
            "only local $refs ('#/...') are supported, not 'https://example.com/schemas/task.json'",
        ),
        ("/paths/no-slash", "a path must start with '/'"),
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{not json: [", "not valid JSON or YAML"),
        ("- just\n- a list\n", "the document must be an object"),
        ('{"swagger": "2.0", "paths": {}}', "Swagger 2.0 is not supported"),
        ('{"openapi": "3.0.0", "paths": {}}', "the document has no paths"),
        ("a: &x [1]\nb: *x\n", "YAML aliases are not supported"),
    ],
)
def test_unusable_documents_are_refused(source: str, message: str) -> None:
    assert any(message in p["message"] for p in problems(source))


def test_overlong_operation_ids_are_refused_for_llm_name_limits() -> None:
    doc = minimal({"/x": {"get": {"operationId": "a" * 70}}})
    assert "longer than" in problems(doc)[0]["message"]


def test_ref_fan_out_cannot_explode() -> None:
    # Each level references the next twice: 2^30 nodes if inlined naively.
    schemas = {
        f"S{i}": {
            "type": "object",
            "properties": {
                "a": {"$ref": f"#/components/schemas/S{i + 1}"},
                "b": {"$ref": f"#/components/schemas/S{i + 1}"},
            },
        }
        for i in range(30)
    }
    schemas["S30"] = {"type": "string"}
    doc = minimal(
        {
            "/x": {
                "post": {
                    "operationId": "x",
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/S0"}}
                        }
                    },
                }
            }
        },
        components={"schemas": schemas},
    )
    assert any("nodes" in p["message"] for p in problems(doc))


def test_load_document_accepts_objects_and_yaml_dates() -> None:
    doc = load_document("openapi: 3.0.0\ninfo: {title: t, version: 2024-01-01}\npaths: {}\n")
    assert doc["info"]["version"] == "2024-01-01"
    assert json.dumps(doc)  # plain JSON data, storable
