"""A loopback listener that records every TCP connection made to it, for SSRF tests.

    with ConnectionRecorder() as target:
        ...  # ask Tidings to reach http://127.0.0.1:{target.port}/ in some spelling
        assert target.connections == []

It listens on 127.0.0.1 and, where the machine has IPv6 loopback, on [::1] at the same
port. By default it answers nothing and closes; ``answer`` (raw HTTP response bytes)
makes it answer every request, e.g. with a redirect.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading


class ConnectionRecorder:
    def __init__(self, answer: bytes | None = None) -> None:
        self.answer = answer
        self.connections: list[tuple[str, int]] = []  # the peers, in arrival order
        self._sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port: int = self._sockets[0].getsockname()[1]
        self.has_ipv6 = False
        with contextlib.suppress(OSError):
            self._sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
            self.has_ipv6 = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="connection-recorder", daemon=True)

    def url(self, host: str = "127.0.0.1", scheme: str = "http", path: str = "/hook") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> ConnectionRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self._sockets:
            sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select(self._sockets, [], [], 0.05)
            for listener in ready:
                conn, peer = listener.accept()
                self.connections.append(peer[:2])
                with conn:
                    if self.answer is not None:
                        conn.settimeout(2)
                        with contextlib.suppress(OSError):
                            conn.recv(65536)
                            conn.sendall(self.answer)
