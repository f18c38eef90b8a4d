"""End-to-end campaign runs per audience size, against a minimal-work baseline, in one table.

For each audience size (--endpoints 20000,100000) a real `tidings serve` starts on a fresh
SQLite file (or the PostgreSQL database given with --database-url; sizes then share it, each
in its own app) and:

1. Loads N CUSTOM endpoints: through `aws pinpoint create-import-job` (the AWS CLI; its rate
   from the job's CreationDate to its CompletionDate) from a JSON-lines file:// URL when the
   server supports it (it answers MethodNotAllowedException otherwise), and through
   UpdateEndpointsBatch (into a second app, deleted after, when the import loaded the
   audience). Above --batch-load-max endpoints UpdateEndpointsBatch is not run; without
   import support the endpoints are then written straight into the store with SQLAlchemy
   (tidings.store.endpoints.save, documents from tidings.domain.endpoints.apply_update).
2. For each channel, (a) a no-op Python 3.11 function, (b) a no-op Node.js 20 function,
   (c) a loopback webhook (bench/receiver.py, its own process), runs an IMMEDIATE, ONCE
   campaign to everyone --repeats times, each a new campaign, timed by the server's own
   stamps from the campaign's CreationDate to its last activity's End (polled every 0.25 s,
   which adds nothing to the figure); every run must count SuccessfulEndpointCount == N.
   The CPU time of the server and its child processes (function environments, the run
   writer) during each run is read from /proc, as is the baseline's.
3. Reads the server's peak RSS (VmHWM, added up with its run-writer helper's; function
   environments are other processes) after the load, resets it, and reads it again after
   the campaign runs.
4. With the server stopped, measures the minimal-work baseline on the same database file:
   the same endpoint rows (id, stored JSON text) streamed out in keyset pages by id with
   tidings.store.audience.PageReader (page size as the engine's planner), the same
   50-endpoint payloads (tidings.domain.delivery.payload), handed to the same no-op
   receiver with nothing in between: a tidings.functions.pool.Pool of
   --baseline-environments warm environments for (a) and (b), aiohttp POSTs for (c),
   --baseline-in-flight batches at once; also --repeats times.

With --profile DIR, one extra Python-function run per size is recorded with py-spy
(`py-spy record -p <server pid> -f raw`) into DIR and summarised (bench/profile_summary.py).
Run: .venv/bin/python bench/campaign_run.py [--endpoints 20000,100000] [--repeats 3]
     [--database-url postgresql://user@127.0.0.1:5432/empty_db] [--profile /tmp/profiles]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import boto3
import orjson
from botocore.config import Config
from invoke import HANDLERS, event_loop_runner, warm_pool
from profile_summary import read as read_profile
from profile_summary import summary as profile_summary
from receiver import ACCOUNT, Receiver

from tidings import __version__
from tidings.campaigns.activity import PAGE_SIZE
from tidings.domain import delivery, segments
from tidings.domain import endpoints as endpoint_rules
from tidings.domain.common import now_iso
from tidings.functions.sandbox import Sandbox
from tidings.store import endpoints as endpoint_store
from tidings.store.audience import PageReader
from tidings.store.db import Database

REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench"
IMPORT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/import"
CAMPAIGN_ARNS = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:/apps/*/campaigns/*"
BATCH = 100  # UpdateEndpointsBatch takes at most 100 endpoints
BATCH_HOW = f"UpdateEndpointsBatch ({BATCH} per call, {{}} calls in flight)"
DIRECT_WRITE_ROWS = 10_000  # endpoints per transaction when writing straight into the store
MESSAGE = {"CustomMessage": {"Data": "x"}}
# Channel key (a runtime of bench/invoke.py's no-op handlers, or "webhook") -> table label.
CHANNELS = {
    "python3.11": "(a) no-op Python function",
    "nodejs20.x": "(b) no-op Node.js function",
    "webhook": "(c) loopback webhook",
}
# Issue 5's targets, for 1,000,000 endpoints on a 2-core machine.
TARGETS = {"python3.11": 50_000, "nodejs20.x": 30_000, "webhook": 40_000}
TARGET_RATIO_PYTHON = 0.5
TARGET_IMPORT = 50_000
TARGET_RSS_MB = 300
TARGET_RSS_GROWTH = 1.3
PROFILE_RATE = 100  # py-spy samples per second
# The root key pair of the servers this benchmark starts, and the AWS CLI's view of it.
ROOT_KEY = ("TKBENCH" + secrets.token_hex(7).upper()[:13], secrets.token_urlsafe(30))
CLI_CREDENTIALS = {"AWS_ACCESS_KEY_ID": ROOT_KEY[0], "AWS_SECRET_ACCESS_KEY": ROOT_KEY[1], "AWS_CONFIG_FILE": os.devnull}


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
            "TIDINGS_FILES_ROOT": str(work),  # the audience is imported from a file:// URL there
            "TIDINGS_ACCESS_KEY_ID": ROOT_KEY[0],
            "TIDINGS_SECRET_ACCESS_KEY": ROOT_KEY[1],
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

    def _measured(self) -> list[int]:
        """The server process and its run-writer helper (function environments, which are
        the functions' own processes, are left out)."""
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        helpers = [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]
        return [pid, *helpers]

    def peak_rss_mib(self) -> float:
        """Peak resident sets (VmHWM) of the server and its helper, added up."""
        total_kib = 0
        for pid in self._measured():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kib += int(line.split()[1])
        return total_kib / 1024

    def reset_peak_rss(self) -> None:
        """Start VmHWM over from the current resident set (Linux: 5 > /proc/<pid>/clear_refs)."""
        for pid in self._measured():
            Path(f"/proc/{pid}/clear_refs").write_text("5")

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
            aws_access_key_id=ROOT_KEY[0],
            aws_secret_access_key=ROOT_KEY[1],
            config=Config(retries={"max_attempts": 1}, max_pool_connections=connections, read_timeout=120),
        )


