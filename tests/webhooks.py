"""A real webhook receiver for tests: an aiohttp server on 127.0.0.1 in its own thread.

    def test_something(webhook_receiver):
        url = webhook_receiver.url                 # http://127.0.0.1:<port>/hook
                                                   # (https:// with Receiver(ca=a trustme CA))
        webhook_receiver.fail_next(2, status=503)  # the next two POSTs get 503
        ...
        post = webhook_receiver.wait_for_posts(3)[-1]
        assert webhook_receiver.verified(post)

It answers HEAD (the ownership check) with ``X-Amz-Pinpoint-AccountId`` set to
``account_id`` (``None`` leaves the header out), records every request, and answers POSTs
200 unless scripted otherwise. Signatures are checked with the Standard Webhooks library
(PyPI ``standardwebhooks``), not with Tidings' code.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trustme
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from tidings.channels.webhook import OWNERSHIP_HEADER

ACCOUNT = "000000000000"


@dataclass(frozen=True)
class Post:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    json: Any  # the parsed body, None when it is not JSON
    at: float  # time.time() when it arrived
    peer_port: int  # the client's port: one per connection, so it counts connections
    status: int  # what the receiver answered

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class _Script:
    status: int = 200
    delay_s: float = 0.0


def random_secret() -> str:
    """A signing secret in the standard's form, made without Tidings."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def webhook_secret(server, app_id: str, *args: str) -> str:
    """What ``tidings webhooks secret APP [ARGS]`` prints for the app of ``server``."""
    done = server.tidings("webhooks", "secret", app_id, *args, cwd=server.log_path.parent)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


class Receiver:
    def __init__(
        self, account_id: str | None = ACCOUNT, *, secret: str | None = None, ca: trustme.CA | None = None
    ) -> None:
        self.account_id = account_id  # what HEAD answers; None leaves the header out
        self.head_status = 200
        self.secret = secret or random_secret()
        self._tls: ssl.SSLContext | None = None
        if ca is not None:  # serve https with a certificate for 127.0.0.1 that ``ca`` issued
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(self._tls)
        self._lock = threading.Lock()
        self._posts: list[Post] = []
        self._heads: list[str] = []
        self._script: deque[_Script] = deque()
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/hook"

    # --- scripting -------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` POSTs with ``status``."""
        with self._lock:
            self._script.extend(_Script(status=status) for _ in range(n))

    def delay_next(self, n: int, seconds: float, status: int = 200) -> None:
        """Wait ``seconds`` before answering each of the next ``n`` POSTs."""
        with self._lock:
            self._script.extend(_Script(status=status, delay_s=seconds) for _ in range(n))

    # --- what arrived ----------------------------------------------------------------

    @property
    def posts(self) -> list[Post]:
        with self._lock:
            return list(self._posts)

    @property
    def heads(self) -> list[str]:
        """The paths of the HEAD requests (ownership checks) received."""
        with self._lock:
            return list(self._heads)

    def connections(self) -> int:
        """How many connections carried the POSTs so far."""
        return len({post.peer_port for post in self.posts})

    def wait_for_posts(self, n: int, timeout: float = 10.0) -> list[Post]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posts = self.posts
            if len(posts) >= n:
                return posts
            time.sleep(0.02)
        raise AssertionError(
            f"expected {n} POSTs to {self.url} within {timeout} s, got {len(self.posts)}"
        )

    def verified(self, post: Post, secret: str | None = None) -> bool:
        """Whether the post's Standard Webhooks headers sign its body with our (or the given)
        secret, as the standard's own library checks them (timestamp within 5 minutes)."""
        try:
            Webhook(secret or self.secret).verify(post.body, post.headers)
        except WebhookVerificationError:
            return False
        return True

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> Receiver:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="webhook-receiver", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the webhook receiver did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.SockSite(self._runner, self._socket, ssl_context=self._tls).start())
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "HEAD":
            with self._lock:
                self._heads.append(request.path)
            headers = {OWNERSHIP_HEADER: self.account_id} if self.account_id is not None else {}
            return web.Response(status=self.head_status, headers=headers)
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        with self._lock:
            script = self._script.popleft() if self._script else _Script()
            self._posts.append(
                Post(
                    path=request.path,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                    json=_json_or_none(body),
                    at=time.time(),
                    peer_port=peer[1] if peer else 0,
                    status=script.status,
                )
            )
        if script.delay_s:
            await asyncio.sleep(script.delay_s)
        return web.json_response({"received": script.status < 400}, status=script.status)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver
