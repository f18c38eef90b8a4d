"""The README's quick start and Functions sections, run as written against a live server.

Every fenced shell block of a section runs in one bash script, from a fresh directory that
has only a `.venv` (this interpreter's) in it, as a user's clone would; the CLI reaches the
server through the environment a client has (its endpoint URL and keys), never its store.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _blocks(section: str, language: str = "bash") -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(rf"```{language}\n(.*?)```", text[start : end if end > 0 else None], re.S)


def _run_section(server, section: str, workdir: Path, tail: str = "", *, signed_in: bool = True) -> subprocess.CompletedProcess:
    """Run a section's blocks; ``signed_in``: in a shell that has the keys already (the quick
    start's terminal), else one that must get them as the quick start says."""
    workdir.mkdir()
    (workdir / ".venv").symlink_to(Path(sys.executable).parent.parent)
    script = "set -euo pipefail\n" + "\n".join(_blocks(section)) + tail
    script = script.replace("http://127.0.0.1:8765", server.url)
    # Not signed in: the quick start's own `tidings keys root` line provides the keys (here the
    # server's configured root key, which `keys root` prints like a stored one).
    client_env = {
        k: v
        for k, v in server.client_env.items()
        if signed_in or k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    }
    env = {
        **client_env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "TIDINGS_ACCESS_KEY_ID": server.credentials[0],
        "TIDINGS_SECRET_ACCESS_KEY": server.credentials[1],
    }
    return subprocess.run(["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=180)


def test_readme_quick_start_runs(server, pinpoint, tmp_path):
    done = _run_section(
        server,
        "Quick start with the AWS CLI",
        tmp_path / "clone",
        tail='\necho "RESULT $APP $SEGMENT $CAMPAIGN"\n',
        signed_in=False,
    )
    assert done.returncode == 0, done.stderr
    app, segment, campaign = done.stdout.rsplit("RESULT ", 1)[1].split()

    assert "2 endpoint(s)" in done.stdout  # segments preview: ana and ben are on the pro plan
    endpoints = [
        pinpoint.get_endpoint(ApplicationId=app, EndpointId=e)["EndpointResponse"]
        for e in ("ana-sms", "ben-mail", "cy-sms")
    ]
    assert endpoints[0]["User"]["UserAttributes"]["facebookMessengerPsid"] == ["1667566386619741"]
    assert pinpoint.get_segment(ApplicationId=app, SegmentId=segment)["SegmentResponse"]["Name"] == "pro users"
    got = pinpoint.get_campaign(ApplicationId=app, CampaignId=campaign)["CampaignResponse"]
    assert got["SegmentId"] == segment and got["SegmentVersion"] == 1
    assert got["Hook"] == {"LambdaFunctionName": "messenger", "Mode": "DELIVERY"}
    assert got["State"]["CampaignStatus"] == "COMPLETED"  # `campaigns watch` waited for it
    assert "1 delivered, 0 failed, 0 left" in done.stdout
    [activity] = pinpoint.get_campaign_activities(ApplicationId=app, CampaignId=campaign)["ActivitiesResponse"]["Item"]
    assert activity["Result"] == "SUCCESS" and activity["SuccessfulEndpointCount"] == 1
    log = (Path(server.env["TIDINGS_DATA_DIR"]) / "logs" / "messenger.log").read_text()
    assert "to ana-sms at +15550100001: Welcome aboard!" in log


def test_readme_functions_example_runs(server, lambda_client, tmp_path):
    workdir = tmp_path / "clone"
    done = _run_section(server, "Functions", workdir)
    assert done.returncode == 0, done.stderr

    assert '{"message": "Hello, Ana!"}' in done.stdout  # tidings functions invoke
    assert "greeting Ana" in done.stderr  # the tail of the function's log
    # The AWS CLI uploaded the zip the block made: Lambda's CodeSha256 is its base64 SHA-256.
    digest = base64.b64encode(hashlib.sha256((workdir / "hello.zip").read_bytes()).digest()).decode()
    assert done.stdout.strip().splitlines()[-1] == digest
    config = lambda_client.get_function_configuration(FunctionName="hello")
    assert (config["Runtime"], config["Handler"], config["CodeSha256"]) == ("python3.12", "app.handler", digest)


def test_readme_boto3_example_runs_with_the_runtime_dependencies(server, pinpoint):
    [snippet] = _blocks("Quick start with the AWS CLI", "python")
    # `make run` installs the runtime dependencies only: what the snippet imports must be one.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=\[ ]", item, maxsplit=1)[0] for item in declared}
    imported = set(re.findall(r"^import (\w+)", snippet, re.M))
    assert imported <= names | set(sys.stdlib_module_names), imported - names
    pinpoint.create_app(CreateApplicationRequest={"Name": "from-boto3-example"})

    done = subprocess.run(
        [sys.executable, "-c", snippet.replace("http://127.0.0.1:8765", server.url)],
        env=server.client_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    listed = ast.literal_eval(done.stdout)  # print() of the list GetApps answered
    assert isinstance(listed, list) and listed and {"Id", "Arn", "Name"} <= listed[0].keys()