@dataclass
class Load:
    how: str
    rate: float | None  # endpoints/s; None when not run
    note: str = ""

    def __str__(self) -> str:
        figure = f"{self.rate:,.0f} endpoints/s" if self.rate else "-"
        return f"{self.how}: {figure}" + (f"; {self.note}" if self.note else "")


@dataclass
class SizeResult:
    size: int
    loads: list[Load]
    engine: dict[str, list[float]] = field(default_factory=dict)  # channel -> seconds per run
    baseline: dict[str, list[float]] = field(default_factory=dict)
    # channel -> CPU seconds per run: the server and its function environments (engine); the
    # bench process and its environments (baseline). The webhook receiver is in neither.
    engine_cpu: dict[str, list[float]] = field(default_factory=dict)
    baseline_cpu: dict[str, list[float]] = field(default_factory=dict)
    # The server's peak RSS while loading, and while running campaigns (VmHWM reset between).
    rss_load_mib: float = 0.0
    rss_runs_mib: float = 0.0
    profile: str | None = None  # markdown summary of the profiled run
    # 1-minute load average when the size started and when it ended: other work on the
    # machine shows here (a 2-core machine is busy above 2).
    load_average: tuple[float, float] = (0.0, 0.0)

    def rate(self, runs: list[float]) -> float:
        return self.size / statistics.median(runs)

    def audience_load(self) -> str:
        """How the campaigns' audience was loaded (the first load measured)."""
        return next(load.how for load in self.loads if load.rate)

    def import_rate(self) -> float | None:
        return next((load.rate for load in self.loads if "create-import-job" in load.how), None)


