"""OpenAPI 3.0 / 3.1 documents (JSON or YAML, text or object) → one tool per operation.

``import_openapi(source, toolset_name)`` returns the document's operations, each with a
self-contained JSON Schema for its parameters and the *bindings* that say where every parameter
goes in the HTTP request::

    parameters (what the caller sends)          bindings (how the request is built)
    {"petId": 7, "limit": 10,                   {"path":   {"petId": {"name": "petId"}},
     "X-Trace": "t1",                            "query":  {"limit": {"name": "limit", ...}},
     "body": {"name": "Rex"}}                    "header": {"X-Trace": {"name": "X-Trace"}},
                                                 "body":   {"property": "body",
                                                            "media_type": "application/json"}}

Path, query and header parameters keep their names (prefixed with their location only when two
locations use the same name); the request body is the ``body`` property. Local ``$ref``s are
resolved (``openapi_schema``). Every problem found is collected and raised at once as
``InvalidOpenAPI`` (422) listing a JSON pointer and a message for each. Operations the gateway
cannot call (a required cookie parameter, a body only in multipart form) are skipped and
reported, not fatal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from gateway.tools.openapi_schema import (
    InvalidOpenAPI,
    Problem,
    RefResolver,
    SchemaConverter,
    pointer,
)
from gateway.tools.openapi_source import load_document

METHODS: Final = ("get", "put", "post", "delete", "patch", "head", "options")
MAX_OPERATIONS: Final = 300
#: LLM tool names (OpenAI, Anthropic) are ``^[A-Za-z0-9_-]{1,64}$``; exported as ``ts__opId``.
MAX_EXPORTED_NAME: Final = 64
# OpenAPI says to ignore the first three; the rest frame or route the request, not the API.
_IGNORED_HEADERS: Final = frozenset(
    {"accept", "content-type", "authorization"}
    | {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "cookie"}
)
_OPERATION_ID_CHARS: Final = re.compile(r"[^A-Za-z0-9_-]+")
_TEMPLATE_VAR: Final = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True)
class SecurityScheme:
    name: str
    type: str  # apiKey | http | oauth2 | openIdConnect | mutualTLS
    location: str | None = None  # apiKey: header | query | cookie
    parameter: str | None = None  # apiKey: header or query parameter name
    scheme: str | None = None  # http: basic | bearer | ...


@dataclass(frozen=True)
class ImportedOperation:
    operation_id: str
    method: str
    path: str
    description: str
    parameters: dict[str, Any]
    bindings: dict[str, Any]
    authenticated: bool


@dataclass(frozen=True)
class ImportedDocument:
    openapi_version: str
    title: str | None
    servers: tuple[str, ...]
    operations: tuple[ImportedOperation, ...]
    security_schemes: Mapping[str, SecurityScheme]
    skipped: tuple[Problem, ...]


def import_openapi(source: str | Mapping[str, Any], toolset_name: str) -> ImportedDocument:
    """Parse and check a document; raise ``InvalidOpenAPI`` listing every problem."""
    document = load_document(source)
    problems: list[Problem] = []
    version = str(document.get("openapi", ""))
    if not re.fullmatch(r"3\.[01](\.\d+)?(-[\w.]+)?", version):
        hint = " (Swagger 2.0 is not supported)" if "swagger" in document else ""
        raise InvalidOpenAPI([Problem("/openapi", f"must be an OpenAPI 3.0 or 3.1 version{hint}")])
    refs = RefResolver(document, problems)
    info = document.get("info")
    title = info.get("title") if isinstance(info, dict) else None
    servers = _servers(document.get("servers"), problems)
    schemes = _security_schemes(document, refs)
    importer = _OperationImporter(refs, version.startswith("3.1"), toolset_name, document)
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        problems.append(Problem("/paths", "the document has no paths"))
        paths = {}
    for path, item in paths.items():
        importer.import_path(str(path), item)
    if not importer.operations and not problems:
        problems.append(Problem("/paths", "the document has no operations"))
    if len(importer.operations) > MAX_OPERATIONS:
        problems.append(Problem("/paths", f"more than {MAX_OPERATIONS} operations"))
    if problems:
        raise InvalidOpenAPI(problems)
    return ImportedDocument(
        openapi_version=version,
        title=str(title)[:200] if title else None,
        servers=servers,
        operations=tuple(importer.operations),
        security_schemes=schemes,
        skipped=tuple(importer.skipped),
    )


class _OperationImporter:
    def __init__(
        self, refs: RefResolver, openapi_31: bool, toolset: str, document: Mapping[str, Any]
    ) -> None:
        self.refs = refs
        self.problems = refs.problems
        self.openapi_31 = openapi_31
        self.max_id_length = MAX_EXPORTED_NAME - len(toolset) - 2
        self.global_security = document.get("security")
        self.operations: list[ImportedOperation] = []
        self.skipped: list[Problem] = []
        self._ids: dict[str, str] = {}

    def import_path(self, path: str, item: Any) -> None:
        where = pointer("paths", path)
        if not path.startswith("/"):
            self.problems.append(Problem(where, "a path must start with '/'"))
            return
        followed = self.refs.follow(item, where)
        if followed is None:
            return
        item, where = followed
        if not isinstance(item, dict):
            self.problems.append(Problem(where, "a path item must be an object"))
            return
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                self._operation(path, method, item[method], shared, f"{where}/{method}")

    def _operation(self, path: str, method: str, op: Any, shared: Any, where: str) -> None:
        if not isinstance(op, dict):
            self.problems.append(Problem(where, "an operation must be an object"))
            return
        operation_id = self._operation_id(path, method, op.get("operationId"), where)
        converter = SchemaConverter(self.refs, self.openapi_31)
        properties: dict[str, Any] = {}
        required: list[str] = []
        bindings: dict[str, Any] = {"path": {}, "query": {}, "header": {}, "body": None}
        params = self._merged_parameters(shared, op.get("parameters", []), where)
        names = [p["name"] for p, _ in params]
        for param, param_where in params:
            location, name = param["in"], param["name"]
            if location == "header" and name.lower() in _IGNORED_HEADERS:
                continue
            if location == "cookie":
                if param.get("required"):
                    self._skip(where, f"required cookie parameter {name!r} is not supported")
                    return
                continue
            prop = name if names.count(name) == 1 else f"{location}_{name}"
            properties[prop] = self._parameter_schema(param, param_where, converter)
            bindings[location][prop] = _binding(param)
            if param.get("required") or location == "path":
                required.append(prop)
        for var in _TEMPLATE_VAR.findall(path):
            if var not in {b["name"] for b in bindings["path"].values()}:
                self.problems.append(Problem(where, f"path variable {{{var}}} has no parameter"))
        if "requestBody" in op:
            body = self._request_body(op["requestBody"], f"{where}/requestBody", converter)
            if body == "unsupported":
                self._skip(where, "the request body is neither JSON nor form data")
                return
            if isinstance(body, _Body):
                prop = "body" if "body" not in properties else "request_body"
                properties[prop] = body.schema
                bindings["body"] = {"property": prop, "media_type": body.media_type}
                if body.required:
                    required.append(prop)
        schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }
        if converter.defs:
            schema["$defs"] = converter.defs
        if not converter.over_budget:  # checking a truncated giant would only cost time
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                self.problems.append(Problem(where, f"invalid schema: {exc.message[:300]}"))
        security = op.get("security", self.global_security)
        self.operations.append(
            ImportedOperation(
                operation_id=operation_id,
                method=method.upper(),
                path=path,
                description=_description(op, method, path),
                parameters=schema,
                bindings=bindings,
                authenticated=not (isinstance(security, list) and not security),
            )
        )

    def _skip(self, where: str, reason: str) -> None:
        self.skipped.append(Problem(where, reason))

    def _operation_id(self, path: str, method: str, raw: Any, where: str) -> str:
        derived = "_".join([method, *(s.strip("{}") for s in path.split("/") if s)])
        given = raw if isinstance(raw, str) and raw.strip() else derived
        operation_id = _OPERATION_ID_CHARS.sub("_", given.strip()).strip("_") or method
        if operation_id in self._ids:
            self.problems.append(
                Problem(f"{where}/operationId", f"operationId {operation_id!r} is not unique")
            )
        elif len(operation_id) > self.max_id_length:
            self.problems.append(
                Problem(
                    f"{where}/operationId",
                    f"operationId {operation_id[:80]!r} is longer than {self.max_id_length} "
                    "characters (tool names are limited to 64 with the toolset name)",
                )
            )
        self._ids[operation_id] = where
        return operation_id

    def _merged_parameters(
        self, shared: Any, own: Any, where: str
    ) -> list[tuple[dict[str, Any], str]]:
        merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        for raw_list, list_where in ((shared, "parameters"), (own, f"{where}/parameters")):
            if not isinstance(raw_list, list):
                self.problems.append(Problem(list_where, "parameters must be a list"))
                continue
            for i, raw in enumerate(raw_list):
                followed = self.refs.follow(raw, f"{list_where}/{i}")
                if followed is None:
                    continue
                param, param_where = followed
                name, location = (
                    (param.get("name"), param.get("in"))
                    if isinstance(param, dict)
                    else (None, None)
                )
                if not isinstance(name, str) or not name:
                    self.problems.append(Problem(param_where, "a parameter needs a name"))
                elif location not in ("path", "query", "header", "cookie"):
                    self.problems.append(
                        Problem(param_where, "'in' must be path, query, header or cookie")
                    )
                else:
                    assert isinstance(param, dict)
                    merged[(location, name)] = (param, param_where)
        return list(merged.values())

    def _parameter_schema(
        self, param: Mapping[str, Any], where: str, converter: SchemaConverter
    ) -> Any:
        raw = param.get("schema")
        raw_where = f"{where}/schema"
        content = param.get("content")
        if raw is None and isinstance(content, dict) and content:
            media_type, media = next(iter(content.items()))
            raw = media.get("schema") if isinstance(media, dict) else None
            raw_where = f"{where}/content/{pointer(media_type)[1:]}/schema"
        schema = converter.convert(raw, raw_where) if raw is not None else {"type": "string"}
        if isinstance(schema, dict) and "description" in param and "description" not in schema:
            schema = {**schema, "description": str(param["description"])[:1000]}
        return schema

    def _request_body(
        self, raw: Any, where: str, converter: SchemaConverter
    ) -> _Body | Literal["unsupported"] | None:
        followed = self.refs.follow(raw, where)
        if followed is None:
            return None
        body, where = followed
        content = body.get("content") if isinstance(body, dict) else None
        if not isinstance(content, dict) or not content:
            self.problems.append(Problem(where, "a request body needs 'content'"))
            return None
        media_type = _pick_media_type(content)
        if media_type is None:
            return "unsupported" if body.get("required") else None
        media = content[media_type]
        raw_schema = media.get("schema") if isinstance(media, dict) else None
        media_where = f"{where}/content/{pointer(media_type)[1:]}/schema"
        schema = converter.convert(raw_schema, media_where) if raw_schema is not None else {}
        if isinstance(schema, dict) and body.get("description") and "description" not in schema:
            schema = {**schema, "description": str(body["description"])[:1000]}
        return _Body(media_type, schema, bool(body.get("required")))


@dataclass(frozen=True)
class _Body:
    media_type: str
    schema: Any
    required: bool


def _binding(param: Mapping[str, Any]) -> dict[str, Any]:
    location = param["in"]
    style = param.get("style") or ("form" if location == "query" else "simple")
    explode = param.get("explode")
    return {
        "name": param["name"],
        "style": style,
        "explode": bool(explode) if explode is not None else style == "form",
    }


def _pick_media_type(content: Mapping[str, Any]) -> str | None:
    types = [str(t) for t in content]
    for candidate in types:
        bare = candidate.split(";")[0].strip().lower()
        if bare == "application/json" or (bare.startswith("application/") and "+json" in bare):
            return candidate
    for candidate in types:
        if candidate.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            return candidate
    return None


def _description(op: Mapping[str, Any], method: str, path: str) -> str:
    parts = [str(op[k]).strip() for k in ("summary", "description") if op.get(k)]
    text = "\n\n".join(p for p in parts if p) or f"{method.upper()} {path}"
    return text[:1024]


def _servers(raw: Any, problems: list[Problem]) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(Problem("/servers", "servers must be a list"))
        return ()
    urls: list[str] = []
    for i, server in enumerate(raw):
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            problems.append(Problem(pointer("servers", i), "a server needs a url"))
            continue
        url = server["url"]
        variables = server.get("variables") if isinstance(server.get("variables"), dict) else {}
        for var in _TEMPLATE_VAR.findall(url):
            spec = variables.get(var) if isinstance(variables, dict) else None
            default = spec.get("default") if isinstance(spec, dict) else None
            if default is None:
                problems.append(
                    Problem(pointer("servers", i, "url"), f"server variable {var!r} has no default")
                )
                continue
            url = url.replace("{" + var + "}", str(default))
        urls.append(url)
    return tuple(urls)


def _security_schemes(document: Mapping[str, Any], refs: RefResolver) -> dict[str, SecurityScheme]:
    components = document.get("components")
    raw = components.get("securitySchemes") if isinstance(components, dict) else None
    schemes: dict[str, SecurityScheme] = {}
    if not isinstance(raw, dict):
        return schemes
    for name, value in raw.items():
        followed = refs.follow(value, pointer("components", "securitySchemes", name))
        if followed is None or not isinstance(followed[0], dict):
            continue
        spec = followed[0]
        schemes[str(name)] = SecurityScheme(
            name=str(name),
            type=str(spec.get("type", "")),
            location=spec.get("in") if isinstance(spec.get("in"), str) else None,
            parameter=spec.get("name") if isinstance(spec.get("name"), str) else None,
            scheme=str(spec["scheme"]).lower() if isinstance(spec.get("scheme"), str) else None,
        )
    return schemes
