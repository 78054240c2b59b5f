"""``IsoDateTime``: a timestamp the client must spell as ISO 8601 / RFC 3339 text.

Pydantic's lax mode also reads a number (``0.5``, ``1700000000``) as Unix time and a bare date as
midnight; as API input both are almost always a mistake (a wrong unit, a missing time zone) that
would silently select the wrong range, so they are refused (422) as the schema's ``date-time``
format says.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

_DATE_AND_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _require_date_and_time(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_AND_TIME.match(value):
        raise ValueError("must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_require_date_and_time)]