def zipped(filename: str, source: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(filename, source)
    return buffer.getvalue()


def create_function(lambda_client, runtime: str) -> str:
    filename, source, handler = HANDLERS[runtime]
    name = "bench-" + runtime.replace(".", "")
    lambda_client.create_function(
        FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
        Code={"ZipFile": zipped(filename, source)}, Timeout=30,
    )  # fmt: skip
    lambda_client.add_permission(
        FunctionName=name, StatementId="pinpoint", Action="lambda:InvokeFunction",
        Principal=f"pinpoint.{REGION}.amazonaws.com", SourceArn=CAMPAIGN_ARNS,
    )  # fmt: skip
    return name


# --- the audience ------------------------------------------------------------------------


def endpoint_id(i: int) -> str:
    return f"e{i:08d}"


def endpoint_request(i: int) -> dict:
    """Endpoint ``i`` as an EndpointRequest (without its Id)."""
    return {"ChannelType": "CUSTOM", "Address": f"addr-{i:08d}"}


def create_app(pinpoint, name: str) -> str:
    return pinpoint.create_app(CreateApplicationRequest={"Name": name})["ApplicationResponse"]["Id"]


def load_endpoints(pinpoint, app_id: str, count: int, threads: int) -> float:
    """UpdateEndpointsBatch in calls of 100, ``threads`` at once; returns endpoints/s."""

    def put(start: int) -> None:
        items = [{"Id": endpoint_id(i), **endpoint_request(i)} for i in range(start, min(start + BATCH, count))]
        pinpoint.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(0, count, BATCH)))
    return count / (time.perf_counter() - started)


def write_json_lines(path: Path, count: int) -> None:
    """Pinpoint's JSON import format: one endpoint definition (with its Id) per line."""
    with path.open("wb") as out:
        for i in range(count):
            out.write(orjson.dumps({"Id": endpoint_id(i), **endpoint_request(i)}) + b"\n")


def import_endpoints(url: str, pinpoint, app_id: str, path: Path, count: int, timeout: float) -> float | None:
    """`aws pinpoint create-import-job` from ``path`` as a file:// URL, polled until
    COMPLETED; endpoints/s from the job's CreationDate to its CompletionDate (the CLI's own
    start-up is not the import's), or None when the server does not implement CreateImportJob."""
    request = {"S3Url": path.resolve().as_uri(), "Format": "JSON", "RoleArn": IMPORT_ROLE}
    started = time.perf_counter()
    cli = subprocess.run(
        [str(Path(sys.executable).with_name("aws")), "pinpoint", "create-import-job", "--endpoint-url", url,
         "--region", REGION, "--output", "json", "--application-id", app_id,
         "--import-job-request", json.dumps(request)],
        capture_output=True, text=True, env={**os.environ, **CLI_CREDENTIALS},
    )  # fmt: skip
    if cli.returncode != 0:
        if "MethodNotAllowedException" in cli.stderr:
            return None
        raise SystemExit(f"aws pinpoint create-import-job failed: {cli.stderr}")
    job = json.loads(cli.stdout)["ImportJobResponse"]
    while job["JobStatus"] != "COMPLETED":
        elapsed = time.perf_counter() - started
        if job["JobStatus"] in ("FAILING", "FAILED") or elapsed > timeout:
            raise SystemExit(f"import job is {job['JobStatus']} after {elapsed:.1f} s: {job}")
        time.sleep(0.05)
        job = pinpoint.get_import_job(ApplicationId=app_id, JobId=job["Id"])["ImportJobResponse"]
    if job.get("FailedPieces") or job.get("Failures") or job.get("TotalProcessed", count) != count:
        raise SystemExit(f"import job COMPLETED with failures or not all {count:,} endpoints: {job}")
    took = datetime.fromisoformat(job["CompletionDate"]) - datetime.fromisoformat(job["CreationDate"])
    return count / took.total_seconds()


