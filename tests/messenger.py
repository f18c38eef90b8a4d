"""A local stand-in for Facebook's Messenger Send API, reached over real TLS.

The seed document's example function posts every campaign message to
``https://graph.facebook.com/v2.6/me/messages`` and must run unchanged. The test machines have
no internet, so `MessengerStub` serves that endpoint on 127.0.0.1 with a certificate for
graph.facebook.com issued by a throwaway test CA, `package()` adds the stub's preload and CA
to the function's package (a sandboxed function sees only its own code), and
`function_environment()` gives the variables that point the unchanged function at them:

    with MessengerStub() as stub:
        server.aws("lambda", "create-function", "--zip-file", ..stub.package(SEED_FUNCTION)..,
                   "--environment", json.dumps({"Variables": stub.function_environment()}))
        ...invoke...
        assert [m.recipient_id for m in stub.delivered] == ["1667566386619741"]

``NODE_OPTIONS=--require tests/fixtures/messenger_redirect.js`` re-routes the TCP connection
(see that file); ``NODE_EXTRA_CA_CERTS`` makes Node trust the test CA, so the handshake and the
certificate check run exactly as they would against Facebook.
"""

from __future__ import annotations

import json
import shutil
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socket import socket
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import trustme

from tidings.functions.code import zip_directory

REDIRECT_PRELOAD = Path(__file__).resolve().parent / "fixtures" / "messenger_redirect.js"
# Where package() puts the preload and the CA inside the function's code (Lambda's /var/task).
PACKAGED = "/var/task/_messenger_stub"
GRAPH_HOST = "graph.facebook.com"
SEND_API_PATH = "/v2.6/me/messages"
# How long a connection may sit idle (Node keeps sockets alive) or stall mid-request before its
# thread gives up; long enough for any test, short enough that nothing lingers after one.
SOCKET_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 1 << 20

# Error documents in the Graph API's shape, by the status a test asks for.
_GRAPH_ERRORS: dict[int, tuple[str, int]] = {
    400: ("(#100) Invalid parameter", 100),
    403: ("(#10) This message is sent outside of allowed window.", 10),
    429: ("(#613) Calls to this api have exceeded the rate limit.", 613),
    500: ("An unexpected error has occurred. Please retry your request later.", 2),
    503: ("(#2) Service temporarily unavailable", 2),
}


@dataclass(frozen=True)
class MessengerRequest:
    """One HTTP request the stub received, and what it answered."""

    method: str
    path: str  # without the query string
    query: dict[str, str]
    headers: dict[str, str]  # header names lower-cased
    body: Any  # the parsed JSON body, or None when it was not JSON
    raw_body: bytes
    server_name: str | None  # the TLS SNI name the client asked for
    tls_version: str | None
    received_at: float  # time.time()
    status: int
    response: dict[str, Any]

    @property
    def access_token(self) -> str | None:
        return self.query.get("access_token")

    @property
    def recipient_id(self) -> str | None:
        recipient = self.body.get("recipient") if isinstance(self.body, dict) else None
        return recipient.get("id") if isinstance(recipient, dict) else None

    @property
    def text(self) -> str | None:
        message = self.body.get("message") if isinstance(self.body, dict) else None
        return message.get("text") if isinstance(message, dict) else None

    @property
    def delivered(self) -> bool:
        return self.status == 200


@dataclass
class _Failure:
    status: int
    error: dict[str, Any] = field(default_factory=dict)


