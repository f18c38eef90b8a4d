"""The connection-time guard (tidings.outbound) over real sockets: whatever the name said
when a URL was written, nothing connects to a refused address."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

import pytest

from tests.listeners import ConnectionRecorder
from tidings.channels.webhook import WebhookSender, check_ownership
from tidings.domain.errors import InvalidInput
from tidings.outbound import AddressRefused, check_url, opener

PUBLIC = "93.184.216.34"
MEMBER = "WriteCampaignRequest.CustomDeliveryConfiguration.DeliveryUri"


@pytest.fixture
def rebinding(monkeypatch):
    """A name whose first lookup answers a public address and every later one loopback,
    as a DNS server under an attacker's control would (DNS rebinding)."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        address = PUBLIC if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def post(url: str, *, allow_loopback: bool = False):
    async def go():
        async with WebhookSender(allow_loopback=allow_loopback) as sender:
            return await sender.post(url, b"{}", {}, 5.0)

    return asyncio.run(go())


def test_rebinding_between_write_and_delivery_reaches_nothing(rebinding):
    with ConnectionRecorder() as target:
        url = f"http://rebind.test:{target.port}/hook"
        check_url(url, MEMBER, allow_loopback=False)  # write time: a public address
        attempt = post(url)
        with pytest.raises(urllib.error.URLError) as caught:
            opener(allow_loopback=False).open(url, timeout=5)
    assert len(rebinding) >= 3  # each connection looked the name up again
    assert not attempt.ok and not attempt.retryable
    assert "loopback (127.0.0.0/8)" in attempt.reason and url in attempt.reason
    assert isinstance(caught.value.reason, AddressRefused)
    assert target.connections == []


def test_rebinding_before_the_ownership_check_is_refused(rebinding):
    with ConnectionRecorder() as target:
        url = f"https://rebind.test:{target.port}/hook"
        check_url(url, MEMBER, allow_loopback=False)
        with pytest.raises(InvalidInput) as caught:
            check_ownership(url, "000000000000")
    assert "loopback (127.0.0.0/8)" in caught.value.message
    assert target.connections == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "127.1", "2130706433"])
def test_literal_and_named_loopback_is_refused_at_delivery(host):
    with ConnectionRecorder() as target:
        if host == "[::1]" and not target.has_ipv6:
            pytest.skip("no IPv6 loopback on this machine")
        attempt = post(target.url(host))
        with pytest.raises(urllib.error.URLError):
            opener(allow_loopback=False).open(target.url(host), timeout=5)
    assert not attempt.ok
    assert target.connections == []


def test_the_development_flag_reaches_loopback():
    with ConnectionRecorder(answer=b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n") as target:
        assert post(target.url(), allow_loopback=True).ok
        with opener(allow_loopback=True).open(target.url(), timeout=5) as response:
            assert response.status == 204
    assert len(target.connections) == 2


def test_redirects_are_not_followed():
    with ConnectionRecorder() as inner:
        redirect = f"HTTP/1.1 302 Found\r\nLocation: {inner.url()}\r\nContent-Length: 0\r\n\r\n"
        with ConnectionRecorder(answer=redirect.encode()) as outer:
            with pytest.raises(urllib.error.HTTPError) as caught:
                opener(allow_loopback=True).open(outer.url(), timeout=5)
            attempt = post(outer.url(), allow_loopback=True)
    assert caught.value.code == 302
    assert not attempt.ok and "HTTP 302 Found" in attempt.reason
    assert inner.connections == []


def test_the_opener_reads_no_other_scheme(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    with pytest.raises(urllib.error.URLError):
        opener(allow_loopback=True).open(urllib.request.Request(secret.as_uri()), timeout=5)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://169.254.169.254/latest/meta-data/", "link-local (169.254.0.0/16)"),
        ("https://10.1.2.3/hook", "private (10.0.0.0/8)"),
        ("https://[fd00::1]/hook", "unique-local (fc00::/7)"),
        ("https://0x7f.1/hook", "loopback (127.0.0.0/8)"),
        ("https://0/hook", "unspecified (0.0.0.0/8)"),
    ],
)
def test_write_time_refusal_names_the_url_and_the_rule(url, rule):
    with pytest.raises(InvalidInput) as caught:
        check_url(url, MEMBER, allow_loopback=False)
    assert url in caught.value.message and rule in caught.value.message
    assert caught.value.extra["member"] == MEMBER


def test_a_name_that_does_not_resolve_now_passes_the_write_time_check():
    check_url("https://tidings-no-such-host.invalid/hook", MEMBER, allow_loopback=False)


def test_a_name_with_any_refused_address_is_refused_whole(monkeypatch):
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "mixed.test":
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with ConnectionRecorder() as target:
        url = f"http://mixed.test:{target.port}/hook"
        with pytest.raises(InvalidInput, match=r"mixed.test \(127.0.0.1\) is a loopback"):
            check_url(url, MEMBER, allow_loopback=False)
        attempt = post(url)
    assert not attempt.ok and not attempt.retryable
    assert "mixed.test (127.0.0.1) is a loopback (127.0.0.0/8) address" in attempt.reason
    assert target.connections == []
