"""Fixtures: a live `tidings serve` per backend, and the real clients that talk to it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from tests.messenger import messenger_stub  # noqa: F401
from tests.services import fresh_postgres_database
from tests.webhooks import webhook_receiver  # noqa: F401
from tidings.wire.model import botocore_session

REGION = "us-east-1"
ACCOUNT = "000000000000"
BACKENDS = ["sqlite", "postgresql"]
CLIENT_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'tidings.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


@cache
def _boto3_session() -> boto3.Session:
    """One session for every client (models load once); it also knows Tidings' own model."""
    return boto3.Session(botocore_session=botocore_session())


class Server:
    """A `tidings serve` process on a free port."""

    # file:// import sources and export destinations: pytest's base temp dir, where tests
    # write them (set once per session by `files_root`).
    files_root = ""

    def __init__(self, database_url: str, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.log_path = log_path
        self.env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": database_url,
            "TIDINGS_PORT": str(self.port),
            "TIDINGS_STRICT_OUTPUT": "1",
            "TIDINGS_ALLOW_HTTP_LOOPBACK": "1",
            "TIDINGS_LOG_LEVEL": "warning",
            "TIDINGS_DATA_DIR": str(log_path.parent / "data"),
            "TIDINGS_EVENT_RETRY_BASE_DELAY": "0.2",
            "TIDINGS_RETRY_BASE_DELAY": "0.05",
            "TIDINGS_FILES_ROOT": Server.files_root,
            **env,
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> Server:
        log = self.log_path.open("ab")
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

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self, service: str):
        """A boto3 client of ``service``: "pinpoint", "lambda" or "tidings" (Tidings' own API)."""
        return _boto3_session().client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=CLIENT_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CLIENT_ENV["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 1}),
        )

    def cli_env(self) -> dict[str, str]:
        """What a client on another machine knows: this server's URL and the keys
        ``client()`` signs with, nothing of its store; no AWS profile or config file."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "AWS_"))}
        return {
            **env,
            **CLIENT_ENV,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "TIDINGS_ENDPOINT_URL": self.url,
        }

    def tidings(self, *args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        """Run the `tidings` CLI as a client of this server, from ``cwd``."""
        return subprocess.run(
            [sys.executable, "-m", "tidings", *args],
            cwd=cwd,
            env={**self.cli_env(), **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the AWS CLI against this server; ``.json`` holds the parsed output."""
        cli = Path(sys.executable).with_name("aws")
        done = subprocess.run(
            [str(cli), "--endpoint-url", self.url, "--output", "json", *args],
            env={**os.environ, **CLIENT_ENV},
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        done.json = json.loads(done.stdout) if done.stdout.strip() else None  # type: ignore[attr-defined]
        return done


@pytest.fixture(scope="session", autouse=True)
def files_root(tmp_path_factory) -> str:
    Server.files_root = str(tmp_path_factory.getbasetemp())
    return Server.files_root


@pytest.fixture(scope="session")
def server(database_url, tmp_path_factory) -> Iterator[Server]:
    srv = Server(database_url, tmp_path_factory.mktemp("log") / "server.log").start()
    yield srv
    srv.stop()


@pytest.fixture
def pinpoint(server):
    return server.client("pinpoint")


@pytest.fixture
def lambda_client(server):
    return server.client("lambda")


@pytest.fixture
def app_id(pinpoint) -> str:
    return pinpoint.create_app(CreateApplicationRequest={"Name": "test"})["ApplicationResponse"]["Id"]
