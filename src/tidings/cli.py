"""The `tidings` command.

`serve`, `migrate` and `keys` open the store; every other command is a client of a running server,
as the AWS CLI is of AWS: botocore clients for Pinpoint, Lambda and Tidings' own service,
signed with the standard credential chain, pointed at ``--endpoint-url``.

Exit codes: 0 success; 1 the command could not do what was asked (the message says why);
2 bad usage; ``campaigns watch`` exits 3 when the run it followed failed.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import logging
import os
import sys
import time
import traceback
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tidings.config import Settings, env_name, option_name

# Plain click help (no rich panels): option and environment-variable names are never cut,
# whatever the width.
app = typer.Typer(
    help="Tidings: a self-hosted campaign engine that speaks Amazon Pinpoint's API.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
segments_app = typer.Typer(help="Look at segments.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(segments_app, name="segments")
functions_app = typer.Typer(help="Deploy and invoke functions.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(functions_app, name="functions")
campaigns_app = typer.Typer(help="Follow campaign runs.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(campaigns_app, name="campaigns")
events_app = typer.Typer(help="Campaign events: the `_campaign.send` records.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(events_app, name="events")
webhooks_app = typer.Typer(
    help="Webhook delivery: the signing secret receivers verify.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(webhooks_app, name="webhooks")

DEFAULTS = Settings()
SETTINGS_FIELDS = {item.name: item for item in dataclasses.fields(Settings)}
EXIT_FAILED = 1  # the command could not do what was asked
EXIT_RUN_FAILED = 3  # `campaigns watch`: the run ended without delivering (an activity FAIL, paused, cancelled)


class Failure(Exception):
    """A failure the user can act on: printed as its message alone (the traceback only with
    ``tidings --debug``)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Output(StrEnum):
    json = "json"
    table = "table"
    text = "text"


_debug = False


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"tidings {version('tidings')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("tidings (not installed: no version)")
        raise typer.Exit()


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug", envvar="TIDINGS_DEBUG", help="Print tracebacks of failures."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version, help="Print the version."),
) -> None:
    global _debug
    _debug = debug


