"""The `tidings` command."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tidings.config import DEFAULT_DATABASE_URL, Settings

app = typer.Typer(help="Tidings: a self-hosted campaign engine that speaks Amazon Pinpoint's API.", no_args_is_help=True)
segments_app = typer.Typer(help="Look at segments.", no_args_is_help=True)
app.add_typer(segments_app, name="segments")
functions_app = typer.Typer(help="Deploy and invoke functions on a running server.", no_args_is_help=True)
app.add_typer(functions_app, name="functions")

DatabaseUrl = typer.Option(DEFAULT_DATABASE_URL, envvar="TIDINGS_DATABASE_URL", help="SQLite or postgresql:// URL.")
DataDir = typer.Option(
    "./.tidings", envvar="TIDINGS_DATA_DIR", help="Unpacked function code, environment temp dirs, function logs, master.key."
)
AccessKeyId = typer.Option(
    None, "--access-key-id", envvar="TIDINGS_ACCESS_KEY_ID", help="The root key's id (with --secret-access-key)."
)
SecretAccessKey = typer.Option(
    None, "--secret-access-key", envvar="TIDINGS_SECRET_ACCESS_KEY", help="The root key's secret.", show_default=False
)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", envvar="TIDINGS_HOST"),
    port: int = typer.Option(8765, envvar="TIDINGS_PORT"),
    database_url: str = DatabaseUrl,
    region: str = typer.Option("us-east-1", envvar="TIDINGS_REGION", help="Region written into ARNs."),
    account_id: str = typer.Option("000000000000", envvar="TIDINGS_ACCOUNT_ID", help="Account written into ARNs."),
    data_dir: str = DataDir,
    access_key_id: str | None = AccessKeyId,
    secret_access_key: str | None = SecretAccessKey,
    max_environments: int = typer.Option(
        8, envvar="TIDINGS_MAX_ENVIRONMENTS", help="Warm environments per function without reserved concurrency."
    ),
    event_retry_base_delay: float = typer.Option(
        60.0, envvar="TIDINGS_EVENT_RETRY_BASE_DELAY", help="Seconds before retrying a failed Event invocation (doubles)."
    ),
    delivery_attempts: int = typer.Option(3, envvar="TIDINGS_DELIVERY_ATTEMPTS", help="Tries per batch of a campaign run."),
    attempt_timeout: float = typer.Option(
        15.0, envvar="TIDINGS_ATTEMPT_TIMEOUT", help="Seconds one delivery attempt (function or webhook) may take."
    ),
    retry_base_delay: float = typer.Option(
        1.0, envvar="TIDINGS_RETRY_BASE_DELAY", help="Seconds before a failed batch is retried (doubles, with jitter)."
    ),
    max_consecutive_failed_batches: int = typer.Option(
        10, envvar="TIDINGS_MAX_CONSECUTIVE_FAILED_BATCHES", help="Failed batches in a row that pause a campaign."
    ),
    max_batches_in_flight: int = typer.Option(
        16, envvar="TIDINGS_MAX_BATCHES_IN_FLIGHT", help="Batches of one activity delivered at once."
    ),
    webhook_ownership_check: bool = typer.Option(
        True, envvar="TIDINGS_WEBHOOK_OWNERSHIP_CHECK", help="HEAD a webhook URL on campaign create/update."
    ),
    allow_http_loopback: bool = typer.Option(
        False, envvar="TIDINGS_ALLOW_HTTP_LOOPBACK", help="Development only: accept http:// webhooks on loopback."
    ),
    strict_output: bool = typer.Option(
        False, envvar="TIDINGS_STRICT_OUTPUT", hidden=True, help="Development only: fail responses that break their shape."
    ),
    log_level: str = typer.Option("info", envvar="TIDINGS_LOG_LEVEL"),
) -> None:
    """Serve the Pinpoint and Lambda APIs on one port (boto3 and the AWS CLI work with --endpoint-url)."""
    import uvicorn

    from tidings.auth.keys import first_start_root
    from tidings.domain.errors import TidingsError
    from tidings.server import build_app
    from tidings.store.sealing import load_sealer

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if bool(access_key_id) != bool(secret_access_key):
        _fail("give both --access-key-id and --secret-access-key (TIDINGS_ACCESS_KEY_ID, TIDINGS_SECRET_ACCESS_KEY), or neither")
        raise typer.Exit(2)
    settings = Settings(
        host=host,
        port=port,
        database_url=database_url,
        region=region,
        account_id=account_id,
        data_dir=data_dir,
        max_environments=max_environments,
        event_retry_base_delay_s=event_retry_base_delay,
        delivery_attempts=delivery_attempts,
        attempt_timeout_s=attempt_timeout,
        retry_base_delay_s=retry_base_delay,
        max_consecutive_failed_batches=max_consecutive_failed_batches,
        max_batches_in_flight=max_batches_in_flight,
        webhook_ownership_check=webhook_ownership_check,
        allow_http_loopback=allow_http_loopback,
        strict_output=strict_output,
        access_key_id=access_key_id or None,
        secret_access_key=secret_access_key or None,
    )
    application = build_app(settings)
    if settings.root_key is None:
        try:
            made = first_start_root(application.state.db, load_sealer(data_dir), host)
        except TidingsError as error:
            _fail(error.message)
            raise typer.Exit(1) from None
        if made is not None:
            typer.echo(
                "Tidings made a root key for this store (first start, no key configured). "
                "In another terminal, sign with it:\n"
                f"{made.export_lines()} AWS_DEFAULT_REGION={region}\n"
                "(`tidings keys root` prints it again.)",
            )
    logging.getLogger("tidings").info(
        "Tidings serving http://%s:%d (store %s)", host, port, application.state.db.engine.url.render_as_string()
    )
    uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=log_level == "debug")


@segments_app.command("preview")
def segments_preview(
    application_id: str = typer.Argument(..., metavar="APP"),
    segment_id: str = typer.Argument(..., metavar="SEGMENT"),
    version: int | None = typer.Option(None, help="Segment version (default: the latest)."),
    limit: int = typer.Option(10, help="How many endpoints to show."),
    database_url: str = DatabaseUrl,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Count the endpoints a segment holds now and show the first of them."""
    from tidings.domain.errors import TidingsError
    from tidings.store.audience import preview

    db = _store(database_url)
    try:
        total, first = preview(db, application_id, segment_id, version, limit)
    except TidingsError as error:
        _fail(error.message)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(orjson.dumps({"Count": total, "Endpoints": first}, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table(title=f"Segment {segment_id}: {total} endpoint(s)")
    for column in ("Id", "ChannelType", "Address", "UserId", "Status", "OptOut"):
        table.add_column(column)
    for endpoint in first:
        table.add_row(
            endpoint["Id"],
            endpoint.get("ChannelType", ""),
            endpoint.get("Address", ""),
            (endpoint.get("User") or {}).get("UserId", ""),
            endpoint.get("EndpointStatus", ""),
            endpoint.get("OptOut", ""),
        )
    Console().print(table)


def _store(database_url: str):
    """The store at ``database_url``, migrated to this version of Tidings."""
    from tidings.store.db import Database
    from tidings.store.migrate import upgrade

    db = Database(database_url)
    upgrade(db)
    return db


def _fail(message: str) -> None:
    # Messages quote patterns such as [a-zA-Z]: print them as they are, not as markup.
    Console(stderr=True).print(message, style="red", markup=False, highlight=False, soft_wrap=True)


ServerUrl = typer.Option("http://127.0.0.1:8765", envvar="TIDINGS_URL", help="The Tidings server to talk to.")


def _client(service: str, url: str):
    """A botocore client for a Tidings server, signing with the AWS SDK's credentials
    (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...) as the AWS CLI does."""
    import botocore.session

    session = botocore.session.get_session()
    if session.get_credentials() is None:
        _fail(
            "no AWS credentials to sign with: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(`tidings keys root` prints the root key's export lines) or set AWS_PROFILE"
        )
        raise typer.Exit(1)
    return session.create_client(
        service, endpoint_url=url, region_name=session.get_config_variable("region") or "us-east-1"
    )


@functions_app.command("deploy")
def functions_deploy(
    directory: Path = typer.Argument(..., exists=True, file_okay=False, metavar="DIR"),
    name: str = typer.Option(..., "--name", help="Function name."),
    runtime: str = typer.Option(..., "--runtime", help="python3.11-3.13 or nodejs18.x/20.x/22.x."),
    handler: str = typer.Option(..., "--handler", help="e.g. app.handler or index.handler."),
    timeout: int = typer.Option(3, help="Seconds."),
    memory: int = typer.Option(128, help="MB."),
    env: list[str] = typer.Option([], "--env", help="KEY=VALUE, repeatable."),
    role: str = typer.Option("arn:aws:iam::000000000000:role/tidings", help="Stored as Lambda does; not enforced."),
    url: str = ServerUrl,
) -> None:
    """Zip DIR and create the function, or update its code and configuration if it exists."""
    from botocore.exceptions import ClientError

    from tidings.functions.code import zip_directory

    client = _client("lambda", url)
    code = zip_directory(directory)
    variables = dict(item.split("=", 1) for item in env)
    config = {"Runtime": runtime, "Handler": handler, "Timeout": timeout, "MemorySize": memory, "Role": role}
    if variables:
        config["Environment"] = {"Variables": variables}
    try:
        try:
            result = client.create_function(FunctionName=name, Code={"ZipFile": code}, **config)
            action = "created"
        except client.exceptions.ResourceConflictException:
            client.update_function_code(FunctionName=name, ZipFile=code)
            result = client.update_function_configuration(FunctionName=name, **config)
            action = "updated"
    except ClientError as error:
        _fail(error.response["Error"]["Message"])
        raise typer.Exit(1) from None
    Console().print(f"{action} {result['FunctionArn']} ({result['CodeSize']} bytes, {runtime}, {handler})")


@functions_app.command("invoke")
def functions_invoke(
    name: str = typer.Argument(..., metavar="NAME"),
    payload: str = typer.Option("{}", help="The event, as JSON."),
    url: str = ServerUrl,
) -> None:
    """Invoke a function and print its result and the tail of its log."""
    from botocore.exceptions import ClientError

    client = _client("lambda", url)
    try:
        result = client.invoke(FunctionName=name, Payload=payload.encode(), LogType="Tail")
    except ClientError as error:
        _fail(error.response["Error"]["Message"])
        raise typer.Exit(1) from None
    console = Console()
    console.print(base64.b64decode(result.get("LogResult", "")).decode(), end="", markup=False, highlight=False)
    body = result["Payload"].read().decode()
    if result.get("FunctionError"):
        console.print(f"[red]Function error ({result['FunctionError']}):[/red]")
    typer.echo(body)
    if result.get("FunctionError"):
        raise typer.Exit(1)


# --- campaigns -------------------------------------------------------------------------------

campaigns_app = typer.Typer(help="Follow campaign runs.", no_args_is_help=True)
app.add_typer(campaigns_app, name="campaigns")


@campaigns_app.command("watch")
def campaigns_watch(
    application_id: str = typer.Argument(..., metavar="APP"),
    campaign_id: str = typer.Argument(..., metavar="CAMPAIGN"),
    interval: float = typer.Option(0.5, help="Seconds between looks at the store."),
    database_url: str = DatabaseUrl,
) -> None:
    """Show a progress bar per activity of the campaign's current run until it ends."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tidings.domain.errors import TidingsError
    from tidings.store import campaigns, runs

    db = _store(database_url)
    console = Console()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[delivered]} delivered, {task.fields[failed]} failed, {task.fields[remaining]} left"),
        TextColumn("{task.fields[rate]}/s"),
        TimeElapsedColumn(),
    )
    seen: dict[str, tuple[float, int]] = {}  # activity -> (when, settled) at the previous look
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, int] = {}
        while True:
            try:
                with db.read() as conn:
                    _, status = campaigns.get(conn, application_id, campaign_id)
                    activities = runs.latest_run(conn, application_id, campaign_id)
            except TidingsError as error:
                _fail(error.message)
                raise typer.Exit(1) from None
            now = time.monotonic()
            for row in activities:
                settled = row.successful_endpoint_count + row.failed_endpoint_count
                before_at, before = seen.get(row.id, (now, settled))
                rate = (settled - before) / (now - before_at) if now > before_at else 0.0
                seen[row.id] = (now, settled)
                total = row.total_endpoint_count if row.planned else None
                remaining = "?" if total is None else str(max(0, total - settled))
                fields = {
                    "delivered": row.successful_endpoint_count,
                    "failed": row.failed_endpoint_count,
                    "remaining": remaining,
                    "rate": f"{rate:,.0f}",
                }
                label = f"treatment {row.treatment_id} {row.state.lower()}"
                if row.id not in tasks:
                    tasks[row.id] = progress.add_task(label, total=total, completed=settled, **fields)
                else:
                    progress.update(tasks[row.id], description=label, total=total, completed=settled, **fields)
            finished = activities and all(row.state not in runs.ACTIVE for row in activities)
            if status not in ("EXECUTING", "SCHEDULED", "PENDING_NEXT_RUN") or (finished and status != "EXECUTING"):
                break
            time.sleep(interval)
    console.print(f"Campaign {campaign_id}: {status}")
    for row in activities:
        note = f" ({row.message})" if row.message else ""
        console.print(f"  treatment {row.treatment_id}: {row.state} {row.result or ''}{note}")


# --- events ----------------------------------------------------------------------------------

events_app = typer.Typer(help="Look at campaign events in the store.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("sends")
def events_sends(
    application_id: str = typer.Argument(..., metavar="APP"),
    campaign_id: str | None = typer.Option(None, "--campaign", help="Only this campaign's sends."),
    activity_id: str | None = typer.Option(None, "--activity", help="Only this activity's (run's) sends."),
    limit: int | None = typer.Option(None, min=1, help="At most this many records (default: all)."),
    account_id: str = typer.Option("000000000000", envvar="TIDINGS_ACCOUNT_ID", help="Account written into records."),
    database_url: str = DatabaseUrl,
) -> None:
    """Print the `_campaign.send` event-stream records of an app, one JSON object per line."""
    import os
    import sys

    from tidings.domain.errors import TidingsError
    from tidings.domain.events import send_record
    from tidings.store import apps, campaigns
    from tidings.store.events import send_events

    db = _store(database_url)
    try:
        with db.read() as conn:
            apps.get(conn, application_id)
            if campaign_id is not None:
                campaigns.head(conn, application_id, campaign_id)
    except TidingsError as error:
        _fail(error.message)
        raise typer.Exit(1) from None
    # Records stream out page by page: a campaign of millions never sits in memory.
    try:
        for delivery in send_events(db, application_id, campaign_id, activity_id, limit=limit):
            typer.echo(orjson.dumps(send_record(delivery, account_id=account_id)).decode())
    except BrokenPipeError:
        # The reader (`| head`) has seen enough; stop quietly, as shell tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# --- webhooks --------------------------------------------------------------------------------

webhooks_app = typer.Typer(help="Webhook delivery: the signing secret receivers verify.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("secret")
def webhooks_secret(
    application_id: str = typer.Argument(..., metavar="APP"),
    rotate: bool = typer.Option(False, help="Replace the secret; deliveries from then on use the new one."),
    database_url: str = DatabaseUrl,
) -> None:
    """Print the app's webhook signing secret (HMAC-SHA256 key of the X-Tidings-Signature header)."""
    from tidings.domain.errors import TidingsError
    from tidings.store import apps
    from tidings.store.secrets import signing_secret

    db = _store(database_url)

    def work(conn) -> str:
        apps.get(conn, application_id)
        return signing_secret(conn, application_id, rotate=rotate)

    try:
        typer.echo(db.transact(work))
    except TidingsError as error:
        _fail(error.message)
        raise typer.Exit(1) from None


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
    url: str = ServerUrl,
    interval: float = typer.Option(0.5, help="Seconds between looks at the job."),
) -> None:
    """Import endpoints from a file with CreateImportJob and follow the job to its end."""
    import time

    from botocore.exceptions import ClientError
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    path = file.resolve()
    kind = (fmt or ("CSV" if path.suffix.lower() == ".csv" else "JSON")).upper()
    if kind not in ("JSON", "CSV"):
        _fail(f"--format must be JSON or CSV, got {fmt!r}")
        raise typer.Exit(2)
    request = {"Format": kind, "S3Url": path.as_uri(), "RoleArn": "arn:aws:iam::000000000000:role/tidings-import"}
    if define_segment:
        request.update(DefineSegment=True, SegmentName=define_segment)
    if segment_id:
        request["SegmentId"] = segment_id
    client = _client("pinpoint", url)
    expected = _count_rows(path, kind == "CSV")
    console = Console()
    try:
        job = client.create_import_job(ApplicationId=application_id, ImportJobRequest=request)["ImportJobResponse"]
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.fields[expected]} rows, {task.fields[failures]:,} refused"),
            TextColumn("{task.fields[rate]}/s"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
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
    except ClientError as error:
        _fail(error.response["Error"]["Message"])
        raise typer.Exit(1) from None
    failures = job.get("Failures") or []
    # Whole lines, never wrapped: scripts read them.
    console.print(
        f"Import job {job['Id']}: {job['JobStatus']}, {job.get('TotalProcessed', 0):,} rows processed, "
        f"{job.get('TotalFailures', 0):,} refused",
        soft_wrap=True,
    )
    for failure in failures[:10]:
        console.print(f"  {failure}", markup=False, highlight=False, soft_wrap=True)
    if len(failures) > 10 or job.get("TotalFailures", 0) > len(failures):
        console.print(f"  ... GetImportJob lists the first {len(failures)} failures", soft_wrap=True)
    segment = job["Definition"].get("SegmentId")
    if segment and job["JobStatus"] == "COMPLETED":
        console.print(f"Segment {segment}", soft_wrap=True)
    if job["JobStatus"] == "FAILED":
        raise typer.Exit(1)


# --- keys ------------------------------------------------------------------------------------

keys_app = typer.Typer(
    help="Access keys of this store (the server picks up changes within seconds).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


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
    from tidings.store.sealing import load_sealer

    try:
        policy = orjson.loads(policy_file.read_bytes()) if policy_file else None
    except orjson.JSONDecodeError as error:
        _fail(f"{policy_file} is not JSON: {error}")
        raise typer.Exit(1) from None
    try:
        pair = keys.create(_store(database_url), load_sealer(data_dir), name, policy)
    except TidingsError as error:
        _fail(error.message)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(orjson.dumps({"AccessKeyId": pair.access_key_id, "SecretAccessKey": pair.secret_access_key}).decode())
    else:
        typer.echo(pair.export_lines())
    if policy is None:
        _fail(f"note: key {name!r} has no policy, so it may do nothing yet; make it again with --policy FILE")


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
    Console().print(table)


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
    from tidings.store.sealing import load_sealer

    if access_key_id and secret_access_key:
        pair: keys.KeyPair | None = keys.KeyPair(access_key_id, secret_access_key)
    else:
        try:
            pair = keys.stored_root(_store(database_url), load_sealer(data_dir))
        except TidingsError as error:
            _fail(error.message)
            raise typer.Exit(1) from None
    if pair is None:
        _fail("this store has no root key yet: `tidings serve` on loopback makes one on its first start")
        raise typer.Exit(1)
    typer.echo(pair.export_lines())


def main() -> None:
    app()
