"""HTTP connections that a slow or greedy client cannot hold.

uvicorn's httptools protocol times out only idle keep-alive connections: a client that
opens a connection and trickles its request line and headers a byte at a time is served
forever, and llhttp buffers a header of any size. This subclass adds what reverse proxies
(nginx's ``client_header_timeout``, ``large_client_header_buffers``) have:

- the request line and headers must arrive within ``header_timeout_s`` of the connection
  opening, or of the request's first byte on a kept-alive connection (else 408, closed);
- at most ``max_header_bytes`` of request line and headers, and ``max_headers`` header
  fields (else 431, closed).

The body has its own clock, in :func:`tidings.wire.body.read_body`.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 64 * 1024
MAX_HEADERS = 100
LINGER_S = 2.0  # how long a refused connection's remaining input is read and dropped


class HeadersTooLarge(Exception):
    """Raised inside a parser callback to stop parsing a request that is over the limits."""


class BoundedHttpProtocol(HttpToolsProtocol):
    header_timeout_s = HEADER_TIMEOUT_S
    max_header_bytes = MAX_HEADER_BYTES
    max_headers = MAX_HEADERS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._header_clock: asyncio.TimerHandle | None = None
        self._reading_headers = True
        self._header_bytes = 0
        self._header_count = 0
        self._parsed_bytes = 0
        self._refusal: str | None = None
        self._refused = False

    # --- the header clock ------------------------------------------------------------

    def _start_header_clock(self) -> None:
        if self._header_clock is None:
            self._header_clock = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _stop_header_clock(self) -> None:
        if self._header_clock is not None:
            self._header_clock.cancel()
            self._header_clock = None

    def _headers_too_slow(self) -> None:
        self._header_clock = None
        if not self.transport.is_closing():
            self._refuse(
                408,
                "Request Timeout",
                f"The request line and headers did not arrive within {self.header_timeout_s:g} seconds",
            )

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer, then close as nginx's lingering close does: closing at once with the
        client's unread bytes in the socket sends a reset, and the client never reads the
        answer; so what still arrives for a moment is read and dropped first."""
        self._stop_header_clock()
        self._refused = True
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason.encode(), len(body), body)
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)

    # --- uvicorn's protocol, with the limits -----------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_clock()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # One read may carry headers and the start of the body: only bytes read while the
        # headers are still incomplete count against the limit.
        if self._reading_headers and self._header_bytes > self.max_header_bytes and not self._refusal:
            self._refusal = f"The request line and headers exceed {self.max_header_bytes} bytes"
            self._refuse(431, "Request Header Fields Too Large", self._refusal)

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:  # our callback stopped the parser
            self._refuse(431, "Request Header Fields Too Large", self._refusal)
        else:
            super().send_400_response(msg)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_headers = True
        self._header_count = 0
        self._parsed_bytes = 0
        self._start_header_clock()

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        self._check_parsed()
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._parsed_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_count > self.max_headers:
            self._refusal = f"The request has more than {self.max_headers} header fields"
            raise HeadersTooLarge(self._refusal)
        self._check_parsed()
        super().on_header(name, value)

    def _check_parsed(self) -> None:
        # Headers that arrived in one read are complete before data_received can count them.
        if self._parsed_bytes > self.max_header_bytes:
            self._refusal = f"The request line and headers exceed {self.max_header_bytes} bytes"
            raise HeadersTooLarge(self._refusal)

    def on_headers_complete(self) -> None:
        self._stop_header_clock()
        self._reading_headers = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_headers = True
        self._header_bytes = 0


def bounded_protocol(
    header_timeout_s: float = HEADER_TIMEOUT_S,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_headers: int = MAX_HEADERS,
) -> type[BoundedHttpProtocol]:
    """The protocol class to give uvicorn (``http=``), with these limits."""
    return type(
        "BoundedHttpProtocol",
        (BoundedHttpProtocol,),
        {
            "header_timeout_s": header_timeout_s,
            "max_header_bytes": max_header_bytes,
            "max_headers": max_headers,
        },
    )