def _console(stderr: bool = False) -> Console:
    """Rich output that is never wrapped: at a terminal lines fold at its edge; into a pipe or
    file they stay whole (rich would otherwise cut them at 80 columns)."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 1_000_000
    return Console(stderr=stderr, width=width, soft_wrap=True)


def _fail(message: str) -> None:
    # Messages quote patterns such as [a-zA-Z]: print them as they are, not as markup.
    _console(stderr=True).print(message, style="red", markup=False, highlight=False)


# --- serve and migrate: the commands that open the store --------------------------------------


def _settings_option(name: str) -> typing.Any:
    """The typer option of a Settings field: its default and help declared once, in config.py."""
    item = SETTINGS_FIELDS[name]
    flag = option_name(item)
    hint = typing.get_type_hints(Settings)[name]
    names = f"--{flag}/--no-{flag}" if hint is bool else f"--{flag}"
    meta = item.metadata
    return typer.Option(
        item.default,
        names,
        envvar=env_name(item),
        # A field declared without setting() still becomes an option, with no help text.
        help=meta.get("help"),
        hidden=meta.get("hidden", False),
        min=meta.get("min"),
        max=meta.get("max"),
        # Not "--no-allow-http-loopback", which help text would break at a hyphen.
        show_default=("on" if item.default else "off") if hint is bool else True,
    )


def _settings_parameters() -> list[inspect.Parameter]:
    hints = typing.get_type_hints(Settings)
    return [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_settings_option(name), annotation=hints[name])
        for name in SETTINGS_FIELDS
    ]


class LogLevel(StrEnum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


LogLevelOption = typer.Option(LogLevel.info, envvar="TIDINGS_LOG_LEVEL", help="Server log level.")


def serve(log_level: LogLevel = LogLevelOption, **options: typing.Any) -> None:
    """Serve the Pinpoint, Lambda and Tidings APIs on one port (boto3 and the AWS CLI work with --endpoint-url)."""
    import uvicorn

    from tidings.auth.keys import first_start_root
    from tidings.domain.errors import TidingsError
    from tidings.functions.sandbox import SandboxUnavailable
    from tidings.server import build_app
    from tidings.wire.connection import bounded_protocol

    level = log_level.value
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings(**options)
    if bool(settings.access_key_id) != bool(settings.secret_access_key):
        raise typer.BadParameter(
            "give both --access-key-id and --secret-access-key (TIDINGS_ACCESS_KEY_ID, "
            "TIDINGS_SECRET_ACCESS_KEY), or neither",
            param_hint="--access-key-id",
        )
    try:
        settings.files_roots  # noqa: B018 -- checked before anything starts
    except ValueError as exc:
        raise Failure(str(exc)) from None
    listener = _bind(settings.host, settings.port)
    try:
        with _opening_store(settings.database_url):
            application = build_app(settings)
    except SandboxUnavailable as exc:
        raise Failure(str(exc)) from None
    except TidingsError as error:  # e.g. a master key that is not 32 bytes of base64
        raise Failure(error.message) from None
    if settings.root_key is None:
        try:
            made = first_start_root(application.state.db, application.state.sealer, settings.host)
        except TidingsError as error:
            raise Failure(error.message) from None
        if made is not None:
            typer.echo(
                "Tidings made a root key for this store (first start, no key configured). "
                "In another terminal, sign with it:\n"
                f"{made.export_lines()} AWS_DEFAULT_REGION={settings.region}\n"
                "(`tidings keys root` prints it again.)",
            )
    logging.getLogger("tidings").info(
        "Tidings serving %s (store %s)", settings.url, application.state.db.engine.url.render_as_string()
    )
    config = uvicorn.Config(
        application,
        log_level=level,
        access_log=level == "debug",
        http=bounded_protocol(header_timeout_s=settings.header_timeout_s),
        # X-Forwarded-For/-Proto decide aws:SourceIp and aws:SecureTransport in key policies:
        # believed only from the proxies the operator names (a function on this host could
        # otherwise send them).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )
    uvicorn.Server(config).run(sockets=[listener])


# The options of `serve` are the fields of Settings (see config.py), plus the log level.
serve.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [inspect.Parameter("log_level", inspect.Parameter.KEYWORD_ONLY, default=LogLevelOption, annotation=LogLevel)]
    + _settings_parameters()
)
serve.__annotations__ = {}
app.command()(serve)


def _bind(host: str, port: int):
    """The listening socket, bound before anything is announced so that a port in use is
    reported as such (uvicorn starts listening on it once the application has started)."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise Failure(f"--host {host}: not an address of this machine ({exc.strerror}); use 127.0.0.1 or 0.0.0.0") from exc
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise Failure(
                f"port {port} on {host} is already in use (another tidings serve?); stop that process or "
                "pick another port with --port / TIDINGS_PORT"
            ) from exc
        if exc.errno == errno.EACCES:
            raise Failure(f"not allowed to listen on port {port}; pick a port above 1023 with --port / TIDINGS_PORT") from exc
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror}; check --host and --port") from exc
    return listener


@contextmanager
def _opening_store(database_url: str) -> Iterator[None]:
    """Turn a store that cannot be opened into one line naming it and the fix."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    try:
        yield
    except (ArgumentError, NoSuchModuleError) as exc:
        raise Failure(
            f"--database-url {database_url!r} is not a database URL Tidings can use ({exc}); "
            "use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        ) from exc
    except DBAPIError as exc:
        shown = make_url(database_url).render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        raise Failure(
            f"cannot open the database {shown}: {reason}\n"
            "Start the database or fix --database-url / TIDINGS_DATABASE_URL."
        ) from exc


@app.command()
def migrate(database_url: str = _settings_option("database_url")) -> None:
    """Apply the store's schema migrations and exit (`serve` also applies them on start)."""
    from tidings.store.db import Database
    from tidings.store.migrate import upgrade

    with _opening_store(database_url):
        db = Database(database_url)
        upgrade(db)
        db.dispose()
    typer.echo(f"{db.engine.url.render_as_string()}: migrated to this version of Tidings")


# --- the client commands ----------------------------------------------------------------------

