"""What a generated SDK needs from the OpenAPI document, as checkable rules.

1. Every operation has an ``operationId``: unique, ``snake_case`` and readable (not FastAPI's
   generated ``<name>_<path>_<method>`` form), and at least one tag.
2. Every response is typed: a body has a schema in each of its media types; only 204, 3xx and
   HEAD answers may be bodiless.
3. Every 4xx/5xx response of a JSON API operation is ``application/problem+json`` with the
   ``Problem`` schema. The exceptions: browser pages (they answer ``text/html``), the OAuth 2.0
   token/revocation endpoints (RFC 6749 §5.2 fixes their error format) and the readiness probe
   (its 503 is the same typed report as its 200).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Final

PROBLEM_REF: Final = "#/components/schemas/Problem"
PROBLEM_TYPE: Final = "application/problem+json"
#: Operations whose error bodies are not problem documents, on purpose: RFC 6749 / RFC 7009
#: endpoints (``{"error", "error_description"}``) and the readiness probe (a status report).
NOT_PROBLEM_ERRORS: Final = frozenset({"sandbox_token", "sandbox_revoke", "readiness_check"})
_READABLE: Final = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_GENERATED: Final = re.compile(r"_(get|post|put|patch|delete|head|options)$")
_METHODS: Final = ("get", "post", "put", "patch", "delete", "head", "options")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in _METHODS
    ]


def _is_browser_page(operation: dict[str, Any]) -> bool:
    responses = operation.get("responses", {}).values()
    return any("text/html" in (response.get("content") or {}) for response in responses)


def violations(document: dict[str, Any]) -> set[str]:
    """Every rule broken, as ``"<METHOD> <path>: <what>"`` lines."""
    found: set[str] = set()
    ops = operations(document)
    ids = Counter(op.get("operationId") for _, _, op in ops)
    for method, path, op in ops:
        where = f"{method} {path}"
        op_id = op.get("operationId")
        if not op_id:
            found.add(f"{where}: no operationId")
        elif ids[op_id] > 1:
            found.add(f"{where}: operationId {op_id} is not unique")
        elif not _READABLE.match(op_id) or _GENERATED.search(op_id) or "__" in op_id:
            found.add(f"{where}: operationId {op_id} is not readable snake_case")
        if not op.get("tags"):
            found.add(f"{where}: no tag")
        browser = _is_browser_page(op)
        for status, response in op.get("responses", {}).items():
            content = response.get("content") or {}
            bodiless = status == "204" or status.startswith("3") or method == "HEAD"
            if not content and not bodiless:
                found.add(f"{where}: response {status} has no typed body")
            if misplaced_problem(content):
                found.add(f"{where}: error {status} {MISPLACED}")
                continue
            for media, body in content.items():
                if not body.get("schema"):
                    found.add(f"{where}: response {status} {media} has no schema")
            is_error = status[:1] in ("4", "5")
            if not is_error or browser or op_id in NOT_PROBLEM_ERRORS:
                continue
            schema = (content.get(PROBLEM_TYPE) or {}).get("schema") or {}
            if schema.get("$ref") != PROBLEM_REF:
                found.add(f"{where}: error {status} is not documented as problem+json Problem")
    return found


MISPLACED: Final = "has the Problem schema under application/json, none under problem+json"


def misplaced_problem(content: dict[str, Any]) -> bool:
    """``application/problem+json`` without a schema beside ``application/json`` carrying
    ``Problem``: what ``{"model": Problem, "content": {problem+json: {}}}`` renders as. A
    generated SDK then parses no error at all (the server sends problem+json)."""
    json_schema = (content.get("application/json") or {}).get("schema") or {}
    return (
        PROBLEM_TYPE in content
        and not content[PROBLEM_TYPE].get("schema")
        and json_schema.get("$ref") == PROBLEM_REF
    )
