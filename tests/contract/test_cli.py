"""The `tidings` CLI as a client of a live server (SQLite and PostgreSQL): run from a fresh
directory with only the server's endpoint URL and keys in its environment, it reaches
everything through the APIs; failures are one or two lines naming the cause and the fix."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import sqlite3
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.campaigns import activities, allow_pinpoint, create_recording_function, recorded
from tests.conftest import free_port
from tests.jobs import minimal_rows, write_lines

ROOT = Path(__file__).resolve().parents[2]
HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'who': event.get('who')}\n"


def _custom_campaign(pinpoint, app_id: str, segment_id: str, function: str, **schedule) -> dict:
    request = {
        "Name": "from the cli",
        "SegmentId": segment_id,
        "Schedule": schedule or {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "MessageConfiguration": {"CustomMessage": {"Data": "hi"}},
        "CustomDeliveryConfiguration": {"DeliveryUri": function},
    }
    return pinpoint.create_campaign(ApplicationId=app_id, WriteCampaignRequest=request)["CampaignResponse"]


def test_every_client_command_works_from_another_directory(server, pinpoint, lambda_client, app_id, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def tidings(*args: str) -> subprocess.CompletedProcess:
        done = server.tidings(*args, cwd=elsewhere)
        assert done.returncode == 0, f"tidings {' '.join(args)}: {done.stderr}"
        return done

    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    name = f"cli-{os.urandom(4).hex()}"
    deployed = json.loads(
        tidings("functions", "deploy", str(code), "--name", name, "--runtime", "python3.11",
                "--handler", "app.handler", "--output", "json").stdout
    )  # fmt: skip
    assert deployed["FunctionArn"] == lambda_client.get_function_configuration(FunctionName=name)["FunctionArn"]
    assert json.loads(tidings("functions", "invoke", name, "--payload", '{"who": "ana"}').stdout) == {
        "statusCode": 200,
        "who": "ana",
    }
    allow_pinpoint(lambda_client, name)

    rows = minimal_rows(7, "cli")
    imported = tidings("import", str(write_lines(tmp_path / "people.json", rows)), "--app", app_id,
                       "--define-segment", "cli people")  # fmt: skip
    segment_id = imported.stdout.split("Segment ")[-1].strip()
    preview = json.loads(tidings("segments", "preview", app_id, segment_id, "--output", "json", "--limit", "3").stdout)
    assert preview["Count"] == 7
    assert [e["Id"] for e in preview["Endpoints"]] == sorted(r["Id"] for r in rows)[:3]
    assert preview["Endpoints"][0]["Address"] == rows[0]["Address"]
    text = tidings("segments", "preview", app_id, segment_id, "--output", "text").stdout.splitlines()
    assert text[0] == "COUNT\t7" and text[1].split("\t")[:4] == ["ENDPOINT", rows[0]["Id"], "CUSTOM", rows[0]["Address"]]

    campaign = _custom_campaign(pinpoint, app_id, segment_id, name)
    watched = tidings("campaigns", "watch", app_id, campaign["Id"], "--interval", "0.2", "--output", "json")
    summary = json.loads(watched.stdout)
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert summary["CampaignStatus"] == "COMPLETED" and summary["Succeeded"] is True
    assert summary["Activities"] == [activity]
    assert activity["SuccessfulEndpointCount"] == 7

    sends = [json.loads(line) for line in tidings("events", "sends", app_id, "--campaign", campaign["Id"]).stdout.splitlines()]
    assert sorted(r["client"]["client_id"] for r in sends) == sorted(r["Id"] for r in rows)
    assert {r["attributes"]["campaign_activity_id"] for r in sends} == {activity["Id"]}
    limited = tidings("events", "sends", app_id, "--activity", activity["Id"], "--limit", "2").stdout.splitlines()
    assert [json.loads(line) for line in limited] == sends[:2]

    secret = tidings("webhooks", "secret", app_id).stdout.strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    assert json.loads(tidings("webhooks", "secret", app_id, "--output", "json").stdout) == {"Secret": secret}
    rotated = tidings("webhooks", "secret", app_id, "--rotate").stdout.strip()
    assert rotated != secret and tidings("webhooks", "secret", app_id).stdout.strip() == rotated

    # Nothing was opened or created where the commands ran (no store of their own).
    assert list(elsewhere.iterdir()) == []


def test_watch_exits_3_when_the_run_fails_and_its_fix_can_be_pasted(server, pinpoint, lambda_client, app_id, tmp_path):
    name = f"closed-{os.urandom(4).hex()}"
    out = tmp_path / "events.jsonl"
    create_recording_function(lambda_client, name, out)
    allow_pinpoint(lambda_client, name)  # allowed when the campaign is written...
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id, EndpointBatchRequest={"Item": [{"Id": "e1", "ChannelType": "CUSTOM", "Address": "a1"}]}
    )
    segment_id = pinpoint.create_segment(
        ApplicationId=app_id, WriteSegmentRequest={"Name": "all", "Dimensions": {"Demographic": {}}}
    )["SegmentResponse"]["Id"]
    start = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    campaign = _custom_campaign(pinpoint, app_id, segment_id, name, StartTime=start, Frequency="ONCE")
    lambda_client.remove_permission(FunctionName=name, StatementId="pinpoint")  # ...not when it runs

    watched = server.tidings("campaigns", "watch", app_id, campaign["Id"], "--interval", "0.2", cwd=tmp_path)

    assert watched.returncode == 3, watched.stdout + watched.stderr
    assert recorded(out) == []
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["Result"] == "FAIL"
    # The fix is on one line (never wrapped), complete: pasted, it grants the permission here.
    [line] = [line for line in watched.stdout.splitlines() if "add-permission" in line]
    command = shlex.split(re.search(r"Grant it with: (aws lambda add-permission .*)\)$", line).group(1))
    assert command[command.index("--endpoint-url") + 1] == server.url
    aws = Path(sys.executable).with_name("aws")
    pasted = subprocess.run([str(aws), *command[1:]], env=server.client_env, capture_output=True, text=True, timeout=60)
    assert pasted.returncode == 0, pasted.stderr
    [statement] = json.loads(lambda_client.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "pinpoint.us-east-1.amazonaws.com"}
    assert campaign["Id"] in statement["Condition"]["ArnLike"]["AWS:SourceArn"]


def test_watch_exits_0_on_success_and_1_on_a_campaign_that_is_not_there(server, pinpoint, lambda_client, app_id, tmp_path):
    name = f"open-{os.urandom(4).hex()}"
    create_recording_function(lambda_client, name, tmp_path / "events.jsonl")
    allow_pinpoint(lambda_client, name)
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id, EndpointBatchRequest={"Item": [{"Id": "e1", "ChannelType": "CUSTOM", "Address": "a1"}]}
    )
    segment_id = pinpoint.create_segment(
        ApplicationId=app_id, WriteSegmentRequest={"Name": "all", "Dimensions": {"Demographic": {}}}
    )["SegmentResponse"]["Id"]
    campaign = _custom_campaign(pinpoint, app_id, segment_id, name)

    watched = server.tidings("campaigns", "watch", app_id, campaign["Id"], "--output", "text", cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.splitlines() == [f"Campaign {campaign['Id']}: COMPLETED", "  treatment 0: COMPLETED SUCCESS"]

    missing = server.tidings("campaigns", "watch", app_id, "nope", cwd=tmp_path)
    assert missing.returncode == 1 and "'nope' does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr and missing.stdout == ""


# --- failures before the server answers ----------------------------------------------------------


def _tidings(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIDINGS_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "tidings", *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def _short(done: subprocess.CompletedProcess, lines: int = 2) -> str:
    """The error output, checked to be at most ``lines`` lines without a traceback."""
    text = done.stderr.strip()
    assert "Traceback" not in text and len(text.splitlines()) <= lines, text
    return text


def test_a_server_that_cannot_start_says_why_in_two_lines(tmp_path):
    unreachable = _tidings("serve", "--database-url", "postgresql://nobody@127.0.0.1:1/x", cwd=tmp_path)
    assert unreachable.returncode == 1
    message = _short(unreachable)
    assert "postgresql://nobody@127.0.0.1:1/x" in message and "Connection refused" in message
    assert "--database-url" in message

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        in_use = _tidings("serve", "--port", str(port), "--database-url", f"sqlite:///{tmp_path}/t.db", cwd=tmp_path)
    assert in_use.returncode == 1
    message = _short(in_use, lines=1)
    assert f"port {port}" in message and "already in use" in message and "--port" in message
    assert "serving" not in in_use.stdout + in_use.stderr  # detected before announcing it

    bad_url = _tidings("serve", "--database-url", "mysql+nodriver://x/y", cwd=tmp_path)
    assert bad_url.returncode == 1 and "sqlite:///PATH or postgresql://" in _short(bad_url, lines=1)

    for args in (["--port", "0"], ["--max-environments", "many"], ["--log-level", "loud"]):
        refused = _tidings("serve", *args, cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert f"Invalid value for '{args[0]}'" in _short(refused, lines=4)

    debug = _tidings("--debug", "serve", "--database-url", "postgresql://nobody@127.0.0.1:1/x", cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert not (tmp_path / ".tidings").exists()  # nothing was created for a server that did not start


def test_client_commands_name_an_unreachable_server_and_missing_credentials(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    keys = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_CONFIG_FILE": os.devnull}
    down = _tidings("webhooks", "secret", "app", "--endpoint-url", url, cwd=tmp_path, **keys)
    assert down.returncode == 1
    message = _short(down, lines=1)
    assert f"cannot reach the Tidings server at {url}" in message and "--endpoint-url" in message

    nobody = _tidings(
        "events", "sends", "app", cwd=tmp_path, TIDINGS_ENDPOINT_URL=url,
        AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )  # fmt: skip
    assert nobody.returncode == 1
    assert "AWS_ACCESS_KEY_ID" in _short(nobody, lines=1)

    profile = _tidings("webhooks", "secret", "app", "--profile", "nope", cwd=tmp_path, AWS_CONFIG_FILE=os.devnull)
    assert profile.returncode == 1 and "nope" in _short(profile, lines=1)


def test_version_is_the_package_version(tmp_path):
    done = _tidings("--version", cwd=tmp_path)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert done.returncode == 0 and done.stdout.strip() == f"tidings {version}"


def test_help_into_a_pipe_at_80_columns_keeps_every_name_whole(tmp_path):
    # The README's table of serve options is the list to find, each with its TIDINGS_ variable.
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("`tidings serve` takes these options") :]
    options = re.findall(r"^\| `--(?:\[no-\])?([a-z-]+)`", table, re.M)
    assert len(options) > 10
    done = _tidings("serve", "--help", cwd=tmp_path, COLUMNS="80")
    assert done.returncode == 0
    words = set(done.stdout.replace("/", " ").split())
    for option in options:
        assert f"--{option}" in words, option
        assert f"TIDINGS_{option.replace('-', '_').upper()}" in done.stdout.replace("]", " ").replace(";", " ").split()
    assert "…" not in done.stdout
    for command in (["campaigns", "watch"], ["events", "sends"], ["segments", "preview"], ["webhooks", "secret"]):
        shown = _tidings(*command, "--help", cwd=tmp_path, COLUMNS="80").stdout
        assert "--endpoint-url" in shown and "TIDINGS_ENDPOINT_URL" in shown.replace(";", " ").split(), command


def test_migrate_prepares_a_store_and_exits(tmp_path):
    done = _tidings("migrate", "--database-url", f"sqlite:///{tmp_path}/fresh.db", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        tables = {row[0] for row in conn.execute("select name from sqlite_master where type = 'table'")}
    assert {"apps", "campaigns", "alembic_version"} <= tables
    again = _tidings("migrate", "--database-url", f"sqlite:///{tmp_path}/fresh.db", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # nothing left to apply