EndpointUrl = typer.Option(
    DEFAULTS.url, "--endpoint-url", envvar="TIDINGS_ENDPOINT_URL", help="The Tidings server to talk to."
)
Profile = typer.Option(
    None, "--profile", help="AWS profile with the credentials (default: AWS_PROFILE, else AWS_ACCESS_KEY_ID...)."
)
OutputFormat = typer.Option(Output.table, "--output", help="How to print the result.")


# What AWS answers (403) to a key it does not know or a signature that does not match.
KEY_REFUSED = ("UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch", "InvalidClientTokenId")


class Server:
    """The running Tidings server the client commands talk to."""

    def __init__(self, endpoint_url: str, profile: str | None) -> None:
        from botocore.exceptions import ProfileNotFound

        from tidings.wire.model import botocore_session

        self.endpoint_url = endpoint_url
        try:
            self.session = botocore_session(profile)
            self.region = self.session.get_config_variable("region") or DEFAULTS.region
            credentials = self.session.get_credentials()
        except ProfileNotFound as exc:
            raise Failure(f"{exc}; name a profile of ~/.aws/config with --profile or AWS_PROFILE") from exc
        if credentials is None:
            raise Failure(
                "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (a key of this Tidings "
                "server) or AWS_PROFILE, as for the AWS CLI"
            )

    def client(self, service: str):
        from botocore.config import Config

        return self.session.create_client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=Config(retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=5),
        )

    @contextmanager
    def calling(self) -> Iterator[None]:
        """Turn what the server (or its absence) says into a Failure naming the cause."""
        from botocore.exceptions import (
            ClientError,
            EndpointConnectionError,
            HTTPClientError,
            NoCredentialsError,
        )

        try:
            yield
        except ClientError as exc:
            error = exc.response["Error"]
            message = error.get("Message") or error.get("Code", "")
            if error.get("Code") in KEY_REFUSED:
                message += (
                    " (the key comes from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, --profile or AWS_PROFILE; "
                    "use a key of this server)"
                )
            raise Failure(message) from exc
        except (EndpointConnectionError, HTTPClientError) as exc:
            raise Failure(
                f"cannot reach the Tidings server at {self.endpoint_url} ({exc}); start it with `tidings serve` "
                "or point --endpoint-url / TIDINGS_ENDPOINT_URL at it"
            ) from exc
        except NoCredentialsError as exc:
            raise Failure(f"{exc}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE") from exc


