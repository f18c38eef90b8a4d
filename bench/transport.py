"""Why environments speak a socket-pair protocol rather than the Lambda Runtime API.

Measures the same no-op Python handler and 50-endpoint payload through:
  (a) a minimal Runtime API: one loopback HTTP server per environment, the runtime client
      long-polling GET /2018-06-01/runtime/invocation/next and POSTing the response, as
      Lambda's runtime clients do (a lean asyncio implementation: a real one on a web
      framework would be slower);
  (b) Tidings' socket-pair frames (tidings.functions.pool).
Run: .venv/bin/python bench/transport.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from invoke import measure as measure_frames  # noqa: E402
from payloads import campaign_payload  # noqa: E402

RUNTIME_CLIENT = r'''
import http.client, json, sys
host, port = sys.argv[1], int(sys.argv[2])
def handler(event, context):
    return None
conn = http.client.HTTPConnection(host, port)
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(response.read())
    body = json.dumps(handler(event, None)).encode()
    conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body=body,
                 headers={"Content-Type": "application/json"})
    conn.getresponse().read()
'''


class RuntimeApiEnvironment:
    """One environment served over HTTP on its own loopback port."""

    def __init__(self) -> None:
        self.work: asyncio.Queue = asyncio.Queue()
        self.waiting: dict[str, asyncio.Future] = {}

    async def start(self, script: Path) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.process = await asyncio.create_subprocess_exec(sys.executable, "-I", "-S", str(script), "127.0.0.1", str(port))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # The runtime client goes away at the end of the run.
        with contextlib.suppress(asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError):
            await self._serve_requests(reader, writer)

    async def _serve_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode().split("\r\n")
            method, path, _ = request_line.split(" ")
            length = 0
            for line in header_lines:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":")[1])
            body = await reader.readexactly(length) if length else b""
            if method == "GET":
                request_id, payload = await self.work.get()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Lambda-Runtime-Aws-Request-Id: {request_id}\r\nLambda-Runtime-Deadline-Ms: 0\r\n".encode()
                    + f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
            else:
                request_id = path.split("/")[4]
                self.waiting.pop(request_id).set_result(body)
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")

    async def invoke(self, request_id: str, payload: bytes) -> bytes:
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        await self.work.put((request_id, payload))
        return await future

    async def stop(self) -> None:
        self.process.kill()
        await self.process.wait()
        self.server.close()


async def measure_runtime_api(seconds: float, environments: int, work: Path) -> float:
    script = work / "client.py"
    script.write_text(RUNTIME_CLIENT)
    envs = [RuntimeApiEnvironment() for _ in range(environments)]
    for env in envs:
        await env.start(script)
    payload = campaign_payload()
    ids = itertools.count()
    for env in envs:
        await env.invoke(f"warm{next(ids)}", payload)
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller(env: RuntimeApiEnvironment) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await env.invoke(str(next(ids)), payload)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller(env) for env in envs))
    rate = done / (time.perf_counter() - started)
    for env in envs:
        await env.stop()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    results = {"runtime-api": [], "frames": []}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as work:
            results["runtime-api"].append(runner(measure_runtime_api(args.seconds, 2, Path(work))))
        with tempfile.TemporaryDirectory() as work:
            results["frames"].append(runner(measure_frames("python3.11", args.seconds, 2, Path(work))))
    api, frames = (statistics.median(results[k]) for k in ("runtime-api", "frames"))
    print(f"Runtime API (HTTP long-poll)  {api:8,.0f} invocations/s")
    print(f"socket-pair frames            {frames:8,.0f} invocations/s   ratio {frames / api:.2f}x")


if __name__ == "__main__":
    main()
