"""Files of the test's host, for test functions that run in the sandbox.

A sandboxed function sees none of the host's files (docs/functions.md, "Sandbox"), yet tests
learn what their functions did through files: an output file per function, a flag file whose
presence makes it fail, a file that says "I am running". This relay, served by the test
process on 127.0.0.1 (functions share the host's network), appends to and checks those files
for them. A function gets its address in an environment variable or its event and uses
`FUNCTION_HELPERS` (Python, standard library only):

    host_append(url, "/abs/path", b"line\\n")   # one O_APPEND write, so lines never interleave
    host_exists(url, "/abs/path") -> bool
"""

from __future__ import annotations

import os
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FUNCTION_HELPERS = '''
import urllib.parse as _parse, urllib.request as _request


def _host_files(url, verb, path, data=None):
    query = _parse.urlencode({"path": path})
    with _request.urlopen(_request.Request(f"{url}/{verb}?{query}", data=data), timeout=10) as answer:
        return answer.read()


def host_append(url, path, data):
    _host_files(url, "append", path, data)


def host_exists(url, path):
    return _host_files(url, "exists", path) == b"1"
'''


class _Handler(BaseHTTPRequestHandler):
    def _path(self) -> str:
        [path] = parse_qs(urlsplit(self.path).query)["path"]
        return path

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sink = os.open(self._path(), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(sink, data)
        finally:
            os.close(sink)
        self._answer(b"")

    def do_GET(self) -> None:  # noqa: N802
        self._answer(b"1" if os.path.exists(self._path()) else b"0")

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass


@cache
def host_files_url() -> str:
    """The relay's address (started once per test process)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="host-files", daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"