def _print_json(value: typing.Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


@segments_app.command("preview")
def segments_preview(
    application_id: str = typer.Argument(..., metavar="APP"),
    segment_id: str = typer.Argument(..., metavar="SEGMENT"),
    version: int | None = typer.Option(None, min=1, help="Segment version (default: the latest)."),
    limit: int = typer.Option(10, min=1, max=1000, help="How many endpoints to show."),
    output: Output = OutputFormat,
    endpoint_url: str = EndpointUrl,
    profile: str | None = Profile,
) -> None:
    """Count the endpoints a segment holds now and show the first of them."""
    server = Server(endpoint_url, profile)
    request = {"ApplicationId": application_id, "SegmentId": segment_id, "EndpointCount": limit}
    if version is not None:
        request["Version"] = version
    with server.calling():
        preview = server.client("tidings").get_segment_preview(**request)
    total, first = preview["Count"], preview["Endpoints"]
    if output is Output.json:
        _print_json({"Count": total, "Endpoints": first})
        return
    columns = ("Id", "ChannelType", "Address", "UserId", "Status", "OptOut")
    rows = [
        (
            endpoint["Id"],
            endpoint.get("ChannelType", ""),
            endpoint.get("Address", ""),
            (endpoint.get("User") or {}).get("UserId", ""),
            endpoint.get("EndpointStatus", ""),
            endpoint.get("OptOut", ""),
        )
        for endpoint in first
    ]
    if output is Output.text:  # like the AWS CLI's text output: tab-separated, one line each
        typer.echo(f"COUNT\t{total}")
        for row in rows:
            typer.echo("\t".join(["ENDPOINT", *row]))
        return
    table = Table(title=f"Segment {segment_id}: {total} endpoint(s)")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    _console().print(table)


@functions_app.command("deploy")
def functions_deploy(
    directory: Path = typer.Argument(..., exists=True, file_okay=False, metavar="DIR"),
    name: str = typer.Option(..., "--name", help="Function name."),
    runtime: str = typer.Option(..., "--runtime", help="python3.11-3.13 or nodejs18.x/20.x/22.x."),
    handler: str = typer.Option(..., "--handler", help="e.g. app.handler or index.handler."),
    timeout: int = typer.Option(3, min=1, max=900, help="Seconds."),
    memory: int = typer.Option(128, min=128, max=10240, help="MB."),
    env: list[str] = typer.Option([], "--env", help="KEY=VALUE, repeatable."),
    role: str = typer.Option("arn:aws:iam::000000000000:role/tidings", help="Stored as Lambda does; not enforced."),
    output: Output = typer.Option(Output.text, "--output", help="text: one line; json: the FunctionConfiguration."),
    endpoint_url: str = EndpointUrl,
    profile: str | None = Profile,
) -> None:
    """Zip DIR and create the function, or update its code and configuration if it exists."""
    from tidings.functions.code import zip_directory

    malformed = [item for item in env if "=" not in item]
    if malformed:
        raise Failure(f"--env {malformed[0]!r} is not KEY=VALUE", exit_code=2)
    server = Server(endpoint_url, profile)
    client = server.client("lambda")
    code = zip_directory(directory)
    variables = dict(item.split("=", 1) for item in env)
    config = {"Runtime": runtime, "Handler": handler, "Timeout": timeout, "MemorySize": memory, "Role": role}
    if variables:
        config["Environment"] = {"Variables": variables}
    with server.calling():
        try:
            result = client.create_function(FunctionName=name, Code={"ZipFile": code}, **config)
            action = "created"
        except client.exceptions.ResourceConflictException:
            client.update_function_code(FunctionName=name, ZipFile=code)
            result = client.update_function_configuration(FunctionName=name, **config)
            action = "updated"
    if output is Output.json:
        result.pop("ResponseMetadata", None)
        _print_json(result)
        return
    typer.echo(f"{action} {result['FunctionArn']} ({result['CodeSize']} bytes, {runtime}, {handler})")


@functions_app.command("invoke")
def functions_invoke(
    name: str = typer.Argument(..., metavar="NAME"),
    payload: str = typer.Option("{}", help="The event, as JSON."),
    endpoint_url: str = EndpointUrl,
    profile: str | None = Profile,
) -> None:
    """Invoke a function: its result on stdout, the tail of its log on stderr."""
    server = Server(endpoint_url, profile)
    with server.calling():
        result = server.client("lambda").invoke(FunctionName=name, Payload=payload.encode(), LogType="Tail")
    log = _console(stderr=True)
    log.print(base64.b64decode(result.get("LogResult", "")).decode(), end="", markup=False, highlight=False)
    if result.get("FunctionError"):
        log.print(f"Function error ({result['FunctionError']}):", style="red")
    typer.echo(result["Payload"].read().decode())
    if result.get("FunctionError"):
        raise typer.Exit(EXIT_FAILED)


# --- campaigns -------------------------------------------------------------------------------

RUNNING = ("PENDING", "RUNNING")  # an activity's states before it ends


def _latest_run(client, application_id: str, campaign_id: str) -> tuple[str, list[dict]]:
    """The campaign's status and the activities of its newest run (one per treatment)."""
    campaign = client.get_campaign(ApplicationId=application_id, CampaignId=campaign_id)["CampaignResponse"]
    # Newest run first; a run has one activity per treatment (at most 5).
    page = client.get_campaign_activities(ApplicationId=application_id, CampaignId=campaign_id, PageSize="25")
    items = page["ActivitiesResponse"]["Item"]
    newest = [a for a in items if a.get("ScheduledStart") == items[0].get("ScheduledStart")] if items else []
    return campaign["State"]["CampaignStatus"], sorted(newest, key=lambda a: a["TreatmentId"])


def _failed_count(activity: dict) -> int:
    return int(activity.get("ExecutionMetrics", {}).get("FAILED_ENDPOINT_COUNT", 0))


def _run_succeeded(activities: list[dict]) -> bool:
    return all(a["State"] == "COMPLETED" and a.get("Result", "SUCCESS") == "SUCCESS" for a in activities)


@campaigns_app.command("watch")
def campaigns_watch(
    application_id: str = typer.Argument(..., metavar="APP"),
    campaign_id: str = typer.Argument(..., metavar="CAMPAIGN"),
    interval: float = typer.Option(0.5, min=0.05, help="Seconds between looks at the campaign."),
    output: Output = typer.Option(
        Output.table, "--output", help="table: progress bars, then a summary; text: the summary; json: the activities."
    ),
    endpoint_url: str = EndpointUrl,
    profile: str | None = Profile,
) -> None:
    """Follow the campaign's current run until it ends.

    Exits 0 when every activity completed successfully, 3 when the run failed (an activity's
    Result is FAIL, or it was paused or cancelled), 1 when the campaign cannot be watched.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    server = Server(endpoint_url, profile)
    client = server.client("pinpoint")
    console = _console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[delivered]} delivered, {task.fields[failed]} failed, {task.fields[remaining]} left"),
        TextColumn("{task.fields[rate]}/s"),
        TimeElapsedColumn(),
    )
    seen: dict[str, tuple[float, int]] = {}  # activity -> (when, settled) at the previous look
    # The first look before any output: a campaign that is not there prints only the error.
    with server.calling():
        status, activities = _latest_run(client, application_id, campaign_id)
    with Progress(*columns, console=console, disable=output is not Output.table) as progress:
        tasks: dict[str, typing.Any] = {}
        while True:
            now = time.monotonic()
            for activity in activities:
                delivered, failed = activity.get("SuccessfulEndpointCount", 0), _failed_count(activity)
                settled = delivered + failed
                before_at, before = seen.get(activity["Id"], (now, settled))
                rate = (settled - before) / (now - before_at) if now > before_at else 0.0
                seen[activity["Id"]] = (now, settled)
                # While the run is planned page by page, the total grows with it.
                total = activity.get("TotalEndpointCount") or None
                fields = {
                    "delivered": delivered,
                    "failed": failed,
                    "remaining": "?" if total is None else str(max(0, total - settled)),
                    "rate": f"{rate:,.0f}",
                }
                label = f"treatment {activity['TreatmentId']} {activity['State'].lower()}"
                if activity["Id"] not in tasks:
                    tasks[activity["Id"]] = progress.add_task(label, total=total, completed=settled, **fields)
                else:
                    progress.update(tasks[activity["Id"]], description=label, total=total, completed=settled, **fields)
            finished = bool(activities) and all(a["State"] not in RUNNING for a in activities)
            if status not in ("EXECUTING", "SCHEDULED", "PENDING_NEXT_RUN") or (finished and status != "EXECUTING"):
                break
            time.sleep(interval)
            with server.calling():
                status, activities = _latest_run(client, application_id, campaign_id)
    succeeded = _run_succeeded(activities)
    if output is Output.json:
        _print_json({"CampaignStatus": status, "Succeeded": succeeded, "Activities": activities})
    else:
        console.print(f"Campaign {campaign_id}: {status}", markup=False, highlight=False)
        for activity in activities:
            message = activity.get("ExecutionMetrics", {}).get("Message")
            note = f" ({message})" if message else ""
            console.print(
                f"  treatment {activity['TreatmentId']}: {activity['State']} {activity.get('Result', '')}{note}",
                markup=False,
                highlight=False,
            )
    if not succeeded:
        raise typer.Exit(EXIT_RUN_FAILED)


# --- events ----------------------------------------------------------------------------------


@events_app.command("sends")
def events_sends(
    application_id: str = typer.Argument(..., metavar="APP"),
    campaign_id: str | None = typer.Option(None, "--campaign", help="Only this campaign's sends."),
    activity_id: str | None = typer.Option(None, "--activity", help="Only this activity's (run's) sends."),
    limit: int | None = typer.Option(None, min=1, help="At most this many records (default: all)."),
    endpoint_url: str = EndpointUrl,
    profile: str | None = Profile,
) -> None:
    """Print the `_campaign.send` event-stream records of an app, one JSON object per line."""
    server = Server(endpoint_url, profile)
    client = server.client("tidings")
    request = {"ApplicationId": application_id}
    if campaign_id is not None:
        request["CampaignId"] = campaign_id
    if activity_id is not None:
        request["ActivityId"] = activity_id
    remaining = limit
    # Records stream out page by page: a campaign of millions never sits in memory.
    try:
        with server.calling():
            while remaining is None or remaining > 0:
                page = client.list_send_records(**request, PageSize=min(1000, remaining or 1000))
                records = page["Records"][:remaining]
                for record in records:
                    typer.echo(orjson.dumps(record).decode())
                if remaining is not None:
                    remaining -= len(records)
                if not page.get("NextToken"):
                    break
                request["NextToken"] = page["NextToken"]
    except BrokenPipeError:
        # The reader (`| head`) has seen enough; stop quietly, as shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# --- webhooks --------------------------------------------------------------------------------


@webhooks_app.command("secret")
def webhooks_secret(
    application_id: str = typer.Argument(..., metavar="APP"),
    rotate: bool = typer.Option(
        False, help="Replace the secret; the previous one goes on signing deliveries for --overlap seconds."
    ),
    overlap: int | None = typer.Option(
        None, min=0, help="With --rotate: seconds both secrets sign deliveries (default 86400; 0: switch at once)."
    ),
    output: Output = typer.Option(Output.text, "--output", help="text: the secret alone; json: {\"Secret\": ...}."),
    endpoint_url: str = EndpointUrl,
    profile: str | None = Profile,
) -> None:
    """Print the app's webhook signing secret (whsec_..., for Standard Webhooks libraries)."""
    if overlap is not None and not rotate:
        raise typer.BadParameter("applies only with --rotate", param_hint="--overlap")
    server = Server(endpoint_url, profile)
    client = server.client("tidings")
    with server.calling():
        if rotate:
            extra = {} if overlap is None else {"OverlapSeconds": overlap}
            answer = client.rotate_webhook_secret(ApplicationId=application_id, **extra)
        else:
            answer = client.get_webhook_secret(ApplicationId=application_id)
    answer.pop("ResponseMetadata", None)
    if output is Output.json:
        _print_json(answer)
        return
    typer.echo(answer["Secret"])
    if answer.get("PreviousSecretExpires"):
        typer.echo(f"The previous secret also signs deliveries until {answer['PreviousSecretExpires']}.", err=True)


# --- import ----------------------------------------------------------------------------------


def _count_rows(path: Path, csv: bool) -> int:
    """About how many rows FILE (or the files under a directory) holds: its lines, less CSV
    headers. Counted in blocks, so a large file costs a fraction of a second."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    total = 0
    for file in files:
        lines, last = 0, b"\n"
        with file.open("rb") as stream:
            while block := stream.read(1 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
        total += lines + (last != b"\n") - (1 if csv else 0)
    return max(total, 0)


@app.command("import")
def import_endpoints(
    file: Path = typer.Argument(..., exists=True, metavar="FILE", help="JSON-lines or CSV file, or a directory of them."),
    application_id: str = typer.Option(..., "--app", help="The application (project) id."),
    fmt: str | None = typer.Option(None, "--format", help="JSON or CSV (default: CSV for *.csv, else JSON)."),
    define_segment: str | None = typer.Option(
        None, "--define-segment", metavar="NAME", help="Also make an imported segment of these endpoints."
    ),
    segment_id: str | None = typer.Option(None, "--segment", help="Refresh this imported segment instead."),
    interval: float = typer.Option(0.5, min=0.05, help="Seconds between looks at the job."),
    output: Output = typer.Option(Output.text, "--output", help="text: progress and a summary; json: the finished job."),
    endpoint_url: str = EndpointUrl,
    profile: str | None = Profile,
) -> None:
    """Import endpoints from a file with CreateImportJob and follow the job to its end."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    path = file.resolve()
    kind = (fmt or ("CSV" if path.suffix.lower() == ".csv" else "JSON")).upper()
    if kind not in ("JSON", "CSV"):
        raise Failure(f"--format must be JSON or CSV, got {fmt!r}", exit_code=2)
    request = {"Format": kind, "S3Url": path.as_uri(), "RoleArn": "arn:aws:iam::000000000000:role/tidings-import"}
    if define_segment:
        request.update(DefineSegment=True, SegmentName=define_segment)
    if segment_id:
        request["SegmentId"] = segment_id
    server = Server(endpoint_url, profile)
    client = server.client("pinpoint")
    expected = _count_rows(path, kind == "CSV")
    console = _console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.fields[expected]} rows, {task.fields[failures]:,} refused"),
        TextColumn("{task.fields[rate]}/s"),
        TimeElapsedColumn(),
    )
    with server.calling():
        job = client.create_import_job(ApplicationId=application_id, ImportJobRequest=request)["ImportJobResponse"]
        with Progress(*columns, console=console, disable=output is Output.json) as progress:
            bar = progress.add_task(
                f"import {job['Id'][:8]}", total=expected or None, failures=0, rate="0", expected=f"~{expected:,}"
            )
            started = time.monotonic()
            while job["JobStatus"] not in ("COMPLETED", "FAILED"):
                time.sleep(interval)
                job = client.get_import_job(ApplicationId=application_id, JobId=job["Id"])["ImportJobResponse"]
                done = job.get("TotalProcessed", 0)
                rate = done / max(time.monotonic() - started, 1e-9)
                total = max(expected, done)
                progress.update(
                    bar,
                    completed=done,
                    total=total or None,
                    failures=job.get("TotalFailures", 0),
                    rate=f"{rate:,.0f}",
                    expected=f"{total:,}" if job["JobStatus"] in ("COMPLETED", "FAILED") else f"~{total:,}",
                )
    if output is Output.json:
        _print_json(job)
    else:
        _import_summary(console, job)
    if job["JobStatus"] == "FAILED":
        raise typer.Exit(EXIT_FAILED)


