"""Egress vetting: which destinations an outbound request to a user-supplied URL may reach.

Three checks, applied by the HTTP client factory (``gateway.kit.http``) at the points where the
decision is final:

1. ``vet_url`` — static checks on the URL: scheme, port, no userinfo, host syntax. IP-literal
   hosts (including legacy spellings such as ``2130706433`` or ``0x7f.1``) are decoded and vetted
   here because aiohttp never passes them to a resolver.
2. ``resolve_and_vet`` / ``vet_resolved`` — every DNS answer for a hostname is vetted; one blocked
   answer rejects the whole name (a mixed public/private answer is an attack, not a fallback).
   The HTTP client connects only to the addresses that were vetted (pinning), so a rebinding
   resolver cannot swap in a private address between the check and the connect.
3. ``vet_ip`` — one address: allowed only if globally routable, or explicitly allow-listed.

``vet_ip`` does not trust ``ipaddress.is_global`` alone: this runtime's Python (3.11.7) predates
the CVE-2024-4032 table fixes and reports e.g. multicast, ``2002::/16`` (6to4), ``fec0::/10`` and
``64:ff9b::/96`` as global. An explicit table of IANA special-purpose ranges is checked as well.

Decisions:

- **Userinfo is rejected**, not stripped: ``http://a@127.0.0.1`` is a classic parser-confusion
  trick, and credentials in URLs end up in logs (requirement O9). Put credentials in headers.
- **Non-canonical IPv4 spellings are refused even when the address itself would be allowed.**
  They are decoded (so the error names the real target), but glibc, yarl and WHATWG parsers
  disagree on them, aiohttp itself refuses most of them, and no legitimate integration uses them.
- **IPv6 zone ids are refused**; a scoped address is link-local by construction.
- The allowlist is a list of *exceptions* to the guard (``GATEWAY_OUTBOUND_ALLOWLIST``): a CIDR
  entry admits addresses inside it, a hostname entry admits whatever that exact name resolves to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from gateway.kit.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}

# Ranges that are never a legitimate destination for a user-supplied URL, checked in addition to
# the ``ipaddress`` flags because this Python's flags are stale (see module docstring). Sources:
# IANA IPv4/IPv6 Special-Purpose Address Registries (entries not "globally reachable"), plus
# deprecated tunnelling prefixes whose embedded IPv4 address could smuggle a private target.
_SPECIAL_PURPOSE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), reason)
    for cidr, reason in (
        ("0.0.0.0/8", "unspecified (this network)"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignment (Teredo, benchmarking, ORCHID)"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing"),
        ("fc00::/7", "unique-local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)

# NAT64 well-known prefix: DNS64 synthesises these for IPv4-only hosts on IPv6-only networks, so
# they are legitimate, but the embedded IPv4 address is the real destination and is vetted.
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")

# A hostname label after IDNA encoding (httpx has already lower-cased and punycoded it).
# Underscores are tolerated because real service records use them.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# inet_aton number forms; ``str.isdigit``/``int`` would also accept "²", "+5" and "1_0".
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX_NUMBER = re.compile(r"0x[0-9a-f]*")
_OCTAL = re.compile(r"0[0-7]+")


class DestinationBlocked(ValidationFailed):
    """The URL's destination is not allowed by the egress policy.

    422: the request was well-formed but names a destination the gateway refuses to reach.
    The message names the host and the reason, never credentials, paths or query strings.
    """

    code = "destination_blocked"
    title = "Destination is not allowed"

    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(
            f"Outbound request to {host!r} refused: {reason}",
            extra={"host": host, "reason": reason},
        )


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """What outbound requests to user-supplied URLs may reach.

    ``allowlist`` holds exceptions to the guard: networks (``127.0.0.0/8``, ``::1``) and exact
    hostnames (``example.internal``). ``allowed_ports=None`` admits any port.
    """

    allowlist: tuple[IPNetwork | str, ...] = ()
    allowed_schemes: tuple[str, ...] = ("http", "https")
    allowed_ports: frozenset[int] | None = None
    # Split once so the per-request checks do not re-classify the allowlist.
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _hostnames: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks = tuple(e for e in self.allowlist if not isinstance(e, str))
        hostnames = frozenset(_normalise_name(e) for e in self.allowlist if isinstance(e, str))
        object.__setattr__(self, "_networks", networks)
        object.__setattr__(self, "_hostnames", hostnames)

    @classmethod
    def from_setting(
        cls,
        value: str,
        *,
        allowed_schemes: tuple[str, ...] = ("http", "https"),
        allowed_ports: Iterable[int] | None = None,
    ) -> EgressPolicy:
        """Parse a comma-separated allowlist such as ``"127.0.0.0/8,::1,example.internal"``.

        Raises ``ValueError`` on an entry that is neither a network nor a hostname, and on a
        network with host bits set (``10.0.0.5/8`` is almost certainly a typo).
        """
        entries: list[IPNetwork | str] = []
        for raw in value.split(","):
            entry = raw.strip()
            if not entry:
                continue
            unbracketed = entry[1:-1] if entry.startswith("[") and entry.endswith("]") else entry
            try:
                entries.append(ipaddress.ip_network(unbracketed, strict=True))
                continue
            except ValueError:
                if any(c in unbracketed for c in ":/") or _ends_in_number(unbracketed):
                    raise ValueError(f"invalid allowlist network: {entry!r}") from None
            name = _normalise_name(entry)
            if not _is_valid_hostname(name):
                raise ValueError(f"invalid allowlist entry: {entry!r}")
            entries.append(name)
        return cls(
            allowlist=tuple(entries),
            allowed_schemes=tuple(s.lower() for s in allowed_schemes),
            allowed_ports=frozenset(allowed_ports) if allowed_ports is not None else None,
        )

    def allows_hostname(self, host: str) -> bool:
        """True if ``host`` is an allow-listed name (its answers skip address vetting)."""
        return bool(self._hostnames) and _normalise_name(host) in self._hostnames

    def allows_address(self, ip: IPAddress) -> bool:
        """True if ``ip`` (or the IPv4 address it embeds) is inside an allow-listed network."""
        if not self._networks:
            return False
        effective = _embedded_ipv4(ip) or ip
        return any(ip in net or effective in net for net in self._networks)


@dataclass(frozen=True, slots=True)
class ParsedTarget:
    """A vetted URL destination.

    ``host`` is normalised: a lower-case IDNA hostname without trailing dot, or the compressed
    text of an IP address. ``ip`` is set when the URL named an address rather than a hostname;
    hostnames still need ``resolve_and_vet`` (the HTTP client does this when it connects).
    """

    scheme: str
    host: str
    port: int
    ip: IPAddress | None


class Resolver(Protocol):
    """Anything shaped like ``aiohttp.abc.AbstractResolver.resolve``: answers carry ``"host"``."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> Sequence[Mapping[str, Any]]: ...


