"""Least privilege: keys made with `tidings keys create --policy` do what their identity policy
allows and nothing else, through boto3 and the AWS CLI, with AWS's AccessDeniedException."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ACCOUNT, REGION
from tests.zips import ROLE, zip_files

MT = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
ECHO = "def handler(event, context):\n    return {'echo': event}\n"


def make_key(server, tmp_path: Path, *statements: dict) -> tuple[str, tuple[str, str]]:
    """A new key carrying these statements: (its name, its pair)."""
    name = f"k{uuid.uuid4().hex[:10]}"
    policy = tmp_path / f"{name}.json"
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))
    made = server.keys("create", name, "--policy", str(policy), "--json")
    assert made.returncode == 0, made.stderr
    pair = json.loads(made.stdout)
    return name, (pair["AccessKeyId"], pair["SecretAccessKey"])


def scoped(server, service: str, pair: tuple[str, str]):
    """A client signing with ``pair``, once the server has picked the new key up."""
    client = server.client(service, pair)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.list_functions() if service == "lambda" else client.get_apps()
            return client
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "AccessDeniedException":
                return client
            if code != "UnrecognizedClientException" or time.monotonic() > deadline:
                raise


def denied(call, *args, **kwargs) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response
    assert error["Error"]["Code"] == "AccessDeniedException", error
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def user(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def implicit(name: str, action: str, resource: str) -> str:
    return (
        f"User: {user(name)} is not authorized to perform: {action} on resource: {resource} "
        f"because no identity-based policy allows the {action} action"
    )


def new_app(pinpoint) -> str:
    return pinpoint.create_app(CreateApplicationRequest={"Name": "authz"})["ApplicationResponse"]["Id"]


def test_backend_key_records_events_and_endpoints_in_its_app_only(server, pinpoint, tmp_path):
    mine, other = new_app(pinpoint), new_app(pinpoint)
    name, pair = make_key(
        server,
        tmp_path,
        {
            "Effect": "Allow",
            "Action": [
                "mobiletargeting:PutEvents",
                "mobiletargeting:UpdateEndpoint",
                "mobiletargeting:UpdateEndpointsBatch",
            ],
            "Resource": [f"{MT}:apps/{mine}", f"{MT}:apps/{mine}/*"],
        },
    )
    backend = scoped(server, "pinpoint", pair)
    endpoint = {"ChannelType": "CUSTOM", "Address": "u1"}
    backend.update_endpoint(ApplicationId=mine, EndpointId="e1", EndpointRequest=endpoint)
    backend.update_endpoints_batch(
        ApplicationId=mine, EndpointBatchRequest={"Item": [{"Id": "e2", **endpoint}]}
    )
    event = {"Endpoint": {}, "Events": {"x": {"EventType": "signup", "Timestamp": "2026-12-04T12:00:00Z"}}}
    put = backend.put_events(ApplicationId=mine, EventsRequest={"BatchItem": {"e1": event}})
    assert put["EventsResponse"]["Results"]["e1"]["EventsItemResponse"]["x"]["StatusCode"] == 202
    # What it may not do: read, touch another app, list apps.
    assert denied(backend.get_endpoint, ApplicationId=mine, EndpointId="e1") == (
        403, implicit(name, "mobiletargeting:GetEndpoint", f"{MT}:apps/{mine}/endpoints/e1"),
    )
    assert denied(backend.put_events, ApplicationId=other, EventsRequest={"BatchItem": {"e1": event}}) == (
        403, implicit(name, "mobiletargeting:PutEvents", f"{MT}:apps/{other}/events"),
    )
    assert denied(backend.get_apps)[1] == implicit(name, "mobiletargeting:GetApps", f"{MT}:apps/*")
    # Nothing reached the other app; the root key sees the endpoints the key wrote.
    assert pinpoint.get_endpoint(ApplicationId=mine, EndpointId="e2")["EndpointResponse"]["Address"] == "u1"
    with pytest.raises(ClientError) as missing:
        pinpoint.get_endpoint(ApplicationId=other, EndpointId="e1")
    assert missing.value.response["Error"]["Code"] == "NotFoundException"


def test_a_key_for_one_app_cannot_read_another_with_the_aws_cli(server, pinpoint, tmp_path):
    mine, other = new_app(pinpoint), new_app(pinpoint)
    segment = pinpoint.create_segment(
        ApplicationId=mine, WriteSegmentRequest={"Name": "all", "SegmentGroups": {"Include": "ALL", "Groups": []}}
    )["SegmentResponse"]["Id"]
    name, pair = make_key(
        server, tmp_path, {"Effect": "Allow", "Action": "mobiletargeting:Get*", "Resource": f"{MT}:apps/{mine}*"}
    )
    scoped(server, "pinpoint", pair)
    got = server.aws("pinpoint", "get-app", "--application-id", mine, credentials=pair)
    assert got.json["ApplicationResponse"]["Id"] == mine
    read = server.aws("pinpoint", "get-segment", "--application-id", mine, "--segment-id", segment, credentials=pair)
    assert read.json["SegmentResponse"]["Id"] == segment
    refused = server.aws("pinpoint", "get-app", "--application-id", other, credentials=pair, check=False)
    assert refused.returncode != 0
    assert "(AccessDeniedException)" in refused.stderr
    assert implicit(name, "mobiletargeting:GetApp", f"{MT}:apps/{other}") in refused.stderr
    writing = server.aws("pinpoint", "delete-app", "--application-id", mine, credentials=pair, check=False)
    assert "(AccessDeniedException)" in writing.stderr and "mobiletargeting:DeleteApp" in writing.stderr
    assert pinpoint.get_app(ApplicationId=mine)["ApplicationResponse"]["Id"] == mine


def test_explicit_deny_wins_over_a_wildcard_allow(server, pinpoint, tmp_path):
    app = new_app(pinpoint)
    name, pair = make_key(
        server,
        tmp_path,
        {"Effect": "Allow", "Action": "mobiletargeting:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "mobiletargeting:Delete*", "Resource": "*"},
    )
    admin = scoped(server, "pinpoint", pair)
    assert admin.get_app(ApplicationId=app)["ApplicationResponse"]["Id"] == app
    assert denied(admin.delete_app, ApplicationId=app) == (
        403,
        f"User: {user(name)} is not authorized to perform: mobiletargeting:DeleteApp on resource: "
        f"{MT}:apps/{app} with an explicit deny in an identity-based policy",
    )
    assert denied(scoped(server, "lambda", pair).list_functions)[1] == implicit(name, "lambda:ListFunctions", "*")


def test_an_invoke_only_key_invokes_its_function_and_creates_none(server, lambda_client, tmp_path):
    function, other = f"authz-{uuid.uuid4().hex[:8]}", f"authz-{uuid.uuid4().hex[:8]}"
    for name in (function, other):
        lambda_client.create_function(
            FunctionName=name, Runtime="python3.11", Handler="index.handler", Role=ROLE,
            Code={"ZipFile": zip_files({"index.py": ECHO})},
        )  # fmt: skip
    key_name, pair = make_key(
        server, tmp_path, {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": f"{FN}:{function}"}
    )
    invoker = scoped(server, "lambda", pair)
    answer = invoker.invoke(FunctionName=function, Payload=b'{"n": 1}')
    assert json.loads(answer["Payload"].read()) == {"echo": {"n": 1}}
    assert denied(invoker.invoke, FunctionName=other, Payload=b"{}") == (
        403, implicit(key_name, "lambda:InvokeFunction", f"{FN}:{other}"),
    )
    # A qualified call acts on the qualified ARN, which the policy does not name (as in Lambda).
    assert denied(invoker.invoke, FunctionName=function, Qualifier="$LATEST")[1] == implicit(
        key_name, "lambda:InvokeFunction", f"{FN}:{function}:$LATEST"
    )
    new = f"authz-{uuid.uuid4().hex[:8]}"
    assert denied(
        invoker.create_function, FunctionName=new, Runtime="python3.11", Handler="index.handler", Role=ROLE,
        Code={"ZipFile": zip_files({"index.py": ECHO})},
    ) == (403, implicit(key_name, "lambda:CreateFunction", f"{FN}:{new}"))  # fmt: skip
    assert denied(invoker.list_functions)[1] == implicit(key_name, "lambda:ListFunctions", "*")

    out = tmp_path / "out.json"
    server.aws("lambda", "invoke", "--function-name", function, str(out), credentials=pair)
    assert json.loads(out.read_text()) == {"echo": {}}
    package = tmp_path / "f.zip"
    package.write_bytes(zip_files({"index.py": ECHO}))
    created = server.aws(
        "lambda", "create-function", "--function-name", new, "--runtime", "python3.11",
        "--handler", "index.handler", "--role", ROLE, "--zip-file", f"fileb://{package}",
        credentials=pair, check=False,
    )  # fmt: skip
    assert created.returncode != 0
    assert "(AccessDeniedException)" in created.stderr
    assert implicit(key_name, "lambda:CreateFunction", f"{FN}:{new}") in created.stderr
    with pytest.raises(ClientError):
        lambda_client.get_function(FunctionName=new)


def test_conditions_see_the_callers_address(server, pinpoint, tmp_path):
    """aws:SourceIp is the connecting client's address (here loopback)."""
    _, from_here = make_key(
        server, tmp_path,
        {"Effect": "Allow", "Action": "mobiletargeting:GetApps", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}}},
    )  # fmt: skip
    _, from_elsewhere = make_key(
        server, tmp_path,
        {"Effect": "Allow", "Action": "mobiletargeting:GetApps", "Resource": "*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}},
    )  # fmt: skip
    assert "ApplicationsResponse" in scoped(server, "pinpoint", from_here).get_apps()
    assert denied(scoped(server, "pinpoint", from_elsewhere).get_apps)[0] == 403


def test_a_policy_a_key_cannot_carry_is_refused_naming_the_element(server, tmp_path):
    policy = tmp_path / "bad.json"
    policy.write_text(json.dumps({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "mobiletargeting:*", "Resource": "*"}
    ]}))  # fmt: skip
    made = server.keys("create", f"bad{uuid.uuid4().hex[:6]}", "--policy", str(policy), "--json")
    assert made.returncode != 0
    assert "Statement[0] has a Principal" in made.stderr
    assert "AccessKeyId" not in made.stdout


