"""A tool's output: the upstream body parsed as JSON when it is JSON, else text, never a crash."""

from __future__ import annotations

import httpx
import pytest

from gateway.tools.invoke import decode_output

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        (
            JSON,
            b'{"ok": true, "n": 12345678901234567890, "x": 1.5}',
            {"ok": True, "n": 12345678901234567890, "x": 1.5},
        ),
        ({}, b"[1, 2]", [1, 2]),  # no content type, but it is JSON
        ({"content-type": "text/plain"}, b"plain words", "plain words"),
        (JSON, b'{"cut": ', '{"cut": '),  # claimed JSON, is not
        (JSON, b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
        (JSON, b"", None),
    ],
)
def test_json_text_or_nothing(headers: dict[str, str], body: bytes, expected: object) -> None:
    assert decode_output(httpx.Response(200, headers=headers), body) == expected


def test_a_body_nested_beyond_the_parsers_limit_is_returned_as_text() -> None:
    body = b"[" * 5000 + b"]" * 5000
    assert decode_output(httpx.Response(200, headers=JSON), body) == body.decode()
