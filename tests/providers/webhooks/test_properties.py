"""Property tests: arbitrary input never verifies and never raises anything but 401/400."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.kit.errors import BadRequest, SignatureInvalid
from gateway.providers.webhooks import TOKEN_INVALID, InboundRequest
from tests.providers.webhooks.cases import CASES, NOW, Case

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,  # keep the work tree clean of .hypothesis/
    suppress_health_check=[HealthCheck.too_slow],
)

# Values that get past the cheap checks (fresh timestamps, signature-shaped strings) so the
# cryptographic comparison and the parsers are exercised too, not just "missing header".
_values = st.one_of(
    st.text(max_size=120),
    st.sampled_from([str(NOW), str(NOW * 1000), "v0=", "sha256=", "v1,", "nonce123"]),
    st.text(alphabet="0123456789abcdef", min_size=40, max_size=128),
    st.binary(min_size=32, max_size=64).map(lambda b: "v1," + base64.b64encode(b).decode()),
)
_bodies = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=80).map(lambda t: (f'{{"encrypt":"{t}"}}').encode("utf-8", "surrogatepass")),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/=", max_size=120).map(
        lambda t: f'{{"encrypt":"{t}"}}'.encode()
    ),
    st.text(max_size=80).map(
        lambda t: f"<xml><Encrypt><![CDATA[{t}]]></Encrypt></xml>".encode("utf-8", "surrogatepass")
    ),
    st.sampled_from(
        [
            b'{"type":"url_verification","challenge":"c","token":"forged-token"}',
            b'{"type":1}',
            b'{"update_id":1,"message":{}}',
            b"<!DOCTYPE x [<!ENTITY a 'b'>]><xml/>",
            b"command=%2Fx&trigger_id=1",
        ]
    ),
)


def _names(case: Case) -> st.SearchStrategy[str]:
    extra = ("content-type", "x-slack-retry-num", "x-github-delivery", "x-random")
    return st.sampled_from([*case.auth_headers, *extra])


def _query_names(case: Case) -> st.SearchStrategy[str]:
    extra = ("echostr", "msg_signature", "timeStamp", "signature", "timestamp", "nonce")
    return st.sampled_from([*case.auth_query, *extra])


@pytest.mark.parametrize("case", CASES, ids=str)
def test_arbitrary_requests_never_verify(case: Case) -> None:
    @PROPERTY_SETTINGS
    @given(
        method=st.sampled_from(["POST", "GET"]),
        headers=st.dictionaries(_names(case), _values, max_size=6),
        query=st.dictionaries(_query_names(case), _values, max_size=6),
        body=_bodies,
        now=st.sampled_from([float(NOW), NOW + 0.5]),
    )
    def check(
        method: str, headers: dict[str, str], query: dict[str, str], body: bytes, now: float
    ) -> None:
        request = InboundRequest(method=method, headers=headers, query=query, body=body, now=now)
        try:
            result: Any = case.verifier.verify(request, case.config, [case.previous_config])
        except (SignatureInvalid, BadRequest):
            return
        raise AssertionError(f"forged request verified: {result!r}")

    check()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_well_signed_arbitrary_bodies_only_raise_bad_request(case: Case) -> None:
    @PROPERTY_SETTINGS
    @given(body=_bodies)
    def check(body: bytes) -> None:
        delivery = case.sign(case.current, body, NOW)
        try:
            case.verifier.verify(delivery.request(NOW), case.config)
        except BadRequest:
            return
        except SignatureInvalid as exc:
            code = exc.code
        else:
            return
        # Only protocols whose authentication (partly) lives in the body may answer 401.
        assert not case.body_authenticated or (case.token_in_body and code == TOKEN_INVALID)

    check()
