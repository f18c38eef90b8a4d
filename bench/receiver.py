"""A no-op webhook receiver on 127.0.0.1, in its own process so that it never shares a GIL
with what feeds it (the server, or the bench's baseline): HEAD proves ownership (Pinpoint's
X-Amz-Pinpoint-AccountId check), POST reads the body and answers 200 ``{}``.

Run alone: .venv/bin/python bench/receiver.py [ACCOUNT_ID]  (prints its URL, serves until killed)
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

from aiohttp import web

ACCOUNT = "000000000000"


class Receiver:
    """This file run as a child process; ``url`` is where it listens."""

    def __init__(self, account: str = ACCOUNT) -> None:
        self.account = account
        self.url = ""
        self.process: subprocess.Popen | None = None

    def start(self) -> Receiver:
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.account], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError("the webhook receiver did not start")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


async def serve(account: str) -> None:
    async def handle(request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(headers={"X-Amz-Pinpoint-AccountId": account})
        await request.read()
        return web.Response(text="{}", content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/hook", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    from invoke import event_loop_runner

    event_loop_runner()(serve(sys.argv[1] if len(sys.argv) > 1 else ACCOUNT))


if __name__ == "__main__":
    main()
