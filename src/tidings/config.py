"""Settings for a Tidings server, declared once: each field is a `tidings serve` option
(``--name``, the field name without its ``_s`` unit suffix) and a ``TIDINGS_<NAME>``
environment variable, with the default and help text given here."""

from __future__ import annotations

import os
from dataclasses import Field, dataclass, field
from functools import cached_property
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///./.tidings/tidings.db"
# Hosts that mean "every interface": clients on this machine reach them on loopback.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def setting(default: Any, help: str, *, hidden: bool = False, min: float | None = None, max: float | None = None):
    """A settings field with what its command-line option says about it."""
    return field(default=default, metadata={"help": help, "hidden": hidden, "min": min, "max": max})


def option_name(item: Field) -> str:
    """``retry_base_delay_s`` -> ``retry-base-delay`` (the option ``--retry-base-delay``)."""
    return item.name.removesuffix("_s").replace("_", "-")


def env_name(item: Field) -> str:
    return "TIDINGS_" + option_name(item).replace("-", "_").upper()


@dataclass(frozen=True)
class Settings:
    host: str = setting("127.0.0.1", "Interface to listen on (0.0.0.0: every interface).")
    port: int = setting(8765, "Port for every API.", min=1, max=65535)
    public_url: str | None = setting(
        None, "URL clients reach this server at, used in suggested commands (default: http://HOST:PORT)."
    )
    database_url: str = setting(DEFAULT_DATABASE_URL, "sqlite:///PATH or postgresql://USER@HOST:PORT/DB.")
    region: str = setting("us-east-1", "Region written into ARNs.")
    account_id: str = setting("000000000000", "Account written into ARNs.")
    data_dir: str = setting("./.tidings", "Unpacked function code, environment temp dirs, function logs.")
    max_environments: int = setting(8, "Warm environments per function without reserved concurrency.", min=1)
    environment_idle_timeout_s: float = setting(
        600.0, "Seconds an idle function environment is kept warm before it is stopped.", min=0
    )
    # Off only for development on hosts without bubblewrap (see functions/sandbox.py).
    function_sandbox: bool = setting(
        True,
        "Run functions in a bubblewrap sandbox with their MemorySize enforced. --no-function-sandbox is "
        "for development only: functions then read and write what the server can.",
    )
    # Event invocations are retried twice after a function error, after this delay and twice it.
    event_retry_base_delay_s: float = setting(
        60.0, "Seconds before retrying a failed Event invocation (doubles).", min=0
    )
    # A batch of a campaign run is tried delivery_attempts times, each attempt waiting at most
    # attempt_timeout_s, with exponential backoff (and jitter) from retry_base_delay_s.
    delivery_attempts: int = setting(3, "Tries per batch of a campaign run.", min=1)
    attempt_timeout_s: float = setting(15.0, "Seconds one delivery attempt (function or webhook) may take.", min=0)
    retry_base_delay_s: float = setting(1.0, "Seconds before a failed batch is retried (doubles, with jitter).", min=0)
    # Failed batches in a row pause the campaign instead of burning the audience.
    max_consecutive_failed_batches: int = setting(10, "Failed batches in a row that pause a campaign.", min=1)
    # Also bounded by a function's environments.
    max_batches_in_flight: int = setting(16, "Batches of one activity delivered at once.", min=1)
    # As long as Pinpoint kept analytics; KPIs look back at most 90 days.
    send_records_retention_days: int = setting(
        90, "Days campaign send records (`_campaign.send` events, what KPIs count) are kept.", min=1
    )
    # Pinpoint's check: a HEAD request must answer X-Amz-Pinpoint-AccountId.
    webhook_ownership_check: bool = setting(True, "HEAD a webhook URL on campaign create/update.")
    # Without it no URL an API caller gives reaches loopback (tidings.domain.addresses).
    allow_http_loopback: bool = setting(
        False,
        "Development only: let webhook and import URLs reach loopback (127.0.0.0/8, ::1), over http:// too. "
        "The only way to allow loopback; private, link-local and reserved addresses stay refused.",
    )
    # Off by default: the body is the receiver's text, and a webhook URL must not be a way to
    # read services.
    webhook_error_bodies: bool = setting(
        False, "Quote the first 200 bytes of a webhook's error answer in the campaign activity's message."
    )
    files_root: str = setting(
        "",
        f"Directories (separated by '{os.pathsep}') that file:// import sources and export destinations "
        "must lie in. Unset: file:// is refused.",
    )
    trusted_proxies: str = setting(
        "",
        "Comma-separated addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "headers are believed (for aws:SourceIp and aws:SecureTransport in key policies). Unset: none.",
    )
    # Slow clients: the request line and headers must arrive within header_timeout_s, and a
    # body may pause at most body_timeout_s between two reads.
    header_timeout_s: float = setting(10.0, "Seconds a client may take to send a request's line and headers.", min=0.1)
    body_timeout_s: float = setting(10.0, "Seconds a request body may pause between two reads.", min=0.1)
    # Development only: fail a request whose output has members its shape lacks.
    strict_output: bool = setting(False, "Development only: fail responses that break their shape.", hidden=True)
    # The root key pair (not stored); without it the root key is the stored one.
    access_key_id: str | None = setting(
        None, "The root key's id (with --secret-access-key); unset: the key stored on first start."
    )
    secret_access_key: str | None = field(
        default=None,
        repr=False,
        metadata={"help": "The root key's secret (prefer the environment variable to the flag).", "hidden": False},
    )

    @property
    def root_key(self) -> tuple[str, str] | None:
        if self.access_key_id and self.secret_access_key:
            return self.access_key_id, self.secret_access_key
        return None

    @cached_property
    def files_roots(self) -> tuple[str, ...]:
        """``files_root`` as resolved directories; ValueError names one that is not a directory."""
        from tidings.jobs.files import roots_of

        return roots_of(self.files_root)

    @property
    def url(self) -> str:
        """Where clients reach this server: ``public_url``, else ``http://host:port``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in WILDCARD_HOSTS else self.host
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
