"""RFC 9457 problem+json rendering for every error, validation errors included.

No handler ever echoes request input (it may hold secrets) or a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.kit.db import DB_UNAVAILABLE_ERRORS
from gateway.kit.errors import GatewayError
from gateway.kit.logging import request_id_var

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    """A request field that failed validation."""

    loc: list[str | int]
    msg: str
    type: str


class PointerError(BaseModel):
    """A problem inside a JSON document the request carried (an imported OpenAPI document,
    a tool's parameters): where, as a JSON pointer, and what."""

    path: str = Field(description="JSON pointer (RFC 6901) into the document")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document with a stable machine ``code``."""

    type: str = Field(description="URI reference identifying the problem type")
    title: str
    status: int
    code: str = Field(description="Stable machine-readable error code")
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError | PointerError] | None = Field(
        default=None, description="Validation errors"
    )
    retry_after: float | None = None


def problem_response(
    request: Request | None,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "code": code,
    }
    if detail and detail != title:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


_STATUS_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Request body exceeds the limit"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def _is_json(request: Request) -> bool:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype == "application/json" or ctype.endswith("+json")


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    if exc.status_code >= 500:
        logger.error("%s: %s", exc.code, exc.message)
    return problem_response(
        request,
        status=exc.status_code,
        code=exc.code,
        title=exc.title,
        detail=exc.message,
        headers=exc.headers or None,
        extra=exc.extra or None,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    body_errors = [e for e in errors if e.get("loc", ())[:1] == ("body",)]
    if body_errors and any(e.get("type") == "json_invalid" for e in body_errors):
        return problem_response(
            request, status=400, code="malformed_json", title="Request body is not valid JSON"
        )
    if body_errors and request.method in {"POST", "PUT", "PATCH"} and not _is_json(request):
        return problem_response(
            request,
            status=415,
            code="unsupported_media_type",
            title="Send the request body as application/json",
        )
    cleaned = [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        title="Request failed validation",
        extra={"errors": cleaned},
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _STATUS_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _db_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", type(exc).__name__)
    return problem_response(
        request,
        status=503,
        code="database_unavailable",
        title="The database is unavailable; nothing was stored, retry later",
        headers={"Retry-After": "5"},
    )


# SQLSTATE 22021 (character_not_in_repertoire): PostgreSQL cannot hold a NUL character in
# text, so a value carrying one (``%00`` in a path, ``\u0000`` in JSON) fails in the driver.
# That is bad input, not a fault; SQLite stores NUL, so only this tier ever raises it.
_NUL_IN_TEXT = "22021"


async def _db_refused_input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    driver_error = getattr(exc.orig, "driver_exception", None) or getattr(
        exc.orig, "__cause__", None
    )
    if getattr(driver_error, "sqlstate", None) != _NUL_IN_TEXT:
        return await _unexpected(request, exc)
    return problem_response(
        request,
        status=422,
        code="invalid_characters",
        title="Text in the request contains a NUL character",
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(request, status=500, code="internal_error", title="Internal error")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _db_refused_input)
    for exc_type in DB_UNAVAILABLE_ERRORS:
        if issubclass(exc_type, Exception):
            app.add_exception_handler(exc_type, _db_unavailable)
    app.add_exception_handler(Exception, _unexpected)


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}, "description": desc}
    for status, desc in [
        (400, "Bad request"),
        (401, "Missing or invalid API key"),
        (404, "Not found (or owned by another tenant)"),
        (413, "Request body too large"),
        (415, "Unsupported media type"),
        (422, "Validation failed"),
        (429, "Rate limited"),
        (503, "A backing service is unavailable"),
    ]
}


def move_problems_to_their_media_type(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI renders a response ``model`` under application/json; errors are sent as
    application/problem+json, so the OpenAPI document (and generated SDKs) must say so."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                content = response.get("content") or {}
                problem = (content.get("application/json") or {}).get("schema", {})
                if PROBLEM_MEDIA_TYPE in content and problem.get("$ref", "").endswith("/Problem"):
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return schema


_RATE_LIMIT_HEADERS: dict[str, Any] = {
    name: {"description": description, "schema": {"type": "integer"}}
    for name, description in [
        ("RateLimit-Limit", "Requests allowed in the window of the tightest bucket"),
        ("RateLimit-Remaining", "Requests left in that window"),
        ("RateLimit-Reset", "Seconds until that bucket is full again"),
    ]
} | {
    "RateLimit-Policy": {
        "description": "The tightest bucket as `limit;w=window_seconds`",
        "schema": {"type": "string"},
    }
}


def document_api_limits(schema: dict[str, Any]) -> dict[str, Any]:
    """Every authenticated operation can answer 401 and 429 (the per-key and per-tenant rate
    limits run in the authentication dependency) and carries the rate-limit headers; say so
    in the document so generated SDKs and fuzzers expect them."""
    problem = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or not operation.get("security"):
                continue
            responses = operation.setdefault("responses", {})
            for status in ("401", "429"):
                if status not in responses:
                    responses[status] = {
                        "description": PROBLEM_RESPONSES[int(status)]["description"],
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": problem}},
                    }
            responses["429"].setdefault("headers", {})["Retry-After"] = {
                "description": "Seconds to wait before retrying",
                "schema": {"type": "integer"},
            }
            for status, response in responses.items():
                if status.startswith("2"):
                    response.setdefault("headers", {}).update(_RATE_LIMIT_HEADERS)
    return schema


def document_request_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the refusals the shared machinery gives regardless of the route: a JSON body
    that does not parse is 400 and a body that is not JSON is 415 (``_validation_error``), and
    a `cursor` that is not one of ours is 400 (``kit.pagination``)."""
    problem = {"$ref": "#/components/schemas/Problem"}
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            statuses: list[str] = []
            body = (operation.get("requestBody") or {}).get("content") or {}
            if "application/json" in body:
                statuses += ["400", "415"]
            parameters = operation.get("parameters") or []
            if any(p.get("in") == "query" and p.get("name") == "cursor" for p in parameters):
                statuses.append("400")
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(
                    status,
                    {
                        "description": PROBLEM_RESPONSES[int(status)]["description"],
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": problem}},
                    },
                )
    return schema


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json for the given statuses."""
    return {s: PROBLEM_RESPONSES[s] for s in statuses if s in PROBLEM_RESPONSES}
