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
   campaign to everyone, each run a new campaign on the same database: --python-repeats
   times for (a) (the last run's time over the first's shows whether runs slow down as the
   database grows), --repeats times for the others. Each is timed by the server's own stamps
   from the campaign's CreationDate to its last activity's End (polled every 0.25 s, which
   adds nothing to the figure); every run must count SuccessfulEndpointCount == N.
   The CPU time of the server and its child processes (function environments, the run
   writer) during each run is read from /proc, as is the baseline's.
3. Peak RSS (VmHWM): of the server and its run-writer helper after the load; then, reset
   after the load and read after the campaign runs while the function environments are
   still warm, of the server with its helper and of everything the server started (every
   descendant process: the helper, the function environments' bubblewrap processes and the
   interpreters inside), added up.
4. Disk: the bytes the store's data takes after the load and after the campaign runs; their
   difference over the successful sends of all runs is the disk each send leaves behind
   (delivery records, their indexes, events), whatever the tables are. SQLite: pages in use,
   (page_count - freelist_count) * page_size, read on a read-only connection of its own after
   `PRAGMA wal_checkpoint(TRUNCATE)` has moved the write-ahead log into the file; PostgreSQL:
   pg_database_size.
5. After those measurements, so that they do not include it: CreateImportJob's rate for N
   rows carrying every attribute kind an endpoint has (rich_endpoint_request), into an app of
   their own, through the AWS CLI from a JSON-lines file:// URL as in 1 (one row is read back
   and compared); then the UpdateEndpointsBatch load of 1.