def vet_url(url: str | httpx.URL, policy: EgressPolicy) -> ParsedTarget:
    """Check a URL statically against ``policy`` and return its normalised destination.

    Refuses (``DestinationBlocked``): unparseable URLs, schemes other than the policy's, ports
    outside ``allowed_ports``, any userinfo, IPv6 zone ids, malformed hostnames, IP literals that
    ``vet_ip`` blocks, and non-canonical IPv4 spellings. Hostnames are *not* resolved here.
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise DestinationBlocked("(unparseable URL)", "invalid URL") from None
    scheme = parsed.scheme.lower()
    # ``raw_host`` is the IDNA (ASCII) form that is actually resolved; ``host`` would be Unicode.
    raw_host = parsed.raw_host.decode("ascii", errors="replace")
    shown = raw_host or "(no host)"
    if scheme not in policy.allowed_schemes:
        raise DestinationBlocked(shown, f"scheme {scheme or '(none)'!r} is not allowed")
    if not raw_host:
        raise DestinationBlocked(shown, "URL has no host")
    if parsed.userinfo:
        raise DestinationBlocked(shown, "credentials in the URL are not allowed")
    port = parsed.port if parsed.port is not None else DEFAULT_PORTS.get(scheme)
    if port is None or not 0 < port < 65536:
        raise DestinationBlocked(shown, "invalid port")
    if policy.allowed_ports is not None and port not in policy.allowed_ports:
        raise DestinationBlocked(shown, f"port {port} is not allowed")

    if ":" in raw_host:
        # httpx strips the brackets; a zone id arrives percent-encoded (``fe80::1%25eth0``).
        if "%" in raw_host:
            raise DestinationBlocked(raw_host, "IPv6 zone ids are not allowed")
        try:
            ip: IPAddress = ipaddress.IPv6Address(raw_host)
        except ValueError:
            raise DestinationBlocked(raw_host, "invalid IPv6 address") from None
        vet_ip(ip, policy, host=raw_host)
        return ParsedTarget(scheme, ip.compressed, port, ip)

    host = raw_host[:-1] if raw_host.endswith(".") else raw_host
    if _ends_in_number(host):
        # WHATWG rule: a host whose last label is numeric is an IPv4 address or invalid, never a
        # name — otherwise getaddrinfo would quietly decode it the inet_aton way.
        decoded = _parse_legacy_ipv4(host)
        if decoded is None:
            raise DestinationBlocked(raw_host, "invalid IPv4 address")
        vet_ip(decoded, policy, host=raw_host)
        if raw_host != str(decoded):
            raise DestinationBlocked(raw_host, f"non-canonical IPv4 address (= {decoded})")
        return ParsedTarget(scheme, str(decoded), port, decoded)

    if not _is_valid_hostname(host):
        raise DestinationBlocked(raw_host, "invalid hostname")
    return ParsedTarget(scheme, host, port, None)


def vet_ip(ip: IPAddress | str, policy: EgressPolicy, *, host: str | None = None) -> None:
    """Raise ``DestinationBlocked`` unless ``ip`` may be reached under ``policy``.

    Allowed: addresses inside an allow-listed network, otherwise only globally routable unicast
    addresses. IPv4-mapped (``::ffff:a.b.c.d``) and NAT64 (``64:ff9b::a.b.c.d``) addresses are
    judged by the IPv4 address they embed. ``host`` only names the target in the error.
    """
    shown = host if host is not None else str(ip)
    try:
        address = ip if not isinstance(ip, str) else ipaddress.ip_address(ip)
    except ValueError:
        raise DestinationBlocked(shown, "not an IP address") from None
    if policy.allows_address(address):
        return
    reason = blocked_reason(address)
    if reason is not None:
        raise DestinationBlocked(shown, f"{reason} address")


def blocked_reason(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination (ignoring any allowlist), or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return "scoped (zone id)"
    effective = _embedded_ipv4(ip) or ip
    for network, reason in _SPECIAL_PURPOSE:
        if effective.version == network.version and effective in network:
            return reason
    # Belt and braces for ranges the table misses; each flag errs towards blocking.
    if effective.is_multicast:
        return "multicast"
    if effective.is_reserved or effective.is_unspecified:
        return "reserved"
    if effective.is_private or effective.is_loopback or effective.is_link_local:
        return "private"
    if isinstance(effective, ipaddress.IPv6Address) and effective.is_site_local:
        return "site-local"
    if not effective.is_global:
        return "non-global"
    return None


def vet_resolved(
    host: str, addresses: Iterable[str | IPAddress], policy: EgressPolicy
) -> list[IPAddress]:
    """Vet every DNS answer for ``host``; one blocked answer rejects the name.

    Answers for an allow-listed hostname are accepted as they are. An empty answer is refused
    (fail closed) rather than passed on as "nothing to vet".
    """
    parsed: list[IPAddress] = []
    for answer in addresses:
        if isinstance(answer, str):
            try:
                parsed.append(ipaddress.ip_address(answer))
            except ValueError:
                raise DestinationBlocked(host, "resolver returned a non-address") from None
        else:
            parsed.append(answer)
    if not parsed:
        raise DestinationBlocked(host, "name resolved to no addresses")
    if policy.allows_hostname(host):
        return parsed
    for address in parsed:
        reason = None if policy.allows_address(address) else blocked_reason(address)
        if reason is not None:
            # Name the host, not the address list: which answer was private is for the logs of
            # whoever runs DNS, and echoing internal addresses back to a caller is a leak.
            raise DestinationBlocked(host, f"name resolves to a {reason} address")
    return parsed


async def resolve_and_vet(
    host: str,
    port: int,
    policy: EgressPolicy,
    resolver: Resolver | None = None,
    *,
    family: socket.AddressFamily = socket.AF_UNSPEC,
) -> list[IPAddress]:
    """Resolve ``host`` and return its addresses, all vetted; IP literals are vetted directly.

    ``resolver`` defaults to the system resolver (``getaddrinfo`` in a thread). Use this for early
    feedback (e.g. when a webhook subscription is saved); the connection-time check in the HTTP
    client is the one that counts, because DNS may answer differently later.
    """
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        literal: IPAddress | None = ipaddress.ip_address(candidate)
    except ValueError:
        literal = None
    if literal is not None:
        vet_ip(literal, policy, host=host)
        return [literal]
    answers = await (resolver or _SystemResolver()).resolve(host, port, family)
    return vet_resolved(host, [str(a["host"]) for a in answers], policy)


class _SystemResolver:
    """The platform resolver, shaped like an aiohttp resolver (no aiohttp import needed here)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[dict[str, Any]]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM
        )
        return [{"host": str(info[4][0]), "port": port} for info in infos]


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _normalise_name(host: str) -> str:
    host = host.strip().lower()
    return host[:-1] if host.endswith(".") else host


def _is_valid_hostname(host: str) -> bool:
    return 0 < len(host) <= 253 and all(_LABEL.fullmatch(label) for label in host.split("."))


def _ends_in_number(host: str) -> bool:
    last = host.lower().rsplit(".", 1)[-1]
    return bool(re.fullmatch(r"[0-9]+", last) or _HEX_NUMBER.fullmatch(last))


def _parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Decode the inet_aton/WHATWG IPv4 forms: 1 to 4 parts, each decimal, 0x-hex or 0-octal."""
    parts = host.lower().split(".")
    if len(parts) > 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if _DECIMAL.fullmatch(part):
            numbers.append(int(part, 10))
        elif _HEX_NUMBER.fullmatch(part):
            numbers.append(int(part[2:] or "0", 16))
        elif _OCTAL.fullmatch(part):
            numbers.append(int(part, 8))
        else:
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)