def test_files_under_the_files_root_need_their_own_permission(server, pinpoint, tmp_path):
    """Files under --files-root are shared by every app: a key limited to its app reads or
    writes there only where its policy grants tidings:ReadFiles / tidings:WriteFiles."""
    from tests.jobs import minimal_rows, wait_for_job, write_lines

    mine = pinpoint.create_app(CreateApplicationRequest={"Name": "mine"})["ApplicationResponse"]["Id"]
    ours = Path(server.files_root).resolve() / f"files-{uuid.uuid4().hex[:8]}"
    (ours / "mine").mkdir(parents=True)
    (ours / "theirs").mkdir()
    write_lines(ours / "mine" / "a.json", minimal_rows(2, "mine"))
    write_lines(ours / "theirs" / "b.json", minimal_rows(2, "theirs"))
    files = f"arn:aws:tidings:{REGION}:{ACCOUNT}:files"
    app_only = {"Effect": "Allow", "Action": "mobiletargeting:*", "Resource": [f"{MT}:apps/{mine}", f"{MT}:apps/{mine}/*"]}
    name, pair = make_key(server, tmp_path, app_only)
    client = scoped(server, "pinpoint", pair)

    def import_from(path: Path) -> dict:
        request = {"Format": "JSON", "S3Url": path.as_uri(), "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/import"}
        return client.create_import_job(ApplicationId=mine, ImportJobRequest=request)["ImportJobResponse"]

    status, message = denied(import_from, ours / "theirs" / "b.json")
    assert status == 403 and "tidings:ReadFiles" in message and f"{files}{ours}/theirs/b.json" in message
    export = {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/export", "S3UrlPrefix": (ours / "theirs" / "out").as_uri()}
    status, message = denied(client.create_export_job, ApplicationId=mine, ExportJobRequest=export)
    assert "tidings:WriteFiles" in message

    # Granted for its own folder: that folder works, the other does not.
    grant = {"Effect": "Allow", "Action": ["tidings:ReadFiles", "tidings:WriteFiles"], "Resource": f"{files}{ours}/mine/*"}
    _, pair = make_key(server, tmp_path, app_only, grant)
    client = scoped(server, "pinpoint", pair)
    job = import_from(ours / "mine" / "a.json")
    assert wait_for_job(server.client("pinpoint"), mine, job["Id"])["JobStatus"] == "COMPLETED"
    denied(import_from, ours / "theirs" / "b.json")
    mine_out = {**export, "S3UrlPrefix": (ours / "mine" / "out").as_uri()}
    assert client.create_export_job(ApplicationId=mine, ExportJobRequest=mine_out)["ExportJobResponse"]["Id"]