6. With the server stopped, measures the minimal-work baseline on the same database file:
   the same endpoint rows (id, stored JSON text) streamed out in keyset pages by id with
   tidings.store.audience.PageReader (page size as the engine's planner), the same
   50-endpoint payloads (tidings.domain.delivery.payload), handed to the same no-op
   receiver with nothing in between: a tidings.functions.pool.Pool of
   --baseline-environments warm environments for (a) and (b), aiohttp POSTs for (c),
   --baseline-in-flight batches at once; --repeats times.

With --postgres URL, the largest size then runs once more on PostgreSQL: the database URL
names is dropped and created empty, and (a) runs --repeats times (no baseline, no import of
rich rows). The output ends with the targets, each with its figure and whether it is met,
as a markdown table.

With --profile DIR, one extra Python-function run per size is recorded with py-spy
(`py-spy record -p <server pid> -f raw`) into DIR and summarised (bench/profile_summary.py).
Run: .venv/bin/python bench/campaign_run.py [--endpoints 20000,100000] [--repeats 3]
     [--python-repeats 5] [--channels python3.11,nodejs20.x,webhook]
     [--database-url postgresql://user@127.0.0.1:5432/empty_db]
     [--postgres postgresql://postgres@127.0.0.1:5432/bench_pg] [--profile /tmp/profiles]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import re
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
from contextlib import closing
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
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tidings import __version__
from tidings.campaigns.planner import PAGE_SIZE
from tidings.domain import delivery, segments
from tidings.domain import endpoints as endpoint_rules
from tidings.domain.common import now_iso
from tidings.functions.sandbox import Sandbox
from tidings.store import endpoints as endpoint_store
from tidings.store.audience import PageReader
from tidings.store.db import Database, normalize_url

REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/bench"
IMPORT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/import"
CAMPAIGN_ARNS = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:/apps/*/campaigns/*"
BATCH = 100  # UpdateEndpointsBatch takes at most 100 endpoints
BATCH_HOW = f"UpdateEndpointsBatch ({BATCH} per call, {{}} calls in flight)"
DIRECT_WRITE_ROWS = 10_000  # endpoints per transaction when writing straight into the store
MESSAGE = {"CustomMessage": {"Data": "x"}}
PYTHON = "python3.11"
# Channel key (a runtime of bench/invoke.py's no-op handlers, or "webhook") -> table label.
CHANNELS = {
    PYTHON: "(a) no-op Python function",
    "nodejs20.x": "(b) no-op Node.js function",
    "webhook": "(c) loopback webhook",
}
# The targets, for 1,000,000 endpoints (100,000 for the RSS growth) on a 2-core machine.
TARGETS = {PYTHON: 50_000, "nodejs20.x": 45_000, "webhook": 40_000}  # endpoints/s
TARGET_RATIO_PYTHON = 0.5  # (a)'s rate over its baseline's
TARGET_RUN_DRIFT = 0.10  # the last (a) run's time within 10% of the first's
TARGET_DISK_PER_SEND = 150  # bytes
TARGET_RSS_MB = 250  # everything the server starts, added up
TARGET_RSS_GROWTH = 1.1  # the largest size's peak over the smallest's
TARGET_IMPORT = 60_000  # rows/s, rows carrying every attribute kind
TARGET_POSTGRES = 30_000  # endpoints/s, (a) on PostgreSQL
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

    def _server_and_helper(self) -> list[int]:
        """The server process and its run-writer helper."""
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        helpers = [int(c) for c in children if b"tidings.campaigns.writer" in Path(f"/proc/{c}/cmdline").read_bytes()]
        return [pid, *helpers]

    def peak_rss_mib(self) -> float:
        """Peak resident sets (VmHWM) of the server and its helper, added up."""
        return sum(peak_rss_kib(pid) for pid in self._server_and_helper()) / 1024

    def peak_rss_everything_mib(self) -> tuple[float, str]:
        """Peak resident sets (VmHWM) of the server and of every process it started, live
        now (its helper, function environments: bubblewrap and the interpreter it runs),
        added up; and the same per process name ("python3.11 x3: 52 MiB, ...")."""
        assert self.process is not None
        by_name: dict[str, list[int]] = {}
        for pid in process_tree(self.process.pid):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
                by_name.setdefault(name, []).append(peak_rss_kib(pid))
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended meanwhile
        total = sum(sum(peaks) for peaks in by_name.values()) / 1024
        parts = sorted(by_name.items(), key=lambda item: -sum(item[1]))
        return total, ", ".join(f"{name} x{len(peaks)}: {sum(peaks) / 1024:.0f} MiB" for name, peaks in parts)

    def reset_peak_rss(self) -> None:
        """Start VmHWM over from the current resident set (Linux: 5 > /proc/<pid>/clear_refs),
        in the server and every process it started."""
        assert self.process is not None
        for pid in process_tree(self.process.pid):
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except (FileNotFoundError, ProcessLookupError):
                continue  # ended meanwhile
            except PermissionError as error:
                raise SystemExit(f"cannot reset the peak RSS of process {pid}: {error}") from None

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
class Plan:
    """What one server is put through: an audience of ``size`` endpoints in ``database_url``
    (None: a fresh SQLite file), ``runs`` campaigns per channel, then, when asked, the loads
    measured after the runs (rows carrying every attribute kind; UpdateEndpointsBatch) and,
    with the server stopped, the baseline."""

    size: int
    database_url: str | None
    runs: dict[str, int]
    later_loads: bool = True
    baseline: bool = True


@dataclass
class SizeResult:
    size: int
    store: str  # "SQLite 3.40.1", "PostgreSQL 15.4"
    loads: list[Load]
    engine: dict[str, list[float]] = field(default_factory=dict)  # channel -> seconds per run
    baseline: dict[str, list[float]] = field(default_factory=dict)
    # channel -> CPU seconds per run: the server and its function environments (engine); the
    # bench process and its environments (baseline). The webhook receiver is in neither.
    engine_cpu: dict[str, list[float]] = field(default_factory=dict)
    baseline_cpu: dict[str, list[float]] = field(default_factory=dict)
    # Peak RSS of the server and its helper while loading, and, VmHWM reset between, during
    # the campaign runs; and of everything the server started during the runs (per process
    # name in rss_everything_parts).
    rss_load_mib: float = 0.0
    rss_runs_mib: float = 0.0
    rss_everything_mib: float = 0.0
    rss_everything_parts: str = ""
    rss_by_channel: dict[str, tuple[float, str]] = field(default_factory=dict)  # channel -> (MiB, parts)
    # Bytes of data in the store after the load and after the campaign runs, and the
    # endpoints the runs counted successful in between.
    store_bytes_loaded: int = 0
    store_bytes_after_runs: int = 0
    sends: int = 0
    rich_import: Load | None = None
    profile: str | None = None  # markdown summary of the profiled run
    # 1-minute load average when the size started and when it ended: other work on the
    # machine shows here (a 2-core machine is busy above 2).
    load_average: tuple[float, float] = (0.0, 0.0)

    def rate(self, runs: list[float]) -> float:
        return self.size / statistics.median(runs)

    def engine_rate(self, channel: str) -> float | None:
        return self.rate(self.engine[channel]) if channel in self.engine else None

    def baseline_ratio(self, channel: str) -> float | None:
        """The engine's rate over the baseline's (None without a baseline)."""
        if channel not in self.engine or channel not in self.baseline:
            return None
        return self.rate(self.engine[channel]) / self.rate(self.baseline[channel])

    def run_drift(self, channel: str) -> float | None:
        """The last run's time over the first's (None with fewer than two runs)."""
        runs = self.engine.get(channel, [])
        return runs[-1] / runs[0] if len(runs) > 1 else None

    def disk_per_send(self) -> float | None:
        if not self.sends:
            return None
        return (self.store_bytes_after_runs - self.store_bytes_loaded) / self.sends

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


def rich_endpoint_request(i: int) -> dict:
    """Endpoint ``i`` with every attribute kind an endpoint carries (without its Id)."""
    return {
        "ChannelType": "CUSTOM",
        "Address": f"addr-{i:08d}",
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "Attributes": {"plan": ["pro"], "interests": ["news", "sport"]},
        "Metrics": {"score": i % 100, "visits": 3.5},
        "Demographic": {
            "AppVersion": "1.2.3", "Locale": "en_US", "Make": "Acme", "Model": "X1",
            "ModelVersion": "2", "Platform": "ios", "PlatformVersion": "17.1", "Timezone": "Europe/Paris",
        },  # fmt: skip
        "Location": {
            "City": "Paris", "Country": "FRA", "Latitude": 48.85, "Longitude": 2.35,
            "PostalCode": "75001", "Region": "IDF",
        },  # fmt: skip
        "User": {"UserId": f"u{i:08d}", "UserAttributes": {"tier": ["gold"]}},
    }


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


def write_json_lines(path: Path, count: int, request: Callable[[int], dict] = endpoint_request) -> None:
    """Pinpoint's JSON import format: one endpoint definition (with its Id) per line."""
    with path.open("wb") as out:
        for i in range(count):
            out.write(orjson.dumps({"Id": endpoint_id(i), **request(i)}) + b"\n")


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


def rich_import(url: str, pinpoint, count: int, args, work: Path) -> Load:
    """CreateImportJob's rate for ``count`` rows carrying every attribute kind, into an app
    of their own; the last row is read back and compared. Run after the campaign runs and
    their measurements, which it would otherwise add to."""
    how = "aws pinpoint create-import-job, rows carrying every attribute kind (JSON lines, file://)"
    app_id = create_app(pinpoint, "bench-import-rich")
    path = work / "rich-endpoints.jsonl"
    write_json_lines(path, count, rich_endpoint_request)
    try:
        rate = import_endpoints(url, pinpoint, app_id, path, count, args.timeout)
    finally:
        path.unlink()
    if rate is None:
        return Load(how, None, "not supported by this server (MethodNotAllowedException)")
    # The last row read back holds what the endpoint rules make of the row (they round
    # coordinates to one decimal place, as Pinpoint does).
    last, request = count - 1, rich_endpoint_request(count - 1)
    stored = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=endpoint_id(last))["EndpointResponse"]
    kept = endpoint_rules.apply_update(
        None, request, now=now_iso(), request_id="bench-rich-import", cohort_id=0, filters={}, member="Endpoint"
    )
    wrong = differences({key: kept[key] for key in request}, stored)
    if wrong:
        raise SystemExit(f"endpoint {endpoint_id(last)} imported with every attribute kind reads back wrong: {wrong}")
    return Load(how, rate, "into an app of their own after the campaign runs")


def differences(expected: object, actual: object, where: str = "") -> list[str]:
    """Where ``actual`` lacks or differs from what ``expected`` holds (extra keys are fine)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where or '.'}: {actual!r}, not an object"]
        return [wrong for key, value in expected.items() for wrong in differences(value, actual.get(key), f"{where}.{key}")]
    return [] if expected == actual else [f"{where}: {actual!r}, not {expected!r}"]


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


# --- the store ---------------------------------------------------------------------------


def is_sqlite(database_url: str) -> bool:
    return make_url(normalize_url(database_url)).get_backend_name() == "sqlite"


def postgres_scalar(database_url: str, query: str) -> object:
    db = Database(database_url)
    try:
        with db.read() as conn:
            return conn.execute(text(query)).scalar_one()
    finally:
        db.dispose()


def store_label(database_url: str) -> str:
    """The store's kind and version: "SQLite 3.40.1", "PostgreSQL 15.4"."""
    if is_sqlite(database_url):
        return f"SQLite {sqlite3.sqlite_version}"  # the server runs this Python's sqlite3
    return "PostgreSQL " + str(postgres_scalar(database_url, "SHOW server_version")).split()[0]


def store_bytes(database_url: str) -> int:
    """Bytes the store's data takes, whatever its tables. SQLite: the pages in use,
    (page_count - freelist_count) * page_size, read on a read-only connection of its own
    once the write-ahead log has been checkpointed into the file (the file's size is then
    that figure when no page is free); PostgreSQL: pg_database_size (the cluster's
    write-ahead log is not the database's)."""
    if not is_sqlite(database_url):
        return int(postgres_scalar(database_url, "SELECT pg_database_size(current_database())"))
    path = Path(make_url(database_url).database).resolve()
    for _ in range(50):
        with closing(sqlite3.connect(path, timeout=30)) as conn:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            break
        time.sleep(0.1)  # a server transaction was open: once it is idle the checkpoint completes
    # Had the checkpoint not completed, the figure would be the same: a connection counts the
    # pages the log holds as the database's (page_count and the freelist are read through it).
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        page_size, page_count, freelist_count = (
            conn.execute(f"PRAGMA {pragma}").fetchone()[0] for pragma in ("page_size", "page_count", "freelist_count")
        )
    return (page_count - freelist_count) * page_size


def settled_store_bytes(database_url: str) -> int:
    """store_bytes once two readings a second apart agree (writes a run leaves pending, such
    as its events, have landed)."""
    before = store_bytes(database_url)
    for _ in range(10):
        time.sleep(1)
        now = store_bytes(database_url)
        if now == before:
            break
        before = now
    return before


def fresh_postgres(url: str) -> str:
    """Drop the PostgreSQL database ``url`` names and create it empty; returns ``url``."""
    parsed = make_url(normalize_url(url))
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        engine.dispose()
    return url


def scratch_postgres_url(url: str) -> str:
    """--postgres's value: a URL whose database is named bench..., so that dropping it can
    never take a database of other use."""
    name = make_url(url).database or ""
    if not re.fullmatch(r"bench\w*", name):
        raise argparse.ArgumentTypeError(f"the database is dropped and re-created: its name must start with bench, not {name!r}")
    return url


# --- the engine --------------------------------------------------------------------------


def run_campaign(pinpoint, app_id: str, segment_id: str, uri: str, expected: int, timeout: float) -> tuple[float, int]:
    """Seconds from the campaign's CreationDate to the last activity's End, both stamped by
    the server (so polling, kept slow to cost the server little, adds nothing), and the
    endpoints it counted successful; fails unless every endpoint succeeded."""
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
    return (end - datetime.fromisoformat(campaign["CreationDate"])).total_seconds(), succeeded


def process_tree(pid: int, exclude: int | None = None) -> list[int]:
    """A process and its live descendants, leaving out the tree of process ``exclude``."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        if current == exclude:
            continue
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        found.append(current)
    return found


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0  # a zombie


def cpu_seconds(pid: int, exclude: int | None = None) -> float:
    """User + system CPU of a process and of its live descendants (function environments),
    leaving out the tree of process ``exclude`` (the webhook receiver)."""
    total = 0.0
    for current in process_tree(pid, exclude):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
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


def bench_size(plan: Plan, args, receiver: Receiver) -> SizeResult:
    count = plan.size
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix=f"tidings-bench-{count}-") as tmp:
        work = Path(tmp)
        database_url = plan.database_url or f"sqlite:///{work / 'tidings.db'}"
        store = store_label(database_url)
        tag = f"{count:,} ({store})"
        server = Server(database_url, work).start()
        uris: dict[str, str] = {}
        try:
            pinpoint = server.client("pinpoint", connections=args.load_threads)
            lambda_client = server.client("lambda")
            app_id = create_app(pinpoint, f"bench-{count}")
            result = SizeResult(count, store, load_audience(server.url, pinpoint, database_url, app_id, count, args, work))
            for load in result.loads:
                print(f"  {tag}: load, {load}", file=sys.stderr)
            result.rss_load_mib = server.peak_rss_mib()
            server.reset_peak_rss()
            result.store_bytes_loaded = settled_store_bytes(database_url)
            segment_id = pinpoint.create_segment(
                ApplicationId=app_id, WriteSegmentRequest={"Name": "everyone", "Dimensions": {"Demographic": {}}}
            )["SegmentResponse"]["Id"]
            uris = {
                channel: receiver.url if channel == "webhook" else create_function(lambda_client, channel)
                for channel in plan.runs
            }
            for channel, uri in uris.items():
                result.engine[channel], result.engine_cpu[channel] = [], []
                for repeat in range(plan.runs[channel]):
                    cpu_before = cpu_seconds(server.process.pid)
                    seconds, succeeded = run_campaign(pinpoint, app_id, segment_id, uri, count, args.timeout)
                    result.engine_cpu[channel].append(cpu_seconds(server.process.pid) - cpu_before)
                    result.engine[channel].append(seconds)
                    result.sends += succeeded
                    print(f"  {tag}: {CHANNELS[channel]}, run {repeat + 1}: {seconds:.2f} s", file=sys.stderr)
                # Everything alive during this channel's runs (the environments of the channels
                # before it too, idle but warm), peaks reset after the previous channel.
                result.rss_by_channel[channel] = server.peak_rss_everything_mib()
                server.reset_peak_rss()
            if args.profile and PYTHON in uris:
                args.profile.mkdir(parents=True, exist_ok=True)
                out = args.profile / f"server-python-{count}-{store.split()[0].lower()}.raw"
                sends: list[int] = []
                result.profile = profiled(
                    args.py_spy, server.process.pid, out,
                    lambda: sends.append(run_campaign(pinpoint, app_id, segment_id, uris[PYTHON], count, args.timeout)[1]),
                )  # fmt: skip
                result.sends += sum(sends)
            # Measured now, while the function environments are warm, and before the loads
            # below add to the store and to the server's memory.
            result.rss_runs_mib = server.peak_rss_mib()
            result.rss_everything_mib, result.rss_everything_parts = max(
                [server.peak_rss_everything_mib(), *result.rss_by_channel.values()]
            )
            result.store_bytes_after_runs = settled_store_bytes(database_url)
            print(
                f"  {tag}: peak RSS during the runs {result.rss_everything_mib:.0f} MiB "
                f"({result.rss_everything_parts}); store {result.store_bytes_loaded:,} B after the load, "
                f"{result.store_bytes_after_runs:,} B after {result.sends:,} successful sends",
                file=sys.stderr,
            )
            if plan.later_loads:
                result.rich_import = rich_import(server.url, pinpoint, count, args, work)
                print(f"  {tag}: load, {result.rich_import}", file=sys.stderr)
                if result.import_rate() is not None:
                    result.loads.append(batch_api_load(pinpoint, count, args))
                    print(f"  {tag}: load, {result.loads[-1]}", file=sys.stderr)
        except BaseException:
            print(f"server log ({server.log_path}):\n{server.log_path.read_text()[-4000:]}", file=sys.stderr)
            raise
        finally:
            server.stop()
        for channel, uri in uris.items() if plan.baseline else ():
            result.baseline[channel], result.baseline_cpu[channel] = event_loop_runner()(
                baseline_runs(channel, uri, database_url, app_id, count, args, receiver.process.pid)
            )
            runs = ", ".join(f"{s:.2f} s" for s in result.baseline[channel])
            print(f"  {tag}: baseline, {CHANNELS[channel]}: {runs}", file=sys.stderr)
    result.load_average = (load_before, os.getloadavg()[0])
    return result


# --- the report --------------------------------------------------------------------------


def report(results: list[SizeResult], postgres: SizeResult | None, args) -> None:
    everything = [*results, *([postgres] if postgres else [])]
    print(
        f"Campaign runs: CUSTOM endpoints, segment of everyone, IMMEDIATE ONCE campaigns, each run a new "
        f"campaign on the same database; medians of each channel's runs. Baseline: the same rows streamed from the "
        f"same database in pages of {PAGE_SIZE:,}, the same {delivery.BATCH_SIZE}-endpoint payloads, the same "
        f"no-op receiver, no engine ({args.baseline_environments} warm environments for functions; "
        f"{args.baseline_in_flight} batches in flight). Peak RSS: VmHWM, reset after the load, read after the runs. "
        f"Store data: SQLite pages in use, PostgreSQL pg_database_size; MB = 10^6 bytes."
    )
    print()
    print("| endpoints | store | measure | Tidings | baseline (no engine) | Tidings / baseline |")
    print("|---:|---|---|---:|---:|---:|")
    for result in everything:

        def row(measure: str, figure: str, baseline: str = "", ratio: str = "") -> None:
            print(f"| {result.size:,} | {result.store} | {measure} | {figure} | {baseline} | {ratio} |")  # noqa: B023

        for load in [*result.loads, *([result.rich_import] if result.rich_import else [])]:
            row(f"load: {load.how}" + (f"; {load.note}" if load.note else ""), f"{load.rate:,.0f}/s" if load.rate else "-")
        for channel, runs in result.engine.items():
            engine_cpu = statistics.median(result.engine_cpu[channel]) * 1e6 / result.size
            measure = f"{CHANNELS[channel]}, end to end ({median_of(runs)})"
            cpu_measure = f"{CHANNELS[channel]}, CPU per endpoint (all processes but the webhook receiver)"
            if channel in result.baseline:
                baseline_cpu = statistics.median(result.baseline_cpu[channel]) * 1e6 / result.size
                row(measure, f"{result.rate(runs):,.0f}/s", f"{result.rate(result.baseline[channel]):,.0f}/s",
                    f"{result.baseline_ratio(channel):.2f}")  # fmt: skip
                row(cpu_measure, f"{engine_cpu:.0f} µs", f"{baseline_cpu:.0f} µs", f"{engine_cpu / baseline_cpu:.2f}")
            else:
                row(measure, f"{result.rate(runs):,.0f}/s", "not run")
                row(cpu_measure, f"{engine_cpu:.0f} µs", "not run")
            drift = result.run_drift(channel)
            if channel == PYTHON and drift is not None:
                row(f"{CHANNELS[channel]}, run {len(runs)} time / run 1 time", f"{drift:.2f}")
        row("store data after the audience load", f"{result.store_bytes_loaded / 1e6:,.1f} MB")
        row("store data after the campaign runs", f"{result.store_bytes_after_runs / 1e6:,.1f} MB")
        disk = result.disk_per_send()
        row(f"store data added per successful send ({result.sends:,} sends)", f"{disk:,.0f} B" if disk is not None else "-")
        row("peak RSS of the server and its run-writer helper while loading", f"{mb(result.rss_load_mib):.0f} MB")
        row("peak RSS of the server and its run-writer helper during the runs", f"{mb(result.rss_runs_mib):.0f} MB")
        for channel, (peak_mib, parts) in result.rss_by_channel.items():
            row(f"peak RSS of the server and everything alive during the {CHANNELS[channel]} runs ({parts})",
                f"{mb(peak_mib):.0f} MB")  # fmt: skip
        row(
            f"peak RSS of the server and everything it started during the runs ({result.rss_everything_parts})",
            f"{mb(result.rss_everything_mib):.0f} MB",
        )
    print()
    smallest, largest = results[0], results[-1]
    if largest is not smallest:
        print(
            f"peak RSS during the runs, {largest.size:,} vs {smallest.size:,} endpoints: everything the server started "
            f"{largest.rss_everything_mib / smallest.rss_everything_mib:.2f}x, the server and its helper "
            f"{largest.rss_runs_mib / smallest.rss_runs_mib:.2f}x"
        )
    for result in everything:
        for channel in result.engine:
            engine = ", ".join(f"{s:.2f}" for s in result.engine[channel])
            baseline = ", ".join(f"{s:.2f}" for s in result.baseline.get(channel, [])) or "not run"
            print(f"runs (s), {result.size:,}, {result.store}, {CHANNELS[channel]}: Tidings {engine}; baseline {baseline}")
    loads = ", ".join(
        f"{r.size:,} ({r.store}): {r.load_average[0]:.1f} -> {r.load_average[1]:.1f}" for r in everything
    )
    print(f"1-minute load average at the start and end of each size ({os.cpu_count()} cores): {loads}")
    print(f"machine: {machine()}")
    print(f"versions: {versions()}")
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
    print(f"command: {shlex.join([python, *sys.argv])}")
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    for result in everything:
        if result.profile:
            print()
            print(f"Server profile, {CHANNELS[PYTHON]} run, {result.size:,} endpoints, {result.store}: {result.profile}")
    print()
    summary(results, postgres)


def summary(results: list[SizeResult], postgres: SizeResult | None) -> None:
    """The targets, each with its figure and whether it is met, as a markdown table."""
    smallest, largest = results[0], results[-1]
    print(
        f"Targets (set for 1,000,000 endpoints, the RSS growth for 1,000,000 vs 100,000): figures at {largest.size:,} "
        f"endpoints on {largest.store}"
        + (f", the RSS growth {largest.size:,} vs {smallest.size:,}" if largest is not smallest else "")
        + (f", the last row on {postgres.store}" if postgres else "")
        + "."
    )
    print()
    print("| What | Figure | Target | Met? |")
    print("|---|---|---|---|")

    def row(what: str, figure: str, target: str, met: bool | None) -> None:
        print(f"| {what} | {figure} | {target} | {verdict(met)} |")

    def rate_figure(result: SizeResult, channel: str) -> tuple[str, float | None]:
        rate = result.engine_rate(channel)
        if rate is None:
            return "not run", None
        return f"{rate:,.0f} endpoints/s ({median_of(result.engine[channel])})", rate

    whats = {PYTHON: "1M endpoints, no-op Python function, create -> COMPLETED",
             "nodejs20.x": "same, no-op Node.js function", "webhook": "same, loopback webhook"}  # fmt: skip
    for channel, target in TARGETS.items():
        figure, rate = rate_figure(largest, channel)
        unit = " endpoints" if channel == PYTHON else ""
        row(whats[channel], figure, f">= {target:,}{unit}/s", None if rate is None else rate >= target)

    ratio = largest.baseline_ratio(PYTHON)
    figure = "not run" if ratio is None else (
        f"{ratio:.2f} ({largest.rate(largest.engine[PYTHON]):,.0f} vs {largest.rate(largest.baseline[PYTHON]):,.0f} endpoints/s)"
    )  # fmt: skip
    row("ratio to the same-run baseline (Python)", figure, f">= {TARGET_RATIO_PYTHON}",
        None if ratio is None else ratio >= TARGET_RATIO_PYTHON)  # fmt: skip

    drift = largest.run_drift(PYTHON)
    runs = largest.engine.get(PYTHON, [])
    figure = "not run" if drift is None else f"{drift:.2f} (run {len(runs)} {runs[-1]:.2f} s, run 1 {runs[0]:.2f} s)"
    row("the 5th 1M run on the same database vs the 1st (Python function)", figure,
        f"within {TARGET_RUN_DRIFT:.0%}: run5 time / run1 time <= {1 + TARGET_RUN_DRIFT:.2f} (a faster 5th run passes)",
        None if drift is None else drift <= 1 + TARGET_RUN_DRIFT)  # fmt: skip

    disk = largest.disk_per_send()
    added = largest.store_bytes_after_runs - largest.store_bytes_loaded
    figure = "no sends" if disk is None else (
        f"{disk:,.0f} B ({added / 1e6:,.1f} MB over {largest.sends:,} sends; "
        f"{largest.store_bytes_loaded / 1e6:,.1f} MB -> {largest.store_bytes_after_runs / 1e6:,.1f} MB)"
    )  # fmt: skip
    row("disk per successful send (records + indexes + events kept)", figure, f"<= {TARGET_DISK_PER_SEND} B",
        None if disk is None else disk <= TARGET_DISK_PER_SEND)  # fmt: skip

    def python_peak(result: SizeResult) -> float:
        """During the Python function's runs (the first channel), else over all runs."""
        return result.rss_by_channel.get(PYTHON, (result.rss_everything_mib, ""))[0]

    peak = mb(python_peak(largest))
    figure, met = f"{peak:.0f} MB at {largest.size:,}", peak < TARGET_RSS_MB
    if largest is smallest:
        figure += " (one size: growth not measured)"
        met = False if not met else None
    else:
        growth = python_peak(largest) / python_peak(smallest)
        figure += f", {mb(python_peak(smallest)):.0f} MB at {smallest.size:,}: {growth:.2f}x"
        met = met and growth <= TARGET_RSS_GROWTH
    row("peak RSS of everything the server starts (server, its run-writer helper, function environments incl. "
        "their sandbox processes — all descendants), during the Python function runs", figure,
        f"< {TARGET_RSS_MB} MB, and 1M <= {TARGET_RSS_GROWTH}x 100k", met)  # fmt: skip

    rich = largest.rich_import
    rate = rich.rate if rich else None
    row("CreateImportJob, 1M rows carrying every attribute kind", f"{rate:,.0f} rows/s" if rate else "not run",
        f">= {TARGET_IMPORT:,} rows/s", None if rate is None else rate >= TARGET_IMPORT)  # fmt: skip

    figure, rate = rate_figure(postgres, PYTHON) if postgres else ("not run (--postgres)", None)
    if postgres and rate is not None:
        figure += f", {postgres.size:,} endpoints, {postgres.store}"
    row("PostgreSQL 15, same 1M Python run (database server on this machine)", figure, f">= {TARGET_POSTGRES:,}/s",
        None if rate is None else rate >= TARGET_POSTGRES)  # fmt: skip


def median_of(runs: list[float]) -> str:
    return f"median of {len(runs)} runs" if len(runs) > 1 else "1 run"


def mb(mib: float) -> float:
    """Megabytes (10^6 bytes) from mebibytes."""
    return mib * 1.048576


def verdict(met: bool | None) -> str:
    return "not measured" if met is None else "yes" if met else "**no**"


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
    parser.add_argument("--repeats", type=int, default=3, help="runs per channel and size, engine (but --python-repeats) and baseline")
    parser.add_argument("--python-repeats", type=int, default=5,
                        help="runs of the Python function per size, on the same database (the last is compared "
                             "with the first)")  # fmt: skip
    parser.add_argument("--channels", type=lambda text: text.split(","), default=list(CHANNELS),
                        help=f"comma-separated, of {','.join(CHANNELS)}")  # fmt: skip
    parser.add_argument("--database-url", help="postgresql://... (an empty database); default: a fresh SQLite file per size")
    parser.add_argument(
        "--postgres", type=scratch_postgres_url,
        help="postgresql://user@host:port/bench_... : then run the largest size on this database, dropped and "
             "created empty first, Python function only, --repeats runs, no baseline",
    )  # fmt: skip
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

    runs = {channel: args.python_repeats if channel == PYTHON else args.repeats for channel in args.channels}
    plans = [Plan(count, args.database_url, runs) for count in args.endpoints]
    receiver = Receiver(ACCOUNT).start()
    try:
        results = [bench_size(plan, args, receiver) for plan in plans]
        postgres = None
        if args.postgres:
            plan = Plan(
                max(args.endpoints), fresh_postgres(args.postgres), {PYTHON: args.repeats}, later_loads=False, baseline=False
            )
            postgres = bench_size(plan, args, receiver)
    finally:
        receiver.stop()
    report(results, postgres, args)


if __name__ == "__main__":
    main()
