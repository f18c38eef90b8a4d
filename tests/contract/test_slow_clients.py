"""Slow and greedy clients: a connection that trickles its headers or stalls its body is
closed within the configured time, and other clients are served meanwhile."""

from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import Server
from tests.signed import Signer

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def strict_server(database_url, tmp_path_factory):
    server = Server(
        database_url,
        tmp_path_factory.mktemp("slow") / "server.log",
        TIDINGS_HEADER_TIMEOUT=str(HEADER_TIMEOUT_S),
        TIDINGS_BODY_TIMEOUT=str(BODY_TIMEOUT_S),
    ).start()
    yield server
    server.stop()


def closed_after(sock: socket.socket, trickle: bytes, give_up_s: float) -> tuple[float, bytes]:
    """Send ``trickle`` a byte every 0.2 s until the server closes; seconds taken, answer."""
    started = time.monotonic()
    answer = b""
    sock.settimeout(0.2)
    position = 0
    while time.monotonic() - started < give_up_s:
        try:
            if position < len(trickle):
                sock.send(trickle[position : position + 1])
                position += 1
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            break
        if not data:
            break
        answer += data
    return time.monotonic() - started, answer


def test_trickled_headers_are_cut_off_and_others_are_served(strict_server):
    pinpoint = strict_server.client("pinpoint")
    with socket.create_connection(("127.0.0.1", strict_server.port)) as slow:
        slow.sendall(b"GET /v1/apps HTTP/1.1\r\nHost: x\r\n")
        # meanwhile, a normal client is served at once
        started = time.monotonic()
        pinpoint.get_apps()
        assert time.monotonic() - started < 1.0
        taken, answer = closed_after(slow, b"X-Slow: " + b"a" * 600, give_up_s=60)
    assert taken < HEADER_TIMEOUT_S + 1.5, f"held for {taken:.1f}s"
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_silent_connection_is_closed(strict_server):
    with socket.create_connection(("127.0.0.1", strict_server.port)) as silent:
        taken, answer = closed_after(silent, b"", give_up_s=30)
    assert taken < HEADER_TIMEOUT_S + 1.5
    assert answer.startswith(b"HTTP/1.1 408")


def test_a_stalled_body_is_cut_off(strict_server):
    signed = Signer(strict_server)
    body = b'{"Name": "stalled"}'
    headers = signed.headers("pinpoint", "POST", "/v1/apps", body)
    head = "POST /v1/apps HTTP/1.1\r\nHost: x\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", strict_server.port)) as sock:
        sock.sendall(head.encode() + body[:5])
        taken, answer = closed_after(sock, b"", give_up_s=30)
    assert taken < BODY_TIMEOUT_S + 1.5
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"RequestTimeoutException" in answer and b"no data for 2 seconds after 5 bytes" in answer


@pytest.mark.parametrize(
    ("request_bytes", "fragment"),
    [
        (b"GET /v1/apps HTTP/1.1\r\nX-Big: " + b"a" * (70 * 1024) + b"\r\n\r\n", b"exceed 65536 bytes"),
        (b"GET /v1/apps HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(101)) + b"\r\n", b"more than 100 header fields"),
        # more than one read's worth, and a body: the client still gets the answer, not a reset
        (b"GET /v1/apps?token=" + b"x" * 400_000 + b" HTTP/1.1\r\nContent-Length: 8\r\n\r\n[1, \"a\"]", b"exceed 65536 bytes"),
    ],
)
def test_oversized_headers_are_refused(strict_server, request_bytes, fragment):
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert fragment in answer
