"""End-to-end campaign runs: endpoints/s from CreateCampaign to COMPLETED, per custom channel.

Starts a real `tidings serve` on a fresh SQLite file in a temp dir (or the PostgreSQL
database given with --database-url), loads N CUSTOM endpoints through UpdateEndpointsBatch,
and for each channel (a no-op Python 3.11 function, a no-op Node.js 20 function, a loopback
webhook) runs an IMMEDIATE, ONCE campaign to everyone --repeats times, each a new campaign.
A run is timed from create_campaign to CampaignStatus COMPLETED (get_campaign every 20 ms)
and must count SuccessfulEndpointCount == N on its activities.
Run: .venv/bin/python bench/campaign_run.py [--endpoints 20000] [--repeats 3]
     [--database-url postgresql://user@127.0.0.1:5432/empty_db]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from aiohttp import web
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench"
CAMPAIGN_ARNS = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:/apps/*/campaigns/*"
BATCH = 100  # UpdateEndpointsBatch takes at most 100 endpoints
FUNCTIONS = {
    "python3.11": ("index.py", "def handler(event, context):\n    return None\n"),
    "nodejs20.x": ("index.js", "exports.handler = async () => null;\n"),
}


class Server:
    """A `tidings serve` process on a free port, its output in ``log_path``."""

    def __init__(self, database_url: str, work: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = work / "server.log"
        self.env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": database_url,
            "TIDINGS_PORT": str(self.port),
            "TIDINGS_ALLOW_HTTP_LOOPBACK": "1",
            "TIDINGS_LOG_LEVEL": "warning",
            "TIDINGS_DATA_DIR": str(work / "data"),
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> Server:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tidings", "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tidings serve exited early:\n{self.log_path.read_text()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"tidings serve did not listen within {timeout}s:\n{self.log_path.read_text()}")

    def peak_rss_mib(self) -> float:
        """The server process's peak resident set (VmHWM), not counting function environments."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/<pid>/status")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self, service: str, connections: int = 10):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"max_attempts": 1}, max_pool_connections=connections, read_timeout=120),
        )


