"""N4: every outbound HTTP call goes through ``gateway.kit.http.create_http_client``.

A module that builds its own client skips the SSRF guard, the timeouts and the response cap
(dify#35947 and #36576 were exactly that). This test parses every module under
``src/gateway`` and fails on a client construction or a module-level request helper anywhere but
``kit/http.py``. Comments and docstrings are not code, so the check works on the AST.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE_ROOT = Path(__file__).resolve().parents[2] / "src" / "gateway"
FACTORY_MODULE = SOURCE_ROOT / "kit" / "http.py"

# module -> names that must not be called from outside the factory module
FORBIDDEN_CALLS: dict[str, frozenset[str]] = {
    "httpx": frozenset(
        {"AsyncClient", "Client", "get", "post", "put", "patch", "delete", "head", "options"}
        | {"request", "stream"}
    ),
    "aiohttp": frozenset({"ClientSession", "request"}),
    "aiohttp.client": frozenset({"ClientSession", "request"}),
    "httpx_aiohttp": frozenset({"HttpxAiohttpClient", "AiohttpTransport"}),
}


def bare_client_calls(source: str, filename: str = "<string>") -> list[str]:
    """Return ``"line: call"`` for each forbidden call in ``source``, following import aliases."""
    tree = ast.parse(source, filename)
    module_aliases: dict[str, str] = {}  # local name -> module
    name_aliases: dict[str, str] = {}  # local name -> "module.attr"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in FORBIDDEN_CALLS:
                    module_aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN_CALLS:
            for alias in node.names:
                if alias.name in FORBIDDEN_CALLS[node.module]:
                    name_aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        target: str | None = None
        if isinstance(func, ast.Name) and func.id in name_aliases:
            target = name_aliases[func.id]
        elif isinstance(func, ast.Attribute):
            dotted = _dotted(func.value)
            module = module_aliases.get(dotted or "", dotted)
            if module in FORBIDDEN_CALLS and func.attr in FORBIDDEN_CALLS[module]:
                target = f"{module}.{func.attr}"
        if target is not None:
            found.append(f"{node.lineno}: {target}(")
    return found


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        parent = _dotted(node.value)
        return f"{parent}.{node.attr}" if parent else None
    return None


def test_only_the_factory_builds_http_clients() -> None:
    offenders = {
        str(path.relative_to(SOURCE_ROOT.parent)): calls
        for path in sorted(SOURCE_ROOT.rglob("*.py"))
        if path != FACTORY_MODULE
        and (calls := bare_client_calls(path.read_text(encoding="utf-8"), str(path)))
    }
    assert offenders == {}, (
        "Build outbound clients with gateway.kit.http.create_http_client (requirement N4): "
        f"{offenders}"
    )


def test_the_factory_module_is_where_the_check_expects_it() -> None:
    # If kit/http.py moved, the exemption above would silently exempt nothing.
    assert FACTORY_MODULE.is_file()
    assert bare_client_calls(FACTORY_MODULE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "snippet",
    [
        "import httpx\nclient = httpx.AsyncClient()",
        "import httpx\nhttpx.Client(timeout=3)",
        "import httpx\nawait httpx.get('https://example.com')",
        "import httpx\nhttpx.post(url, json={})",
        "import httpx\nhttpx.request('GET', url)",
        "import httpx as h\nh.AsyncClient()",
        "from httpx import AsyncClient\nAsyncClient()",
        "from httpx import AsyncClient as C\nC(base_url=x)",
        "import aiohttp\naiohttp.ClientSession()",
        "from aiohttp import ClientSession\nClientSession()",
        "import aiohttp.client\naiohttp.client.ClientSession()",
        "from httpx_aiohttp import HttpxAiohttpClient\nHttpxAiohttpClient()",
    ],
)
def test_checker_flags_bare_clients(snippet: str) -> None:
    assert len(bare_client_calls(snippet)) == 1


@pytest.mark.parametrize(
    "snippet",
    [
        "# httpx.AsyncClient() in a comment",
        '"""Never call httpx.get(url) directly."""',
        "import httpx\nclient: httpx.AsyncClient = make()\nawait client.get(url)",
        "import httpx\nhttpx.Timeout(5)",
        "from gateway.kit.http import create_http_client\ncreate_http_client(policy=None)",
    ],
)
def test_checker_allows_typed_usage_and_the_factory(snippet: str) -> None:
    assert bare_client_calls(snippet) == []
