"""Cursor pagination: ``?limit=&cursor=`` → ``{"data": [...], "next_cursor": ...}``.

Ids are time-ordered (``kit.ids``), so "newest first, strictly older than the cursor's id" is a
stable order. The cursor is opaque to clients.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute

from gateway.kit.errors import BadRequest

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def page_params(
    limit: Annotated[int, Query(ge=1, le=200, description="Items per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("cursor is not valid", code="invalid_cursor") from None


def apply_page(
    query: Select[Any], id_column: InstrumentedAttribute[str], params: PageParams
) -> Select[Any]:
    """Newest first, one extra row to know whether there is a next page."""
    if params.cursor:
        query = query.where(id_column < decode_cursor(params.cursor))
    return query.order_by(id_column.desc()).limit(params.limit + 1)


def make_page(
    rows: list[Any], params: PageParams, convert: Any, id_of: Any = None
) -> dict[str, Any]:
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = encode_cursor((id_of or (lambda r: r.id))(rows[-1])) if more and rows else None
    return {"data": [convert(r) for r in rows], "next_cursor": next_cursor}