class Receiver:
    """A webhook on 127.0.0.1 in its own thread: HEAD proves ownership, POST answers 200."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/hook"
        self.posts = 0
        self._loop = asyncio.new_event_loop()

    def start(self) -> Receiver:
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), name="webhook", daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the webhook receiver did not start within 10 s")
        return self

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.SockSite(runner, self._socket).start())
        ready.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.method == "HEAD":
            return web.Response(headers={"X-Amz-Pinpoint-AccountId": ACCOUNT})
        await request.read()
        self.posts += 1
        return web.Response(text="{}", content_type="application/json")


def zipped(filename: str, source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(filename, source)
    return buffer.getvalue()


def create_function(lambda_client, runtime: str) -> str:
    filename, source = FUNCTIONS[runtime]
    name = "bench-" + runtime.replace(".", "")
    lambda_client.create_function(
        FunctionName=name, Runtime=runtime, Role=ROLE, Handler="index.handler",
        Code={"ZipFile": zipped(filename, source)}, Timeout=30,
    )  # fmt: skip
    lambda_client.add_permission(
        FunctionName=name, StatementId="pinpoint", Action="lambda:InvokeFunction",
        Principal=f"pinpoint.{REGION}.amazonaws.com", SourceArn=CAMPAIGN_ARNS,
    )  # fmt: skip
    return name


def load_endpoints(pinpoint, app_id: str, count: int, threads: int) -> float:
    """UpdateEndpointsBatch in calls of 100, ``threads`` at once; returns endpoints/s."""

    def put(start: int) -> None:
        items = [
            {"Id": f"e{i:07d}", "ChannelType": "CUSTOM", "Address": f"addr-{i:07d}"}
            for i in range(start, min(start + BATCH, count))
        ]
        pinpoint.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(0, count, BATCH)))
    return count / (time.perf_counter() - started)


def run_campaign(pinpoint, app_id: str, segment_id: str, uri: str, expected: int, timeout: float) -> float:
    """Seconds from create_campaign to COMPLETED; fails unless every endpoint succeeded."""
    request = {
        "Name": "bench",
        "SegmentId": segment_id,
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "MessageConfiguration": {"CustomMessage": {"Data": "x"}},
        "CustomDeliveryConfiguration": {"DeliveryUri": uri},
    }
    started = time.perf_counter()
    ids = {"ApplicationId": app_id}
    ids["CampaignId"] = pinpoint.create_campaign(**ids, WriteCampaignRequest=request)["CampaignResponse"]["Id"]
    while True:
        status = pinpoint.get_campaign(**ids)["CampaignResponse"]["State"]["CampaignStatus"]
        elapsed = time.perf_counter() - started
        if status == "COMPLETED":
            break
        if status in ("PAUSED", "DELETED") or elapsed > timeout:
            activities = pinpoint.get_campaign_activities(**ids)["ActivitiesResponse"]["Item"]
            raise SystemExit(f"campaign to {uri} is {status} after {elapsed:.1f} s; activities: {activities}")
        time.sleep(0.02)
    activities = pinpoint.get_campaign_activities(**ids)["ActivitiesResponse"]["Item"]
    succeeded = sum(activity.get("SuccessfulEndpointCount", 0) for activity in activities)
    if succeeded != expected:
        raise SystemExit(
            f"campaign to {uri} COMPLETED with SuccessfulEndpointCount {succeeded}, not {expected}: {activities}"
        )
    return elapsed


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        node = "not found"
    return f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; Node.js {node}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database-url", help="postgresql://... (an empty database); default: a fresh SQLite file")
    parser.add_argument("--load-threads", type=int, default=4, help="UpdateEndpointsBatch calls in flight")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one run may take")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp:
        work = Path(tmp)
        database_url = args.database_url or f"sqlite:///{work / 'tidings.db'}"
        server = Server(database_url, work).start()
        receiver = Receiver().start()
        try:
            pinpoint = server.client("pinpoint", connections=args.load_threads)
            lambda_client = server.client("lambda")
            app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "bench"})["ApplicationResponse"]["Id"]
            load_rate = load_endpoints(pinpoint, app_id, args.endpoints, args.load_threads)
            print(f"  loaded {args.endpoints:,} endpoints: {load_rate:,.0f}/s", file=sys.stderr)
            segment_id = pinpoint.create_segment(
                ApplicationId=app_id, WriteSegmentRequest={"Name": "everyone", "Dimensions": {"Demographic": {}}}
            )["SegmentResponse"]["Id"]
            channels = {
                "python3.11 function": create_function(lambda_client, "python3.11"),
                "nodejs20.x function": create_function(lambda_client, "nodejs20.x"),
                "webhook (loopback)": receiver.url,
            }
            results = {}
            for channel, uri in channels.items():
                results[channel] = []
                for repeat in range(args.repeats):
                    seconds = run_campaign(pinpoint, app_id, segment_id, uri, args.endpoints, args.timeout)
                    results[channel].append(seconds)
                    print(f"  {channel}, run {repeat + 1}/{args.repeats}: {seconds:.2f} s", file=sys.stderr)
            peak = server.peak_rss_mib()
        except BaseException:
            print(f"server log ({server.log_path}):\n{server.log_path.read_text()[-4000:]}", file=sys.stderr)
            raise
        finally:
            server.stop()

    backend = database_url.split(":", 1)[0]
    print(f"Campaign runs on {backend}: {args.endpoints:,} CUSTOM endpoints, segment of everyone, "
          f"{args.repeats} runs per channel (each a new campaign)")  # fmt: skip
    print()
    print("| channel | endpoints | median s | median endpoints/s |")
    print("|---|---:|---:|---:|")
    for channel, runs in results.items():
        median = statistics.median(runs)
        print(f"| {channel} | {args.endpoints:,} | {median:.2f} | {args.endpoints / median:,.0f} |")
    print()
    for channel, runs in results.items():
        print(f"runs, {channel}: {', '.join(f'{s:.2f} s' for s in runs)}")
    print(
        f"load: UpdateEndpointsBatch, {BATCH} per call, {args.load_threads} calls in flight: "
        f"{load_rate:,.0f} endpoints/s"
    )
    print(f"server peak RSS (VmHWM, without function environments): {peak:.0f} MiB")
    print(f"machine: {machine()}")
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    print(f"command: {shlex.join([python, *sys.argv])}")


if __name__ == "__main__":
    main()
