"""Settings for a Tidings server. Each is a `tidings serve` flag and a TIDINGS_<NAME> variable."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    # Campaign runs: a batch is tried this many times, each attempt waiting at most
    # attempt_timeout_s, with exponential backoff (and jitter) from retry_base_delay_s.
    delivery_attempts: int = 3
    attempt_timeout_s: float = 15.0
    retry_base_delay_s: float = 1.0
    # This many failed batches in a row pause the campaign instead of burning the audience.
    max_consecutive_failed_batches: int = 10
    # Batches of one activity delivered at once (also bounded by a function's environments).
    max_batches_in_flight: int = 16
    # Webhooks: a HEAD request on create/update must answer X-Amz-Pinpoint-AccountId.
    webhook_ownership_check: bool = True
    # Development only: accept http:// webhook URLs that point at loopback addresses.
    allow_http_loopback: bool = False
    # Development only: fail a request whose output has members its shape lacks.
    strict_output: bool = False
    # The root key pair (not stored); without it the root key is the stored one.
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)

    @property
    def root_key(self) -> tuple[str, str] | None:
        if self.access_key_id and self.secret_access_key:
            return self.access_key_id, self.secret_access_key
        return None
