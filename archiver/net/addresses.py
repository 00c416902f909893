"""Which IP addresses the fetcher may connect to.

Only public unicast addresses, unless an address falls inside a network the user allowed
(``allow_networks``). IPv4 addresses embedded in IPv6 (mapped, NAT64, 6to4, Teredo) are judged by
the IPv4 address they carry, because that is where the packets end up.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges Python's is_global does not flag (or flags inconsistently across versions).
_EXTRA_BLOCKED: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.88.99.0/24", "198.18.0.0/15",
    "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10",
    "fec0::/10", "ff00::/8", "::/128", "::1/128",
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddress(Exception):
    """The host resolves to an address the fetcher must not reach."""

    def __init__(self, host: str, address: str, why: str):
        super().__init__(f"{host} resolves to {address} ({why}); not fetched")
        self.host = host
        self.address = address


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    compat = int(address)
    if compat >> 32 == 0 and compat > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(compat)
    return None


def why_not_public(address: IPAddress) -> str | None:
    """None when the address is public unicast; otherwise a word saying what it is."""
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = why_not_public(inner)
        return f"embeds {inner}, {reason}" if reason else None
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if any(address in net for net in _EXTRA_BLOCKED if net.version == address.version):
        return "not public"
    if not address.is_global:
        return "not public"
    return None


def vet_address(host: str, address: str, allowed: Iterable[IPNetwork] = ()) -> IPAddress:
    """Parse ``address`` and raise BlockedAddress unless it is public or explicitly allowed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip.version == net.version and ip in net for net in allowed):
        return ip
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if mapped is not None and any(net.version == 4 and mapped in net for net in allowed):
        return ip  # ::ffff:a.b.c.d is a.b.c.d itself; NAT64, 6to4 and Teredo go via a gateway
    reason = why_not_public(ip)
    if reason:
        raise BlockedAddress(host, str(ip), reason)
    return ip
