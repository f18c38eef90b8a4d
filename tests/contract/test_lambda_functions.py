"""Lambda's function API through boto3 against a live server."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os

import pytest

from tests.zips import ROLE, zip_files

CODE = zip_files({"app.py": "def handler(event, context):\n    return {'ok': True}\n"})


@pytest.fixture
def make(lambda_client, request):
    created = []

    def create(name: str | None = None, code: bytes = CODE, **config):
        name = name or f"fn-{request.node.name[:30]}-{len(created)}".replace("[", "-").replace("]", "")
        params = {"Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE} | config
        result = lambda_client.create_function(FunctionName=name, Code={"ZipFile": code}, **params)
        created.append(name)
        return result

    yield create
    for name in created:
        with contextlib.suppress(lambda_client.exceptions.ResourceNotFoundException):
            lambda_client.delete_function(FunctionName=name)


def test_create_get_list(lambda_client, make):
    created = make(
        "inventory",
        Description="sends things",
        Timeout=10,
        MemorySize=256,
        Environment={"Variables": {"STAGE": "test"}},
        Tags={"team": "growth"},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:inventory"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(CODE).digest()).decode()
    assert created["CodeSize"] == len(CODE)
    assert (created["Runtime"], created["Handler"], created["Role"]) == ("python3.11", "app.handler", ROLE)
    assert (created["Timeout"], created["MemorySize"], created["Description"]) == (10, 256, "sends things")
    assert created["Environment"] == {"Variables": {"STAGE": "test"}}
    assert created["Version"] == "$LATEST" and created["State"] == "Active"
    assert created["LastModified"].endswith("+0000")

    got = lambda_client.get_function(FunctionName="inventory")
    assert got["Configuration"]["RevisionId"] == created["RevisionId"]
    assert got["Tags"] == {"team": "growth"}
    assert got["Code"]["RepositoryType"] == "S3"
    by_arn = lambda_client.get_function_configuration(FunctionName=created["FunctionArn"])
    assert by_arn["FunctionName"] == "inventory"
    partial = lambda_client.get_function_configuration(FunctionName="000000000000:function:inventory")
    assert partial["FunctionName"] == "inventory"

    names = []
    marker = None
    while True:
        page = lambda_client.list_functions(MaxItems=1, **({"Marker": marker} if marker else {}))
        names += [f["FunctionName"] for f in page["Functions"]]
        assert all("State" not in f for f in page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert "inventory" in names


def test_defaults(make):
    created = make("defaults")
    assert (created["Timeout"], created["MemorySize"]) == (3, 128)
    assert created["Architectures"] == ["x86_64"]
    assert created["LoggingConfig"]["LogGroup"] == "/aws/lambda/defaults"


def test_update_code_and_configuration(lambda_client, make):
    created = make("updatable")
    new_code = zip_files({"app.py": "def handler(e, c):\n    return 2\n"})
    updated = lambda_client.update_function_code(FunctionName="updatable", ZipFile=new_code)
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert updated["RevisionId"] != created["RevisionId"]
    assert lambda_client.invoke(FunctionName="updatable")["Payload"].read() == b"2"

    configured = lambda_client.update_function_configuration(FunctionName="updatable", Timeout=30, Description="d")
    assert (configured["Timeout"], configured["Description"], configured["Handler"]) == (30, "d", "app.handler")

    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.update_function_configuration(FunctionName="updatable", Timeout=5, RevisionId=created["RevisionId"])
    ok = lambda_client.update_function_configuration(FunctionName="updatable", Timeout=5, RevisionId=configured["RevisionId"])
    assert ok["Timeout"] == 5


def test_delete(lambda_client, make):
    make("doomed")
    result = lambda_client.delete_function(FunctionName="doomed")
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        lambda_client.get_function(FunctionName="doomed")
    assert caught.value.response["Error"]["Message"] == "Function not found: arn:aws:lambda:us-east-1:000000000000:function:doomed"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"Runtime": "python2.7"}, "'python2.7' at 'runtime'"),
        ({"Timeout": 901}, "timeout"),
        ({"MemorySize": 10241}, "memorySize"),
        ({"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}}, "Reserved keys used in this request: AWS_REGION"),
        ({"Environment": {"Variables": {"BIG": "x" * 5000}}}, "4KB"),
        ({"Role": "not-a-role"}, "Role"),
        ({"Handler": ""}, "Handler"),
    ],
)
def test_create_refusals(lambda_client, make, overrides, fragment):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        make("refused", **overrides)
    assert fragment in caught.value.response["Error"]["Message"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName="refused")


def test_duplicate_name_conflicts(lambda_client, make):
    make("twice")
    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as caught:
        make("twice")
    assert caught.value.response["Error"]["Message"] == "Function already exist: twice"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        (zip_files({"app.py": "x=1", "../../escape.py": "boom"}), "outside the code directory"),
        (zip_files({"app.py": "x=1"}, symlinks={"passwd": "/etc/passwd"}), "symbolic link"),
        (b"not a zip at all", "Could not unzip uploaded file"),
    ],
)
def test_unsafe_archives_are_refused_and_nothing_is_written(server, lambda_client, make, code, fragment):
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        make("unsafe", code=code)
    assert fragment in caught.value.response["Error"]["Message"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName="unsafe")
    data = server.log_path.parent / "data"
    assert not list(data.rglob("escape.py")) and not list(data.rglob("passwd"))
    make("safe-after")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_code(FunctionName="safe-after", ZipFile=code)
    assert lambda_client.invoke(FunctionName="safe-after")["Payload"].read() == b'{"ok": true}'


def test_archives_over_50_mb_are_refused(lambda_client, make):
    too_big = zip_files({"app.py": "x = 1", "blob.bin": os.urandom(50 * 1024 * 1024 + 1024)})
    with pytest.raises(lambda_client.exceptions.ClientError) as caught:
        make("too-big", code=too_big)
    error = caught.value.response
    assert error["Error"]["Code"] == "RequestEntityTooLargeException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert "Zipped size must be smaller than 52428800 bytes" in error["Error"]["Message"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName="too-big")


def test_unknown_functions_and_qualifiers(lambda_client, make):
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_configuration(FunctionName="nobody")
    make("qualified")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        lambda_client.get_function(FunctionName="qualified", Qualifier="7")
    assert ":qualified:7" in caught.value.response["Error"]["Message"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        lambda_client.get_function(FunctionName="arn:aws:lambda:eu-west-1:000000000000:function:qualified")
    assert "not reachable in this region" in caught.value.response["Error"]["Message"]
    assert lambda_client.get_function(FunctionName="qualified:$LATEST")["Configuration"]["FunctionName"] == "qualified"
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.delete_function(FunctionName="qualified", Qualifier="$LATEST")


def test_concurrency(lambda_client, make):
    make("limited")
    assert lambda_client.get_function_concurrency(FunctionName="limited").get("ReservedConcurrentExecutions") is None
    put = lambda_client.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=5)
    assert put["ReservedConcurrentExecutions"] == 5
    assert lambda_client.get_function(FunctionName="limited")["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        lambda_client.put_function_concurrency(FunctionName="limited", ReservedConcurrentExecutions=901)
    assert "UnreservedConcurrentExecution below its minimum value of [100]" in caught.value.response["Error"]["Message"]
    lambda_client.delete_function_concurrency(FunctionName="limited")
    assert "Concurrency" not in lambda_client.get_function(FunctionName="limited")


def test_errors_have_lambdas_shape(server, make):
    import json

    status, headers, data = server.raw("GET", "/2015-03-31/functions/nobody")
    body = json.loads(data)
    assert status == 404
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert body["Type"] == "User"
    assert body["Message"] == body["message"]