def write_directly(database_url: str, app_id: str, count: int) -> float:
    """Endpoints written straight into the store, as UpdateEndpointsBatch would store new
    ones (no API, no per-endpoint address or user checks); returns endpoints/s."""
    db = Database(database_url)
    now = now_iso()
    started = time.perf_counter()
    try:
        for start in range(0, count, DIRECT_WRITE_ROWS):
            docs = {
                endpoint_id(i): endpoint_rules.apply_update(
                    None, endpoint_request(i), now=now, request_id="bench-direct-write",
                    cohort_id=i % 100, filters={}, member=f"endpoint {i}",
                )  # fmt: skip
                for i in range(start, min(start + DIRECT_WRITE_ROWS, count))
            }
            with db.write() as conn:
                endpoint_store.save(conn, app_id, docs)
    finally:
        db.dispose()
    return count / (time.perf_counter() - started)


def load_audience(url: str, pinpoint, database_url: str, app_id: str, count: int, args, work: Path) -> list[Load]:
    """Put ``count`` endpoints in ``app_id`` by the fastest way the server offers."""
    path = work / "endpoints.jsonl"
    write_json_lines(path, count)
    imported = import_endpoints(url, pinpoint, app_id, path, count, args.timeout)
    how = "aws pinpoint create-import-job (JSON lines, file://)"
    loads = [Load(how, imported, "" if imported else "not supported by this server (MethodNotAllowedException)")]
    if imported is not None:
        return loads
    if count <= args.batch_load_max:
        return loads + [Load(BATCH_HOW.format(args.load_threads), load_endpoints(pinpoint, app_id, count, args.load_threads))]
    rate = write_directly(database_url, app_id, count)
    return loads + [
        batch_api_load(pinpoint, count, args),
        Load("direct store write (no import support)", rate, "tidings.store.endpoints.save via SQLAlchemy"),
    ]


def batch_api_load(pinpoint, count: int, args) -> Load:
    """UpdateEndpointsBatch's rate when the audience came another way: into a second app,
    deleted after. Run after the campaign runs, so that their peak RSS does not include
    the memory this load leaves behind."""
    how = BATCH_HOW.format(args.load_threads)
    if count > args.batch_load_max:
        return Load(how, None, f"not run above {args.batch_load_max:,} endpoints (too slow)")
    scratch = create_app(pinpoint, "bench-batch-load")
    rate = load_endpoints(pinpoint, scratch, count, args.load_threads)
    pinpoint.delete_app(ApplicationId=scratch)
    return Load(how, rate, "into a second app after the campaign runs, deleted after")


# --- the engine --------------------------------------------------------------------------


def run_campaign(pinpoint, app_id: str, segment_id: str, uri: str, expected: int, timeout: float) -> float:
    """Seconds from the campaign's CreationDate to the last activity's End, both stamped by
    the server (so polling, kept slow to cost the server little, adds nothing); fails unless
    every endpoint succeeded."""
    request = {
        "Name": "bench",
        "SegmentId": segment_id,
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "MessageConfiguration": MESSAGE,
        "CustomDeliveryConfiguration": {"DeliveryUri": uri},
    }
    started = time.perf_counter()
    ids = {"ApplicationId": app_id}
    campaign = pinpoint.create_campaign(**ids, WriteCampaignRequest=request)["CampaignResponse"]
    ids["CampaignId"] = campaign["Id"]
    while True:
        status = pinpoint.get_campaign(**ids)["CampaignResponse"]["State"]["CampaignStatus"]
        elapsed = time.perf_counter() - started
        if status == "COMPLETED":
            break
        if status in ("PAUSED", "DELETED") or elapsed > timeout:
            activities = pinpoint.get_campaign_activities(**ids)["ActivitiesResponse"]["Item"]
            raise SystemExit(f"campaign to {uri} is {status} after {elapsed:.1f} s; activities: {activities}")
        time.sleep(0.25)
    activities = pinpoint.get_campaign_activities(**ids)["ActivitiesResponse"]["Item"]
    succeeded = sum(activity.get("SuccessfulEndpointCount", 0) for activity in activities)
    if succeeded != expected:
        raise SystemExit(
            f"campaign to {uri} COMPLETED with SuccessfulEndpointCount {succeeded}, not {expected}: {activities}"
        )
    end = max(datetime.fromisoformat(activity["End"]) for activity in activities)
    return (end - datetime.fromisoformat(campaign["CreationDate"])).total_seconds()


