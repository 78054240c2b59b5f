"""Turn a lookup that may find nothing into one that answers 404.

Routers build their "load X of this tenant or 404" dependencies from a repository getter::

    get_toolset_or_404 = or_404(repository.get, "no such toolset", code="toolset_not_found")

so every such dependency raises the same :class:`NotFound` (with its own stable ``code``) and
another tenant's id is indistinguishable from an unknown one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from gateway.kit.errors import NotFound

P = ParamSpec("P")
T = TypeVar("T")


def or_404(
    load: Callable[P, Awaitable[T | None]], message: str, *, code: str
) -> Callable[P, Awaitable[T]]:
    """``load``, raising ``NotFound(message, code=code)`` where it would return None."""

    async def load_or_404(*args: P.args, **kwargs: P.kwargs) -> T:
        row = await load(*args, **kwargs)
        if row is None:
            raise NotFound(message, code=code)
        return row

    return load_or_404
