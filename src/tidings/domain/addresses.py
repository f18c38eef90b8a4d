"""Which IP addresses a URL an API caller gave us may reach.

Webhook delivery URLs and https:// import sources come from API callers, so Tidings must
not become their way into the networks around it (server-side request forgery). The rule
is decided here, on an address (never on how a URL spells its host: ``127.1``,
``2130706433`` and ``localhost`` all become 127.0.0.1 before they are judged), and the
code that connects (``tidings.outbound``) asks it about every address it is about to use.

An address is refused when it lies in one of the ranges below; IPv6 addresses that carry an
IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are judged by that IPv4 address
too, and IPv6 outside global unicast (2000::/3) is refused as reserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True)
class Rule:
    """A range of addresses no caller-given URL may reach, and why."""

    name: str  # "loopback", "private", ...
    network: IPv4Network | IPv6Network

    def __str__(self) -> str:
        return f"{self.name} ({self.network})"


def _rules(*pairs: tuple[str, str]) -> tuple[Rule, ...]:
    return tuple(Rule(name, ip_network(network)) for name, network in pairs)


LOOPBACK_NAME = "loopback"

_IPV4_RULES = _rules(
    ("unspecified", "0.0.0.0/8"),
    ("private", "10.0.0.0/8"),
    ("shared address space", "100.64.0.0/10"),
    (LOOPBACK_NAME, "127.0.0.0/8"),
    ("link-local", "169.254.0.0/16"),
    ("private", "172.16.0.0/12"),
    ("IETF protocol assignments", "192.0.0.0/24"),
    ("documentation", "192.0.2.0/24"),
    ("6to4 relay anycast", "192.88.99.0/24"),
    ("private", "192.168.0.0/16"),
    ("benchmarking", "198.18.0.0/15"),
    ("documentation", "198.51.100.0/24"),
    ("documentation", "203.0.113.0/24"),
    ("multicast", "224.0.0.0/4"),
    ("broadcast", "255.255.255.255/32"),  # before "reserved", which holds it
    ("reserved", "240.0.0.0/4"),
)

_IPV6_RULES = _rules(
    ("unspecified", "::/128"),
    (LOOPBACK_NAME, "::1/128"),
    ("NAT64 local use", "64:ff9b:1::/48"),
    ("discard-only", "100::/64"),
    ("documentation", "2001:db8::/32"),
    ("IETF protocol assignments", "2001::/23"),  # Teredo, benchmarking, ORCHID
    ("documentation", "3fff::/20"),
    ("unique-local", "fc00::/7"),
    ("link-local", "fe80::/10"),
    ("site-local", "fec0::/10"),
    ("multicast", "ff00::/8"),
)

_GLOBAL_UNICAST = ip_network("2000::/3")
_NOT_GLOBAL_UNICAST = Rule("reserved", ip_network("::/0"))
_IPV4_COMPATIBLE = ip_network("::/96")
_NAT64 = ip_network("64:ff9b::/96")
_SIX_TO_FOUR = ip_network("2002::/16")


def refusal(address: IPAddress | str, *, allow_loopback: bool = False) -> Rule | None:
    """The rule that refuses ``address``, or None when a caller-given URL may reach it.
    ``allow_loopback`` (the server's development flag) lets loopback through, and only that."""
    parsed = ip_address(address) if isinstance(address, str) else address
    rule = _rule_for(parsed)
    if rule is not None and allow_loopback and rule.name == LOOPBACK_NAME:
        return None
    return rule


def is_loopback_host(host: str) -> bool:
    """Whether a URL's host is written as loopback (``localhost`` or a loopback IP): where
    plain http may go under the development flag. Reaching it is still up to :func:`refusal`."""
    if host == "localhost":
        return True
    try:
        rule = _rule_for(ip_address(host))
    except ValueError:
        return False
    return rule is not None and rule.name == LOOPBACK_NAME


def _rule_for(address: IPAddress) -> Rule | None:
    if isinstance(address, IPv4Address):
        return next((rule for rule in _IPV4_RULES if address in rule.network), None)
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = _rule_for(embedded)
        if inner is not None:
            return inner
    for rule in _IPV6_RULES:
        if address in rule.network:
            return rule
    if embedded is not None and address not in _SIX_TO_FOUR:
        return None  # mapped, compatible or NAT64 of a public IPv4 address
    if address not in _GLOBAL_UNICAST:
        return _NOT_GLOBAL_UNICAST
    return None


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, when it carries one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None
