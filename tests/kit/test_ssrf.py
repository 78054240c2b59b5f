"""The vetting layer on its own: URLs, addresses and DNS answers, with DNS stubbed.

Nothing here opens a socket; the end-to-end proofs (0 connections on a loopback listener) are in
``test_http_client.py``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.kit.ssrf import (
    DestinationBlocked,
    EgressPolicy,
    ParsedTarget,
    resolve_and_vet,
    vet_ip,
    vet_resolved,
    vet_url,
)

NO_EXCEPTIONS = EgressPolicy()
PUBLIC_V4 = "93.184.216.34"


class StubResolver:
    """Answers from a fixed table (a list per call for rebinding), recording every lookup."""

    def __init__(self, answers: Mapping[str, list[list[str]] | list[str]]) -> None:
        self._answers = {k: list(v) for k, v in answers.items()}
        self.calls: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> Sequence[Mapping[str, Any]]:
        self.calls.append(host)
        answer = self._answers[host]
        addresses = answer.pop(0) if answer and isinstance(answer[0], list) else answer
        assert isinstance(addresses, list)
        return [{"hostname": host, "host": a, "port": port} for a in addresses]


# The F12 matrix, plus spellings the matrix implies (other legacy forms, tunnels, zone ids).
BLOCKED_URLS = [
    ("http://127.0.0.1/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:a9fe:a9fe]/", "link-local"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://0/", "unspecified"),
    ("http://0x7f000001/", "loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("http://a@127.0.0.1/", "credentials"),
    ("http://a:b@example.com/", "credentials"),
    ("http://100.64.0.1/", "shared address space"),
    ("http://[fd00::1]/", "unique-local"),
    ("http://10.0.0.5/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[::]/", "unspecified"),
    ("http://[fe80::1%25eth0]/", "zone id"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fec0::1]/", "site-local"),
    ("http://[2002:7f00:1::]/", "6to4"),
    ("http://[64:ff9b::a9fe:a9fe]/", "link-local"),
    ("http://[::7f00:1]/", "IPv4-compatible"),
    ("http://%31%32%37.0.0.1/", "invalid"),
    ("http://1.2.3.4.5/", "invalid IPv4"),
    ("file:///etc/passwd", "scheme 'file'"),
    ("gopher://127.0.0.1:70/_GET", "scheme 'gopher'"),
    ("ftp://example.com/", "scheme 'ftp'"),
    ("dict://example.com:11211/", "scheme 'dict'"),
    ("http:///path-only", "no host"),
]


@pytest.mark.parametrize(("url", "reason"), BLOCKED_URLS)
def test_f12_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(DestinationBlocked) as caught:
        vet_url(url, NO_EXCEPTIONS)
    assert reason in caught.value.reason
    assert caught.value.status_code == 422
    assert caught.value.code == "destination_blocked"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/x?token=1", ParsedTarget("https", "example.com", 443, None)),
        ("http://EXAMPLE.com.:8080/", ParsedTarget("http", "example.com", 8080, None)),
        (
            f"http://{PUBLIC_V4}/",
            ParsedTarget("http", PUBLIC_V4, 80, ipaddress.ip_address(PUBLIC_V4)),
        ),
        (
            "https://[2606:4700::1111]/",
            ParsedTarget("https", "2606:4700::1111", 443, ipaddress.ip_address("2606:4700::1111")),
        ),
        ("https://bücher.example/", ParsedTarget("https", "xn--bcher-kva.example", 443, None)),
    ],
)
def test_public_destinations_are_normalised(url: str, expected: ParsedTarget) -> None:
    assert vet_url(url, NO_EXCEPTIONS) == expected


def test_localhost_with_trailing_dot_is_checked_by_resolution() -> None:
    # Statically a name like any other; the resolver's loopback answer is what blocks it.
    assert vet_url("http://localhost./", NO_EXCEPTIONS).host == "localhost"


async def test_localhost_names_resolve_to_loopback_and_are_refused() -> None:
    resolver = StubResolver({"localhost.": ["127.0.0.1", "::1"], "app.localhost": ["127.0.0.1"]})
    for host in ("localhost.", "app.localhost"):
        with pytest.raises(DestinationBlocked, match="loopback"):
            await resolve_and_vet(host, 80, NO_EXCEPTIONS, resolver)


def test_error_message_never_echoes_credentials_path_or_query() -> None:
    for url in (
        "http://alice:hunter2@10.0.0.5/admin?api_key=s3cr3t",
        "http://10.0.0.5/admin?api_key=s3cr3t",
        "gopher://alice:hunter2@example.com/admin?api_key=s3cr3t",
    ):
        with pytest.raises(DestinationBlocked) as caught:
            vet_url(url, NO_EXCEPTIONS)
        rendered = f"{caught.value} {caught.value.extra}"
        for secret in ("hunter2", "alice", "s3cr3t", "api_key", "admin"):
            assert secret not in rendered


def test_legacy_ipv4_forms_are_decoded_before_vetting() -> None:
    loopback = EgressPolicy.from_setting("127.0.0.0/8")
    # Allowed as an address, yet refused as a spelling: the error names what it decodes to.
    for host in ("2130706433", "0x7f.1", "017700000001", "127.1", "0x7f.0.0.1"):
        with pytest.raises(DestinationBlocked, match=r"non-canonical .*= 127\.0\.0\.1"):
            vet_url(f"http://{host}/", loopback)
    with pytest.raises(DestinationBlocked, match=r"= 93\.184\.216\.34"):
        vet_url("http://1572395042/", NO_EXCEPTIONS)


@pytest.mark.parametrize(
    "address",
    [
        PUBLIC_V4,
        "8.8.8.8",
        "2606:4700::1111",
        f"::ffff:{PUBLIC_V4}",  # mapped public: judged by the embedded address
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34, as DNS64 would synthesise
    ],
)
def test_global_addresses_are_allowed(address: str) -> None:
    vet_ip(address, NO_EXCEPTIONS)


@pytest.mark.parametrize(
    "address",
    # Ranges this Python's stale ``is_global`` calls global (CVE-2024-4032 era tables).
    ["224.0.0.1", "239.1.1.1", "ff02::1", "2002::1", "fec0::1", "192.88.99.1", "::7f00:1"],
)
def test_ranges_with_stale_is_global_are_still_blocked(address: str) -> None:
    with pytest.raises(DestinationBlocked):
        vet_ip(address, NO_EXCEPTIONS)


def test_allowlist_parsing() -> None:
    policy = EgressPolicy.from_setting(" 127.0.0.0/8, [::1] ,Example.Internal., ,10.1.0.0/16")
    assert policy.allowlist == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
        "example.internal",
        ipaddress.ip_network("10.1.0.0/16"),
    )
    assert EgressPolicy.from_setting("").allowlist == ()
    for bad in ("10.0.0.5/8", "not a host!", "1.2.3", "::1/200", "exa mple.com"):
        with pytest.raises(ValueError, match="invalid allowlist"):
            EgressPolicy.from_setting(bad)


def test_allowlisted_networks_are_exceptions_not_a_whitelist() -> None:
    policy = EgressPolicy.from_setting("127.0.0.0/8,::1")
    vet_ip("127.0.0.1", policy)
    vet_ip("::ffff:127.0.0.1", policy)  # mapped: the embedded address is allow-listed
    vet_ip("::1", policy)
    vet_ip(PUBLIC_V4, policy)  # public stays reachable
    for address in ("10.0.0.5", "169.254.169.254", "fd00::1"):
        with pytest.raises(DestinationBlocked):
            vet_ip(address, policy)


def test_allowlisted_hostname_admits_its_private_answers_only() -> None:
    policy = EgressPolicy.from_setting("example.internal")
    assert vet_resolved("Example.Internal.", ["10.1.2.3"], policy) == [
        ipaddress.ip_address("10.1.2.3")
    ]
    with pytest.raises(DestinationBlocked):
        vet_resolved("other.internal", ["10.1.2.3"], policy)
    with pytest.raises(DestinationBlocked):
        vet_resolved("sub.example.internal", ["10.1.2.3"], policy)  # exact names only


def test_ports_and_schemes_follow_the_policy() -> None:
    policy = EgressPolicy.from_setting("", allowed_schemes=("https",), allowed_ports=[443, 8443])
    assert vet_url("https://example.com:8443/", policy).port == 8443
    for url, reason in (
        ("https://example.com:22/", "port 22"),
        ("http://example.com/", "scheme 'http'"),
        ("https://example.com:0/", "invalid port"),
    ):
        with pytest.raises(DestinationBlocked, match=reason):
            vet_url(url, policy)


async def test_mixed_public_private_answer_is_refused() -> None:
    resolver = StubResolver({"mixed.example.com": [PUBLIC_V4, "10.0.0.5"]})
    with pytest.raises(DestinationBlocked, match="private") as caught:
        await resolve_and_vet("mixed.example.com", 443, NO_EXCEPTIONS, resolver)
    assert "10.0.0.5" not in str(caught.value)  # internal topology is not echoed


async def test_each_resolution_is_vetted_so_a_rebinding_answer_is_refused() -> None:
    resolver = StubResolver({"rebind.example.com": [[PUBLIC_V4], ["169.254.169.254"]]})
    first = await resolve_and_vet("rebind.example.com", 80, NO_EXCEPTIONS, resolver)
    assert first == [ipaddress.ip_address(PUBLIC_V4)]
    with pytest.raises(DestinationBlocked, match="link-local"):
        await resolve_and_vet("rebind.example.com", 80, NO_EXCEPTIONS, resolver)


async def test_empty_or_garbage_answers_fail_closed() -> None:
    resolver = StubResolver({"empty.example": [], "garbage.example": ["not-an-ip"]})
    with pytest.raises(DestinationBlocked, match="no addresses"):
        await resolve_and_vet("empty.example", 80, NO_EXCEPTIONS, resolver)
    with pytest.raises(DestinationBlocked, match="non-address"):
        await resolve_and_vet("garbage.example", 80, NO_EXCEPTIONS, resolver)


async def test_ip_literals_are_vetted_without_asking_dns() -> None:
    resolver = StubResolver({})
    with pytest.raises(DestinationBlocked):
        await resolve_and_vet("[::1]", 80, NO_EXCEPTIONS, resolver)
    assert await resolve_and_vet(PUBLIC_V4, 80, NO_EXCEPTIONS, resolver) == [
        ipaddress.ip_address(PUBLIC_V4)
    ]
    assert resolver.calls == []


# --- properties -----------------------------------------------------------------------------

_PRIVATE_V4 = st.one_of(
    st.integers(0x7F000000, 0x7FFFFFFF),  # 127/8
    st.integers(0x0A000000, 0x0AFFFFFF),  # 10/8
    st.integers(0xA9FE0000, 0xA9FEFFFF),  # 169.254/16
    st.integers(0xAC100000, 0xAC1FFFFF),  # 172.16/12
    st.integers(0xC0A80000, 0xC0A8FFFF),  # 192.168/16
    st.integers(0x64400000, 0x647FFFFF),  # 100.64/10
    st.integers(0x00000000, 0x00FFFFFF),  # 0/8
)


def _number(value: int, style: str) -> str:
    return {"dec": str(value), "hex": hex(value), "oct": "0" + oct(value)[2:] if value else "0"}[
        style
    ]


@st.composite
def _spelling(draw: st.DrawFn, value: int) -> str:
    """Render an IPv4 address the way inet_aton would still accept it."""
    parts = draw(st.integers(1, 4))
    octets = value.to_bytes(4, "big")
    leading = list(octets[: parts - 1])
    last = int.from_bytes(octets[parts - 1 :], "big")
    styles = st.sampled_from(["dec", "hex", "oct"])
    return ".".join(_number(n, draw(styles)) for n in [*leading, last])


@given(data=st.data(), value=_PRIVATE_V4)
def test_no_spelling_of_a_private_ipv4_address_passes(data: st.DataObject, value: int) -> None:
    host = data.draw(_spelling(value))
    with pytest.raises(DestinationBlocked):
        vet_url(f"http://{host}/", NO_EXCEPTIONS)
    with pytest.raises(DestinationBlocked):
        vet_url(f"http://[::ffff:{ipaddress.IPv4Address(value)}]/", NO_EXCEPTIONS)


@given(data=st.data(), value=st.integers(0, 2**32 - 1))
def test_every_spelling_decodes_to_its_address(data: st.DataObject, value: int) -> None:
    # Allow everything so the only refusal left is "non-canonical (= a.b.c.d)".
    everything = EgressPolicy.from_setting("0.0.0.0/0")
    host = data.draw(_spelling(value))
    expected = ipaddress.IPv4Address(value)
    if host == str(expected):
        assert vet_url(f"http://{host}/", everything).ip == expected
    else:
        # httpx itself rejects some 4-part forms (``0.0.0.01``) before we see them.
        with pytest.raises(DestinationBlocked, match=rf"= {expected}\)|invalid URL"):
            vet_url(f"http://{host}/", everything)
