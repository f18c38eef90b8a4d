"""Fixtures: a live `tidings serve` per backend, and the real clients that talk to it."""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from tests.messenger import messenger_stub  # noqa: F401
from tests.services import fresh_postgres_database
from tests.webhooks import webhook_receiver  # noqa: F401
from tidings.wire.model import botocore_session

REGION = "us-east-1"
ACCOUNT = "000000000000"
BACKENDS = ["sqlite", "postgresql"]
# The root key pair of this test session's servers (random, so nothing depends on its value).
ROOT_KEY = ("TKTEST" + secrets.token_hex(7).upper(), secrets.token_urlsafe(30))


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
    """A `tidings serve` process on a free port, with the session's root key unless ``env``
    says otherwise (TIDINGS_ACCESS_KEY_ID="" starts it without a configured key)."""

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
            "TIDINGS_ACCESS_KEY_ID": ROOT_KEY[0],
            "TIDINGS_SECRET_ACCESS_KEY": ROOT_KEY[1],
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

    @property
    def credentials(self) -> tuple[str, str]:
        """The key pair clients sign with: the server's root key."""
        return self.env["TIDINGS_ACCESS_KEY_ID"], self.env["TIDINGS_SECRET_ACCESS_KEY"]

    @property
    def client_env(self) -> dict[str, str]:
        """What a client on another machine knows: this server's URL and the keys ``client()``
        signs with, nothing of its store; no AWS profile or config file of the developer's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "AWS_"))}
        key_id, secret = self.credentials
        return {
            **env,
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "TIDINGS_ENDPOINT_URL": self.url,
        }

    def client(self, service: str, credentials: tuple[str, str] | None = None, **config: object):
        """A boto3 client of ``service`` ("pinpoint", "lambda" or "tidings", Tidings' own API),
        signing with the root key unless ``credentials`` says otherwise."""
        key_id, secret = credentials or self.credentials
        return _boto3_session().client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, **config),
        )

    def raw(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, *, signed: bool = True
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request as written (signed by botocore with the root key unless ``signed``
        is false): (status, lower-case headers, body)."""
        headers = dict(headers or {})
        if signed:
            headers = signed_headers(self, method, path, body or b"", headers)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def tidings(self, *args: str, cwd: Path | None = None, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        """Run a `tidings` client command against this server, from ``cwd`` (default: the
        server's log folder), knowing only its URL and keys."""
        return self._run_tidings(args, cwd, timeout, {**self.client_env, **env})

    def keys(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
        """Run `tidings keys ARGS` on this server's store (key administration opens the store)."""
        store = {"TIDINGS_DATABASE_URL": self.database_url, "TIDINGS_DATA_DIR": self.env["TIDINGS_DATA_DIR"]}
        return self._run_tidings(("keys", *args), None, timeout, {**self.client_env, **store, **env})

    def _run_tidings(self, args, cwd, timeout, env) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tidings", *args],
            cwd=cwd or self.log_path.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def aws(
        self, *args: str, check: bool = True, credentials: tuple[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run the AWS CLI against this server (signing with ``credentials``, else the root
        key); ``.json`` holds the parsed output."""
        cli = Path(sys.executable).with_name("aws")
        env = self.client_env
        if credentials is not None:
            env = {**env, "AWS_ACCESS_KEY_ID": credentials[0], "AWS_SECRET_ACCESS_KEY": credentials[1]}
        done = subprocess.run(
            [str(cli), "--endpoint-url", self.url, "--output", "json", *args],
            env=env,
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


def signing_name(path: str) -> str:
    """The SigV4 service name of the API a path belongs to."""
    return "lambda" if path.startswith("/2015-03-31/") else "mobiletargeting"


def signed_headers(
    server: Server, method: str, path: str, body: bytes, headers: dict, credentials: tuple[str, str] | None = None
) -> dict[str, str]:
    """``headers`` plus the SigV4 headers botocore adds to this request."""
    request = AWSRequest(method=method, url=server.url + path, data=body, headers=headers)
    SigV4Auth(Credentials(*(credentials or server.credentials)), signing_name(path), REGION).add_auth(request)
    return dict(request.headers.items())


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
