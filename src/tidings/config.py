"""Settings for a Tidings server. Each is a `tidings serve` flag and a TIDINGS_<NAME> variable."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite:///./.tidings/tidings.db"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    database_url: str = DEFAULT_DATABASE_URL
    region: str = "us-east-1"
    account_id: str = "000000000000"
    # Where function code is unpacked, environments keep their temp dirs, and function logs go.
    data_dir: str = "./.tidings"
    # Warm environments per function when it has no reserved concurrency.
    max_environments: int = 8
    # Idle environments are stopped after this many seconds.
    environment_idle_s: float = 600.0
    # Event invocations: retried twice after a function error, after this delay and twice it.
    event_retry_base_delay_s: float = 60.0
    # Development only: accept http:// webhook URLs that point at loopback addresses.
    allow_http_loopback: bool = False
    # Development only: fail a request whose output has members its shape lacks.
    strict_output: bool = False
