"""Which network addresses a catalog's photo URLs may make the pipeline connect to.

A catalog row is untrusted text: `http://169.254.169.254/latest/meta-data/` or `http://10.0.0.5:8080/admin` as a
"photo URL" would make the pipeline fetch from inside the network it runs in, and possibly publish the answer. So
a host is resolved first and every address it resolves to is checked; one non-public address refuses the URL. The
fetcher then connects to a checked address itself (never resolving again), so DNS cannot answer differently
between the check and the connection.

Refused unless allowed: loopback, private (RFC 1918, unique-local fc00::/7), shared CGNAT space, link-local
(cloud metadata lives there), multicast, unspecified, reserved and other not-globally-routable ranges, including
those reached through IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) IPv6 forms.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Callable

__all__ = ["AddressPolicy", "address_kind", "system_resolver", "Resolver"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
# With allow_private_networks these kinds become reachable; link-local (cloud metadata), multicast, unspecified
# and reserved stay refused unless a network names them in allowed_networks.
_PRIVATE_KINDS = {"private", "loopback", "shared address space"}


def address_kind(ip: IPAddress) -> str | None:
    """None for a public unicast address, else what it is ("loopback", "private", "link-local" ...)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None)
        if embedded is not None:
            inner = address_kind(embedded)
            return f"{inner} (inside IPv6 {ip})" if inner else None
        if ip.is_site_local:
            return "private"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "shared address space"
    if ip.is_private:
        return "private"
    if ip.is_reserved or not ip.is_global:
        return "reserved"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (IPv4 and IPv6), in its order, without duplicates."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = []
    for *_, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


@dataclass(frozen=True)
class AddressPolicy:
    """`allowed_networks` (CIDRs) and `allowed_hosts` (exact host names) are always reachable; tests name
    127.0.0.0/8. `allow_private_networks` opens private, loopback and CGNAT space (an in-house photo server)."""

    allow_private_networks: bool = False
    allowed_networks: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(init=False, repr=False)

    def __post_init__(self):
        try:
            networks = tuple(ipaddress.ip_network(n, strict=False) for n in self.allowed_networks)
        except ValueError as exc:
            raise ValueError(f"allowed_networks: {exc}") from None
        object.__setattr__(self, "networks", networks)
        object.__setattr__(self, "allowed_hosts", tuple(h.strip().lower().rstrip(".") for h in self.allowed_hosts))

    def refusal(self, host: str, addresses: list[str]) -> str | None:
        """Why fetching from host (resolved to addresses) is refused, or None when it is allowed."""
        if host.lower().rstrip(".") in self.allowed_hosts:
            return None
        if not addresses:
            return f"{host} resolves to no address"
        for text in addresses:
            try:
                ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone index (fe80::1%eth0)
            except ValueError:
                return f"{host} resolves to {text!r}, which is not an IP address"
            kind = address_kind(ip)
            if kind is None or any(ip in network for network in self.networks if network.version == ip.version):
                continue
            if self.allow_private_networks and kind.split(" (", 1)[0] in _PRIVATE_KINDS:
                continue
            return (f"{host} resolves to {ip}, a {kind} address; photos are fetched only from public addresses "
                    "unless allow_private_networks or allowed_networks/allowed_hosts allow it")
        return None