def _import_summary(console: Console, job: dict) -> None:
    failures = job.get("Failures") or []
    console.print(
        f"Import job {job['Id']}: {job['JobStatus']}, {job.get('TotalProcessed', 0):,} rows processed, "
        f"{job.get('TotalFailures', 0):,} refused"
    )
    for failure in failures[:10]:
        console.print(f"  {failure}", markup=False, highlight=False)
    if len(failures) > 10 or job.get("TotalFailures", 0) > len(failures):
        console.print(f"  ... GetImportJob lists the first {len(failures)} failures")
    segment = job["Definition"].get("SegmentId")
    if segment and job["JobStatus"] == "COMPLETED":
        console.print(f"Segment {segment}")


# --- keys ------------------------------------------------------------------------------------

keys_app = typer.Typer(
    help="Access keys of this store (the server picks up changes within seconds).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(keys_app, name="keys")
# Key administration opens the store, as `serve` does, with the same options.
DatabaseUrl = _settings_option("database_url")
DataDir = _settings_option("data_dir")
AccessKeyId = _settings_option("access_key_id")
SecretAccessKey = _settings_option("secret_access_key")


def _store(database_url: str):
    """The store at ``database_url``, migrated to this version of Tidings."""
    from tidings.store.db import Database
    from tidings.store.migrate import upgrade

    with _opening_store(database_url):
        db = Database(database_url)
        upgrade(db)
    return db


def _sealer(db, data_dir: str):
    """The server's sealer. A store that already holds sealed secrets needs the master key
    they were sealed with: one made here (a wrong --data-dir) would seal keys the server
    cannot open."""
    from sqlalchemy import select

    from tidings.auth.keys import sealing_purpose
    from tidings.domain.errors import TidingsError
    from tidings.store import schema
    from tidings.store.sealing import MASTER_KEY_ENV, MASTER_KEY_FILE, load_sealer

    with db.read() as conn:
        sample = conn.execute(select(schema.access_keys.c.access_key_id, schema.access_keys.c.secret).limit(1)).first()
    wrong = (
        f"this store's keys are sealed with another master key: pass the server's --data-dir "
        f"(TIDINGS_DATA_DIR) or set {MASTER_KEY_ENV} as the server has it"
    )
    if sample is None:
        return load_sealer(data_dir)
    if not os.environ.get(MASTER_KEY_ENV) and not (Path(data_dir) / MASTER_KEY_FILE).exists():
        raise Failure(f"{Path(data_dir) / MASTER_KEY_FILE} does not exist, and {wrong}")
    sealer = load_sealer(data_dir)
    try:
        sealer.open(sample.secret, sealing_purpose(sample.access_key_id))
    except TidingsError:
        raise Failure(wrong) from None
    return sealer


@keys_app.command("create")
def keys_create(
    name: str = typer.Argument(..., metavar="NAME"),
    policy_file: Path | None = typer.Option(
        None, "--policy", exists=True, dir_okay=False, metavar="FILE", help="An IAM identity policy (JSON) the key carries."
    ),
    as_json: bool = typer.Option(False, "--json", help='Print {"AccessKeyId": ..., "SecretAccessKey": ...}.'),
    database_url: str = DatabaseUrl,
    data_dir: str = DataDir,
) -> None:
    """Make a key and print its pair; the secret is shown this once."""
    from tidings.auth import keys
    from tidings.domain.errors import TidingsError

    try:
        policy = orjson.loads(policy_file.read_bytes()) if policy_file else None
    except orjson.JSONDecodeError as error:
        _fail(f"{policy_file} is not JSON: {error}")
        raise typer.Exit(1) from None
    db = _store(database_url)
    try:
        pair = keys.create(db, _sealer(db, data_dir), name, policy)
    except TidingsError as error:
        _fail(error.message)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(orjson.dumps({"AccessKeyId": pair.access_key_id, "SecretAccessKey": pair.secret_access_key}).decode())
    else:
        typer.echo(pair.export_lines())
    if policy is None:
        _fail(f"note: key {name!r} has no policy, so it may do nothing yet; delete it (tidings keys delete NAME) and create it again with --policy FILE")


@keys_app.command("list")
def keys_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    database_url: str = DatabaseUrl,
) -> None:
    """The stored keys: name, id, root or not, policy (never the secrets)."""
    from tidings.store import keys as stored

    with _store(database_url).read() as conn:
        rows = stored.all_keys(conn)
    listed = [
        {
            "Name": row.name,
            "AccessKeyId": row.access_key_id,
            "Root": row.is_root,
            "Policy": orjson.loads(row.policy) if row.policy else None,
            "Created": row.created,
        }
        for row in rows
    ]
    if as_json:
        typer.echo(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title=f"{len(listed)} key(s)")
    for column in ("Name", "AccessKeyId", "Access", "Created"):
        table.add_column(column)
    for key in listed:
        access = "root: everything" if key["Root"] else ("policy" if key["Policy"] else "nothing (no policy)")
        table.add_row(key["Name"], key["AccessKeyId"], access, key["Created"])
    _console().print(table)