class MessengerStub:
    """An HTTPS server on 127.0.0.1 (random port) answering ``POST /v2.6/me/messages``."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="messenger-stub-"))
        self.ca = trustme.CA(organization_name="Tidings tests")
        self.ca_pem_path = self._dir / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_pem_path))
        self._certificate = self.ca.issue_cert(GRAPH_HOST)

        self._lock = threading.Condition()
        self._requests: list[MessengerRequest] = []
        self._failures: deque[_Failure] = deque()
        self.tls_errors: list[str] = []  # handshakes that failed, as the server saw them

        self._server = _Server(("127.0.0.1", 0), _Handler, self, self._tls_context())
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"messenger-stub-{self.port}", daemon=True
        )
        self._thread.start()

    # -- what tests configure -------------------------------------------------------------

    def package(self, function_dir: Path) -> bytes:
        """The zip of ``function_dir`` with the preload and the test CA added under _messenger_stub/."""
        staged = self._dir / f"package-{uuid.uuid4().hex[:8]}"
        shutil.copytree(function_dir, staged, symlinks=True)
        (staged / "_messenger_stub").mkdir()
        shutil.copy(REDIRECT_PRELOAD, staged / "_messenger_stub" / REDIRECT_PRELOAD.name)
        shutil.copy(self.ca_pem_path, staged / "_messenger_stub" / "ca.pem")
        try:
            return zip_directory(staged)
        finally:
            shutil.rmtree(staged, ignore_errors=True)

    def function_environment(self, **extra: str) -> dict[str, str]:
        """Environment Variables for create-function (with the `package()` zip) that send
        graph.facebook.com here."""
        return {
            "NODE_OPTIONS": f"--require {_node_options_quote(f'{PACKAGED}/{REDIRECT_PRELOAD.name}')}",
            "NODE_EXTRA_CA_CERTS": f"{PACKAGED}/ca.pem",
            "MESSENGER_STUB_PORT": str(self.port),
            **extra,
        }

    def fail_next(self, n: int = 1, status: int = 500, error: dict[str, Any] | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` and a Graph API error document."""
        message, code = _GRAPH_ERRORS.get(status, ("An unknown error occurred", 1))
        document = error or {"message": message, "type": "OAuthException", "code": code}
        if status >= 500 and error is None:
            document["is_transient"] = True
        with self._lock:
            self._failures.extend(_Failure(status, dict(document)) for _ in range(n))

    def reset(self) -> None:
        """Forget what was received and any failures still queued."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            self.tls_errors.clear()

    # -- what tests read ------------------------------------------------------------------

    @property
    def messages(self) -> list[MessengerRequest]:
        """Every request received so far, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._requests)

    @property
    def delivered(self) -> list[MessengerRequest]:
        """The requests answered 200: the messages Facebook would have delivered."""
        return [request for request in self.messages if request.delivered]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[MessengerRequest]:
        """Wait until at least ``count`` messages were delivered; return them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(r.delivered for r in self._requests) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = sum(r.delivered for r in self._requests)
                    raise TimeoutError(
                        f"Messenger stub: {got} of {count} messages delivered after {timeout}s"
                    )
                self._lock.wait(remaining)
            return [r for r in self._requests if r.delivered]

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> MessengerStub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- serving --------------------------------------------------------------------------

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._certificate.configure_cert(context)

        def remember_server_name(sock: Any, server_name: str | None, _: ssl.SSLContext) -> None:
            # Kept on the connection so each request can say which name the client asked for.
            sock.tidings_server_name = server_name

        context.sni_callback = remember_server_name
        return context

    def _answer(self, handler: _Handler, body: bytes) -> None:
        target = urlsplit(handler.path)
        query = dict(parse_qsl(target.query, keep_blank_values=True))
        try:
            document = json.loads(body) if body else None
        except ValueError:
            document = None
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            status, response = failure.status, {"error": failure.error}
        else:
            status, response = _graph_answer(handler.command, target.path, query, document)
        if "error" in response:
            response["error"].setdefault("fbtrace_id", uuid.uuid4().hex[:11])
        connection = handler.connection
        request = MessengerRequest(
            method=handler.command,
            path=target.path,
            query=query,
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=document,
            raw_body=body,
            server_name=getattr(connection, "tidings_server_name", None),
            tls_version=connection.version() if isinstance(connection, ssl.SSLSocket) else None,
            received_at=time.time(),
            status=status,
            response=response,
        )
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()
        handler.send_json(status, response)


def _graph_answer(
    method: str, path: str, query: dict[str, str], document: Any
) -> tuple[int, dict[str, Any]]:
    """What the Send API answers, for the cases a test can meet."""
    if method != "POST" or path.rstrip("/") != SEND_API_PATH:
        return _graph_error(f"Unknown path components: {path}", 2500)
    if not query.get("access_token"):
        return _graph_error(
            "An active access token must be used to query information about the current user.", 2500
        )
    recipient = document.get("recipient") if isinstance(document, dict) else None
    if not isinstance(recipient, dict) or not recipient.get("id"):
        return _graph_error("(#100) The parameter recipient is required", 100)
    message = document.get("message")
    if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
        return _graph_error("(#100) param message must be non-empty.", 100)
    return 200, {"recipient_id": str(recipient["id"]), "message_id": f"m_{uuid.uuid4().hex}"}


def _graph_error(message: str, code: int) -> tuple[int, dict[str, Any]]:
    return 400, {"error": {"message": message, "type": "OAuthException", "code": code}}


def _node_options_quote(value: str) -> str:
    """Quote a value for NODE_OPTIONS, which splits on spaces and honours "..." with \\ escapes."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not hold up close()
    # A function opens up to 50 connections at once; with the default backlog of 5 the
    # kernel drops the rest and they wait out TCP's one-second retransmission.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        stub: MessengerStub,
        context: ssl.SSLContext,
    ) -> None:
        self.stub = stub
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs here, on the connection's own thread, so one slow or failing client
        # never holds up accept() for the others.
        raw: socket = request
        raw.settimeout(SOCKET_TIMEOUT_S)
        try:
            tls = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as error:
            with self.stub._lock:
                self.stub.tls_errors.append(str(error))
            raw.close()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        except (ssl.SSLError, OSError):
            pass  # the client went away mid-request; nothing was recorded for it
        finally:
            tls.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Node's https.globalAgent expects
    server: _Server
    timeout = SOCKET_TIMEOUT_S

    def do_POST(self) -> None:
        self.server.stub._answer(self, self._read_body())

    do_GET = do_DELETE = do_PUT = do_POST

    def _read_body(self) -> bytes:
        # Node sends `req.write(body); req.end()` without a Content-Length, i.e. chunked.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY_BYTES))

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        size_read = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            size_read += size
            if size_read > MAX_BODY_BYTES:
                raise OSError("request body too large for the Messenger stub")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after each chunk

    def send_json(self, status: int, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read `messages`, not a log on stderr


@pytest.fixture
def messenger_stub() -> Iterator[MessengerStub]:
    """A fresh Messenger Send API stub per test: nothing recorded, nothing queued."""
    with MessengerStub() as stub:
        yield stub