def cpu_seconds(pid: int, exclude: int | None = None) -> float:
    """User + system CPU of a process and of its live descendants (function environments),
    leaving out the tree of process ``exclude`` (the webhook receiver)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        if current == exclude:
            continue
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
    return total


def profiled(py_spy: str, pid: int, out: Path, run: Callable[[], object]) -> str:
    """``run()`` while py-spy samples process ``pid`` into ``out`` (raw); the summary."""
    with (out.parent / (out.name + ".log")).open("wb") as log:
        spy = subprocess.Popen(
            [py_spy, "record", "-p", str(pid), "-f", "raw", "-o", str(out), "-r", str(PROFILE_RATE)], stdout=log, stderr=log
        )
        time.sleep(1)  # attached
        try:
            run()
        finally:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    return f"{out}\n\n{profile_summary(read_profile(out), rate=PROFILE_RATE)}"


# --- the baseline ------------------------------------------------------------------------


async def stream_batches(
    db: Database, app_id: str, expected: int, send: Callable[[bytes], Awaitable[None]], in_flight: int
) -> float:
    """Seconds to stream the app's endpoints out of the store in keyset pages, build the
    50-endpoint payloads and hand each to ``send``, ``in_flight`` at once; the next page is
    read (in a thread, as the engine does) while the current one is sent."""
    reader = PageReader(db, app_id, segments.Const(True))
    slots = asyncio.Semaphore(in_flight)
    tasks: set[asyncio.Task] = set()
    failures: list[BaseException] = []

    def settled(task: asyncio.Task) -> None:
        tasks.discard(task)
        slots.release()
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())

    sent = 0
    started = time.perf_counter()
    page = asyncio.ensure_future(asyncio.to_thread(reader.page, None, PAGE_SIZE))
    while page is not None:
        members, after = await page
        page = None if after is None else asyncio.ensure_future(asyncio.to_thread(reader.page, after, PAGE_SIZE))
        for start in range(0, len(members), delivery.BATCH_SIZE):
            chunk = members[start : start + delivery.BATCH_SIZE]
            body = delivery.payload(
                message=MESSAGE, app_id=app_id, campaign_id="baseline", treatment_id="0",
                activity_id="baseline", scheduled_time="2026-01-01T00:00:00.000Z",
                endpoints={member.id: member.doc for member in chunk}, idempotency_key=f"baseline-{sent}",
            )  # fmt: skip
            await slots.acquire()
            if failures:
                raise RuntimeError(f"the baseline receiver failed: {failures[0]}")
            task = asyncio.create_task(send(body))
            tasks.add(task)
            task.add_done_callback(settled)
            sent += len(chunk)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = time.perf_counter() - started
    failures += [r for r in results if isinstance(r, BaseException)]
    if failures:
        raise RuntimeError(f"the baseline receiver failed: {failures[0]}")
    if sent != expected:
        raise SystemExit(f"the baseline streamed {sent:,} endpoints, not {expected:,}")
    return elapsed


async def baseline_runs(
    channel: str, uri: str, database_url: str, app_id: str, expected: int, args, receiver_pid: int
) -> tuple[list[float], list[float]]:
    """--repeats baseline runs to the no-op receiver of ``channel``: seconds and CPU seconds of each."""
    db = Database(database_url)

    async def repeat(send: Callable[[bytes], Awaitable[None]]) -> tuple[list[float], list[float]]:
        seconds, cpu = [], []
        for _ in range(args.repeats):
            cpu_before = cpu_seconds(os.getpid(), exclude=receiver_pid)
            seconds.append(await stream_batches(db, app_id, expected, send, args.baseline_in_flight))
            cpu.append(cpu_seconds(os.getpid(), exclude=receiver_pid) - cpu_before)
        return seconds, cpu

    try:
        if channel == "webhook":
            async with aiohttp.ClientSession(trust_env=False) as session:

                async def post(body: bytes) -> None:
                    async with session.post(uri, data=body, headers={"Content-Type": "application/json"}) as answer:
                        await answer.read()
                        if answer.status != 200:
                            raise RuntimeError(f"HTTP {answer.status} from {uri}")

                return await repeat(post)
        # The same sandbox the server runs its environments in, so the baseline pays its cost too.
        sandbox = Sandbox.create()
        with tempfile.TemporaryDirectory(prefix="tidings-baseline-") as tmp:
            pool, spec = await warm_pool(channel, args.baseline_environments, Path(tmp), sandbox)

            async def invoke(body: bytes) -> None:
                result = await pool.invoke("baseline", body, spec.function_arn)
                if result.error:
                    raise RuntimeError(result.payload.decode("utf-8", "replace"))

            try:
                return await repeat(invoke)
            finally:
                await pool.close()
                if sandbox.memory is not None:
                    sandbox.memory.close()
    finally:
        db.dispose()


# --- one audience size -------------------------------------------------------------------


def bench_size(count: int, args, receiver: Receiver) -> SizeResult:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix=f"tidings-bench-{count}-") as tmp:
        work = Path(tmp)
        database_url = args.database_url or f"sqlite:///{work / 'tidings.db'}"
        server = Server(database_url, work).start()
        try:
            pinpoint = server.client("pinpoint", connections=args.load_threads)
            lambda_client = server.client("lambda")
            app_id = create_app(pinpoint, f"bench-{count}")
            result = SizeResult(count, load_audience(server.url, pinpoint, database_url, app_id, count, args, work))
            for load in result.loads:
                print(f"  {count:,}: load, {load}", file=sys.stderr)
            result.rss_load_mib = server.peak_rss_mib()
            server.reset_peak_rss()
            segment_id = pinpoint.create_segment(
                ApplicationId=app_id, WriteSegmentRequest={"Name": "everyone", "Dimensions": {"Demographic": {}}}
            )["SegmentResponse"]["Id"]
            uris = {
                channel: receiver.url if channel == "webhook" else create_function(lambda_client, channel)
                for channel in args.channels
            }
            for channel, uri in uris.items():
                result.engine[channel], result.engine_cpu[channel] = [], []
                for repeat in range(args.repeats):
                    cpu_before = cpu_seconds(server.process.pid)
                    seconds = run_campaign(pinpoint, app_id, segment_id, uri, count, args.timeout)
                    result.engine_cpu[channel].append(cpu_seconds(server.process.pid) - cpu_before)
                    result.engine[channel].append(seconds)
                    print(f"  {count:,}: {CHANNELS[channel]}, run {repeat + 1}: {seconds:.2f} s", file=sys.stderr)
            if args.profile and "python3.11" in uris:
                args.profile.mkdir(parents=True, exist_ok=True)
                out = args.profile / f"server-python-{count}.raw"
                result.profile = profiled(
                    args.py_spy, server.process.pid, out,
                    lambda: run_campaign(pinpoint, app_id, segment_id, uris["python3.11"], count, args.timeout),
                )  # fmt: skip
            result.rss_runs_mib = server.peak_rss_mib()
            if result.import_rate() is not None:
                result.loads.append(batch_api_load(pinpoint, count, args))
                print(f"  {count:,}: load, {result.loads[-1]}", file=sys.stderr)
        except BaseException:
            print(f"server log ({server.log_path}):\n{server.log_path.read_text()[-4000:]}", file=sys.stderr)
            raise
        finally:
            server.stop()
        for channel, uri in uris.items():
            result.baseline[channel], result.baseline_cpu[channel] = event_loop_runner()(
                baseline_runs(channel, uri, database_url, app_id, count, args, receiver.process.pid)
            )
            runs = ", ".join(f"{s:.2f} s" for s in result.baseline[channel])
            print(f"  {count:,}: baseline, {CHANNELS[channel]}: {runs}", file=sys.stderr)
    result.load_average = (load_before, os.getloadavg()[0])
    return result


# --- the report --------------------------------------------------------------------------


def report(results: list[SizeResult], args, database_url: str | None) -> None:
    backend = (database_url or "sqlite").split(":", 1)[0]
    print(
        f"Campaign runs on {backend}: CUSTOM endpoints, segment of everyone, IMMEDIATE ONCE campaigns; "
        f"medians of {args.repeats} runs (each a new campaign). Baseline: the same rows streamed from the "
        f"same database in pages of {PAGE_SIZE:,}, the same {delivery.BATCH_SIZE}-endpoint payloads, the same "
        f"no-op receiver, no engine ({args.baseline_environments} warm environments for functions; "
        f"{args.baseline_in_flight} batches in flight)."
    )
    print()
    print("| endpoints | measure | Tidings | baseline (no engine) | Tidings / baseline |")
    print("|---:|---|---:|---:|---:|")
    for result in results:
        size = f"{result.size:,}"
        for load in result.loads:
            figure = f"{load.rate:,.0f}/s" if load.rate else "-"
            note = f"; {load.note}" if load.note else ""
            print(f"| {size} | load: {load.how}{note} | {figure} | | |")
        for channel in result.engine:
            engine, baseline = result.rate(result.engine[channel]), result.rate(result.baseline[channel])
            print(f"| {size} | {CHANNELS[channel]}, end to end | {engine:,.0f}/s | {baseline:,.0f}/s | {engine / baseline:.2f} |")
            engine_cpu, baseline_cpu = (
                statistics.median(cpu) * 1e6 / result.size for cpu in (result.engine_cpu[channel], result.baseline_cpu[channel])
            )
            print(f"| {size} | {CHANNELS[channel]}, CPU per endpoint (all processes but the webhook receiver) | {engine_cpu:.0f} µs | {baseline_cpu:.0f} µs | {engine_cpu / baseline_cpu:.2f} |")
        print(f"| {size} | server peak RSS while loading (VmHWM) | {result.rss_load_mib:.0f} MiB | | |")
        print(f"| {size} | server peak RSS during the campaign runs (VmHWM of the server plus its run-writer helper, reset after the load) | {result.rss_runs_mib:.0f} MiB | | |")
    print()
    smallest, largest = results[0], results[-1]
    if largest is not smallest:
        growth = f"campaign runs {largest.rss_runs_mib / smallest.rss_runs_mib:.2f}x"
        if smallest.audience_load() == largest.audience_load():
            growth += f", load {largest.rss_load_mib / smallest.rss_load_mib:.2f}x"
        print(
            f"server peak RSS, {largest.size:,} vs {smallest.size:,} endpoints: {growth} "
            f"(target: within {TARGET_RSS_GROWTH}x, under {TARGET_RSS_MB} MB)"
        )
    print(f"targets (issue 5, meant for 1,000,000 endpoints), at {largest.size:,}: {targets(largest)}")
    for result in results:
        for channel in result.engine:
            engine = ", ".join(f"{s:.2f}" for s in result.engine[channel])
            baseline = ", ".join(f"{s:.2f}" for s in result.baseline[channel])
            print(f"runs (s), {result.size:,}, {CHANNELS[channel]}: Tidings {engine}; baseline {baseline}")
    loads = ", ".join(f"{r.size:,}: {r.load_average[0]:.1f} -> {r.load_average[1]:.1f}" for r in results)
    print(f"1-minute load average at the start and end of each size ({os.cpu_count()} cores): {loads}")
    print(f"machine: {machine()}")
    print(f"versions: {versions()}")
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    print(f"command: {shlex.join([python, *sys.argv])}")
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    for result in results:
        if result.profile:
            print()
            print(f"Server profile, {CHANNELS['python3.11']} run, {result.size:,} endpoints: {result.profile}")


def targets(result: SizeResult) -> str:
    checks = []
    for channel, target in TARGETS.items():
        if channel in result.engine:
            rate = result.rate(result.engine[channel])
            checks.append(f"{CHANNELS[channel][:3]} {rate:,.0f}/s vs >= {target:,} {verdict(rate >= target)}")
    if "python3.11" in result.engine:
        ratio = result.rate(result.engine["python3.11"]) / result.rate(result.baseline["python3.11"])
        checks.append(f"(a)/baseline {ratio:.2f} vs >= {TARGET_RATIO_PYTHON} {verdict(ratio >= TARGET_RATIO_PYTHON)}")
    imported = result.import_rate()
    if imported is None:
        checks.append(f"import not measured (target >= {TARGET_IMPORT:,}/s)")
    else:
        checks.append(f"import {imported:,.0f}/s vs >= {TARGET_IMPORT:,} {verdict(imported >= TARGET_IMPORT)}")
    rss_mb = max(result.rss_load_mib, result.rss_runs_mib) * 1.048576
    checks.append(f"peak RSS {rss_mb:.0f} MB vs < {TARGET_RSS_MB} {verdict(rss_mb < TARGET_RSS_MB)}")
    return "; ".join(checks)


def verdict(met: bool) -> str:
    return "(met)" if met else "(NOT met)"


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory = next(
        (int(line.split()[1]) / 1024**2 for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")),
        0.0,
    )
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM; {platform.platform()}"


def versions() -> str:
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        node = "not found"
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return (
        f"Tidings {__version__} (git {commit}); Python {platform.python_version()}; Node.js {node}; "
        f"SQLite {sqlite3.sqlite_version}; aiohttp {aiohttp.__version__}; boto3 {boto3.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--endpoints", type=lambda text: sorted(int(n) for n in text.split(",")), default=[20_000, 100_000],
        help="audience sizes, comma-separated (default: 20000,100000)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="runs per channel and size, engine and baseline")
    parser.add_argument("--channels", type=lambda text: text.split(","), default=list(CHANNELS),
                        help=f"comma-separated, of {','.join(CHANNELS)}")  # fmt: skip
    parser.add_argument("--database-url", help="postgresql://... (an empty database); default: a fresh SQLite file per size")
    parser.add_argument("--load-threads", type=int, default=4, help="UpdateEndpointsBatch calls in flight")
    parser.add_argument("--batch-load-max", type=int, default=200_000, help="largest audience loaded with UpdateEndpointsBatch")
    parser.add_argument("--baseline-environments", type=int, default=2, help="warm function environments of the baseline")
    parser.add_argument("--baseline-in-flight", type=int, default=4, help="batches the baseline has in flight")
    parser.add_argument("--timeout", type=float, default=900, help="seconds one run (or the import) may take")
    parser.add_argument("--profile", type=Path, help="directory: record one more Python run per size with py-spy")
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="the py-spy binary (default: on PATH)")
    args = parser.parse_args()
    unknown = set(args.channels) - set(CHANNELS)
    if unknown:
        parser.error(f"unknown channels {sorted(unknown)}; choose from {list(CHANNELS)}")
    if args.profile and not args.py_spy:
        parser.error("--profile needs py-spy: pip install py-spy, or give --py-spy /path/to/py-spy")

    receiver = Receiver(ACCOUNT).start()
    try:
        results = [bench_size(count, args, receiver) for count in args.endpoints]
    finally:
        receiver.stop()
    report(results, args, args.database_url)


if __name__ == "__main__":
    main()
