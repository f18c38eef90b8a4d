"""Connections to URLs an API caller gave us (webhooks, https:// imports).

``tidings.domain.addresses`` decides which addresses such a URL may reach; this module
makes every connection ask it about the address it actually connects to, after DNS:

- aiohttp (webhook deliveries): :class:`VettingResolver` refuses a name when any of its
  addresses is refused, and :func:`socket_factory` vets the address of each socket the
  connector opens (IP literals never reach a resolver), so a name resolved once is
  connected to as resolved, and DNS rebinding (a public answer when the URL is written, a
  private one when it is used) gains nothing.
- urllib (the ownership ``HEAD``, https:// imports): :func:`opener` builds one whose
  connections resolve the name once, vet every address, and connect to a vetted one, while
  TLS still checks the certificate against the name. It follows no redirects and reads no
  proxy from the environment.

:func:`check_url` runs the same rule when a URL is written, so a caller hears about it at
once, with the rule named; the connection-time checks are the guarantee.
"""

from __future__ import annotations

import http.client
import socket
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp

from tidings.domain.addresses import LOOPBACK_NAME, Rule, refusal
from tidings.domain.errors import InvalidInput

LOOPBACK_FLAG = "--allow-http-loopback"


class AddressRefused(OSError):
    """A connection that would reach an address no caller-given URL may reach."""

    def __init__(self, host: str, address: str, rule: Rule) -> None:
        self.host, self.address, self.rule = host, address, rule
        shown = host if host == address else f"{host} ({address})"
        super().__init__(f"{shown} is a {rule} address")


def vet(host: str, address: str, *, allow_loopback: bool) -> None:
    """Raise AddressRefused unless ``address`` (what ``host`` resolved to) may be reached."""
    rule = refusal(address.split("%", 1)[0], allow_loopback=allow_loopback)
    if rule is not None:
        raise AddressRefused(host, address, rule)


def resolve(host: str, port: int, *, allow_loopback: bool) -> list[tuple]:
    """getaddrinfo's answers for ``host``, every one vetted: one refused address refuses the
    name (a name that also points inward is not a webhook to trust)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_, sockaddr in answers:
        vet(host, sockaddr[0], allow_loopback=allow_loopback)
    return answers


def refusal_hint(rule: Rule) -> str:
    if rule.name == LOOPBACK_NAME:
        return f"loopback is reachable only when the server runs with {LOOPBACK_FLAG} (development only)"
    return "URLs given to Tidings must reach public addresses"


def check_url(url: str, member: str, *, allow_loopback: bool) -> None:
    """Refuse, at write time, a URL whose host is or resolves to a refused address. A name
    that does not resolve now passes: it is checked again on every connection."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # a bracketed host that is no IPv6 address, a port out of range
        raise InvalidInput(f"{member} {url} is not a URL Tidings can use: {exc}", member=member) from None
    try:
        resolve(host, port, allow_loopback=allow_loopback)
    except AddressRefused as refused:
        raise InvalidInput(
            f"{member} {url} is refused: {refused}; {refusal_hint(refused.rule)}", member=member
        ) from None
    except (OSError, UnicodeError, ValueError):
        return


# --- aiohttp -----------------------------------------------------------------------------


class VettingResolver(aiohttp.ThreadedResolver):
    """aiohttp's resolver, refusing a name with any refused address: all of them are then
    reported as one AddressRefused, and nothing is tried."""

    def __init__(self, *, allow_loopback: bool) -> None:
        super().__init__()
        self._allow_loopback = allow_loopback

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list:
        answers = await super().resolve(host, port, family)
        for answer in answers:
            vet(host, answer["host"], allow_loopback=self._allow_loopback)
        return answers


def socket_factory(*, allow_loopback: bool) -> Callable[[tuple], socket.socket]:
    """For ``aiohttp.TCPConnector(socket_factory=...)``: the socket for one resolved address,
    made only when the address may be reached."""

    def make(addr_info: tuple) -> socket.socket:
        family, kind, proto, _, sockaddr = addr_info
        vet(sockaddr[0], sockaddr[0], allow_loopback=allow_loopback)
        return socket.socket(family, kind, proto)

    return make


# --- urllib ------------------------------------------------------------------------------


def _vetted_connection(allow_loopback: bool) -> Callable[..., socket.socket]:
    """A replacement for socket.create_connection that connects to vetted addresses only."""

    def connect(address: tuple[str, int], timeout: object = None, source_address: object = None) -> socket.socket:
        host, port = address
        error: OSError | None = None
        for family, kind, proto, _, sockaddr in resolve(host, port, allow_loopback=allow_loopback):
            sock = socket.socket(family, kind, proto)
            try:
                if isinstance(timeout, int | float):  # not the "global default" sentinel
                    sock.settimeout(timeout)
                sock.connect(sockaddr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error or OSError(f"{host} has no address")

    return connect


def opener(*, allow_loopback: bool) -> urllib.request.OpenerDirector:
    """A urllib opener for caller-given http(s) URLs: vetted addresses, no redirects, no
    proxies. A redirect surfaces as an HTTPError with its 3xx status."""
    connect = _vetted_connection(allow_loopback)

    class VettedHTTPConnection(http.client.HTTPConnection):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class VettedHTTPSConnection(http.client.HTTPSConnection):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            self._create_connection = connect

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req):  # type: ignore[no-untyped-def]
            return self.do_open(VettedHTTPConnection, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req):  # type: ignore[no-untyped-def]
            return self.do_open(VettedHTTPSConnection, req, context=self._context)

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
            return None

    built = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.UnknownHandler(),
        HTTPHandler(),
        HTTPSHandler(),
        NoRedirects(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        built.add_handler(handler)
    return built
