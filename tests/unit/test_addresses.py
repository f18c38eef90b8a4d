"""The address rule for URLs API callers give (webhooks, imports), against hand-written cases
taken from the IANA special-purpose address registries."""

from __future__ import annotations

import pytest

from tidings.domain.addresses import refusal

REFUSED = {
    # address: the rule's name
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "0.0.0.0": "unspecified",
    "0.1.2.3": "unspecified",
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "100.64.0.1": "shared address space",
    "100.127.255.255": "shared address space",
    "169.254.169.254": "link-local",  # the cloud metadata service
    "192.0.0.8": "IETF protocol assignments",
    "192.0.2.1": "documentation",
    "198.51.100.7": "documentation",
    "203.0.113.9": "documentation",
    "198.18.0.1": "benchmarking",
    "198.19.255.255": "benchmarking",
    "224.0.0.251": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "broadcast",
    "::1": "loopback",
    "::": "unspecified",
    "fe80::1": "link-local",
    "febf::1": "link-local",
    "fc00::1": "unique-local",
    "fd12:3456::1": "unique-local",
    "ff02::1": "multicast",
    "2001:db8::1": "documentation",
    "3fff::1": "documentation",
    "100::1": "discard-only",
    "2001::1": "IETF protocol assignments",  # Teredo
    "fec0::1": "site-local",
    "64:ff9b:1::1": "NAT64 local use",
    "4000::1": "reserved",  # outside global unicast
    # IPv6 spellings of refused IPv4 addresses
    "::ffff:127.0.0.1": "loopback",
    "::ffff:7f00:1": "loopback",
    "::ffff:169.254.169.254": "link-local",
    "::127.0.0.1": "loopback",  # IPv4-compatible
    "::10.1.2.3": "private",
    "64:ff9b::127.0.0.1": "loopback",  # NAT64
    "64:ff9b::a9fe:a9fe": "link-local",
    "2002:7f00:1::1": "loopback",  # 6to4
    "2002:c0a8:101::": "private",
}

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "172.15.255.255",  # just below 172.16.0.0/12
    "172.32.0.0",  # just above
    "100.63.255.255",
    "100.128.0.0",
    "169.253.255.255",
    "198.17.255.255",
    "223.255.255.255",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize(("address", "rule"), list(REFUSED.items()))
def test_refused_addresses_name_their_rule(address, rule):
    found = refusal(address)
    assert found is not None and found.name == rule, found
    assert rule in str(found) and str(found.network) in str(found)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address):
    assert refusal(address) is None


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_the_development_flag_lets_loopback_through(address):
    assert refusal(address, allow_loopback=True) is None


@pytest.mark.parametrize("address", ["10.0.0.1", "169.254.169.254", "fd00::1", "0.0.0.0", "::"])
def test_the_development_flag_lets_nothing_else_through(address):
    assert refusal(address, allow_loopback=True) is not None
