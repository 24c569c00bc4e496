"""Who is on the other end of a request, for per-address limits.

By default the peer address of the connection. Behind a reverse proxy every request comes from
the proxy, so TRUSTED_PROXIES lists the proxies' addresses (or networks): when the peer is one
of them, ``X-Forwarded-For`` is read from the right, skipping trusted hops, and the first
address that is not a trusted proxy is the client. Addresses further left were written by the
client itself and prove nothing, so they are never used.

IPv6 clients are counted per /64 network: one subscriber usually holds a whole /64 and can
change the low bits at will.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UNKNOWN = "unknown"


def parse_networks(entries: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["127.0.0.1", "10.0.0.0/8", "::1"]``; raises ValueError naming a bad entry."""
    networks: list[IPNetwork] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {entry.strip()!r}") from None
    return tuple(networks)


def _address(text: str | None) -> IPAddress | None:
    if not text:
        return None
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51234"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    """The client's address; ``forwarded_for`` holds every ``X-Forwarded-For`` header."""
    address = _address(peer)
    if address is None or not _trusted(address, proxies):
        return address
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        parsed = _address(hop)
        if parsed is None:
            return address  # garbage: nothing left of it can be trusted
        address = parsed
        if not _trusted(address, proxies):
            return address
    return address


def address_key(address: IPAddress | None) -> str:
    """The rate-limit key of an address: itself for IPv4, its /64 for IPv6."""
    if address is None:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