@keys_app.command("delete")
def keys_delete(
    name: str = typer.Argument(..., metavar="NAME"),
    database_url: str = DatabaseUrl,
) -> None:
    """Delete a key; a running server refuses it within seconds."""
    from tidings.auth import keys
    from tidings.domain.errors import TidingsError

    try:
        keys.delete(_store(database_url), name)
    except TidingsError as error:
        _fail(error.message)
        raise typer.Exit(1) from None
    typer.echo(f"deleted key {name}")


@keys_app.command("root")
def keys_root(
    access_key_id: str | None = AccessKeyId,
    secret_access_key: str | None = SecretAccessKey,
    database_url: str = DatabaseUrl,
    data_dir: str = DataDir,
) -> None:
    """Print the root key as export lines: eval "$(tidings keys root)"."""
    from tidings.auth import keys
    from tidings.domain.errors import TidingsError

    if access_key_id and secret_access_key:
        pair: keys.KeyPair | None = keys.KeyPair(access_key_id, secret_access_key)
    else:
        db = _store(database_url)
        try:
            pair = keys.stored_root(db, _sealer(db, data_dir))
        except TidingsError as error:
            _fail(error.message)
            raise typer.Exit(1) from None
    if pair is None:
        _fail("this store has no root key yet: `tidings serve` on loopback makes one on its first start")
        raise typer.Exit(1)
    typer.echo(pair.export_lines())


def main() -> None:
    try:
        app()
    except Failure as failure:
        if _debug:
            traceback.print_exc()
        _fail(str(failure))
        sys.exit(failure.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _debug:
            raise
        _fail(f"tidings failed unexpectedly: {type(exc).__name__}: {exc} (`tidings --debug ...` prints the traceback)")
        sys.exit(EXIT_FAILED)
