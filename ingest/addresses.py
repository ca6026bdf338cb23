"""Which network addresses feeds and pages may be fetched from: the public internet, plus what the operator
allows (`ASSISTANT_FETCH_ALLOW`).

An address is internal, and refused, when Python's `ipaddress` classes it as unspecified, loopback,
link-local, multicast, private, reserved or otherwise not global (e.g. 100.64.0.0/10, shared by carriers).
An IPv6 address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, 6to4, Teredo, NAT64
`64:ff9b::/96`) is judged by that IPv4 address too. Spellings of an IPv4 address (decimal `2130706433`,
octal `0177.1`, hex `0x7f000001`) need no handling here: the caller resolves the host first and checks the
address the resolver gives, which is the one connected to.

The allow list holds host names (matched exactly, case-insensitive: every address of that name is
allowed), IP addresses and networks in CIDR notation (`10.0.0.0/8`, `fd00::/8`).

Left out: wildcards in host names (allow the network instead) and a deny list for public addresses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ALLOW_SETTING", "AddressPolicy", "internal_kind", "parse_allow"]

ALLOW_SETTING = "ASSISTANT_FETCH_ALLOW"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def internal_kind(address: IPAddress) -> str | None:
    """What makes `address` internal ("loopback", "private", ...), or None for a public address."""
    for candidate in (*_embedded_ipv4(address), address):
        kind = _kind(candidate)
        if kind is not None:
            return kind
    return None


def _kind(address: IPAddress) -> str | None:
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address stands for (none for an IPv4 address)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [ip for ip in found if ip is not None]


def parse_allow(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """Host names and networks of an allow list; `ValueError` names an entry that is neither."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        labels = entry.rstrip(".").split(".")
        if len(entry) > 253 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
            raise ValueError(
                f"{ALLOW_SETTING} takes host names, IP addresses and CIDR networks separated by commas, "
                f"not {raw.strip()!r}"
            )
        hosts.add(entry.rstrip("."))
    return frozenset(hosts), tuple(networks)


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses, plus the hosts and networks the operator allows."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AddressPolicy:
        hosts, networks = parse_allow(entries)
        return cls(hosts, networks)

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why `address` (one of `host`'s) may not be connected to ("a loopback address"), else None."""
        kind = internal_kind(address)
        if kind is None or host.lower().rstrip(".") in self.hosts:
            return None
        if any(ip in network for ip in (address, *_embedded_ipv4(address)) for network in self.networks):
            return None
        return f"a {kind} address"
