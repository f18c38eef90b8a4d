"""Invoking Python functions through boto3: results, errors, timeouts, logs, environments."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid

import pytest

from tests.host_files import FUNCTION_HELPERS, host_files_url
from tests.zips import ROLE, zip_files

# "hold" and "append" tell the test through host files (tests/host_files.py, at event["relay"]).
HANDLER = FUNCTION_HELPERS + '''
import json, logging, os, sys, tempfile, time

WARM = {"invocations": 0}
os.makedirs(os.path.join(tempfile.gettempdir(), "mine"), exist_ok=True)


def handler(event, context):
    WARM["invocations"] += 1
    action = event.get("action")
    print("event", json.dumps(event, sort_keys=True))
    logging.getLogger().info("logged at info")
    if action == "fail":
        raise KeyError("no such thing")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "hold":
        host_append(event["relay"], event["path"], b"")  # tell the test this invocation is running
        time.sleep(event["seconds"])
    if action == "exit":
        sys.exit(4)
    if action == "append":
        host_append(event["relay"], event["path"], b"x")
        if event.get("then_fail"):
            raise RuntimeError("failing on purpose")
    if action == "big":
        return "x" * (6 * 1024 * 1024 + 10)
    if action == "unserialisable":
        return {"when": object()}
    return {
        "invocations": WARM["invocations"],
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "tmp_kept": os.path.isdir(os.path.join(tempfile.gettempdir(), "mine")),
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "client_context": context.client_context.custom if context.client_context else None,
        },
    }
'''


@pytest.fixture(scope="module")
def functions(server):
    client = server.client("lambda")
    names = {}
    suffix = uuid.uuid4().hex[:6]
    for runtime in ("python3.11", "python3.12", "python3.13"):
        name = f"py-{runtime.replace('.', '')}-{suffix}"
        client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Handler="app.handler",
            Role=ROLE,
            Timeout=2,
            Environment={"Variables": {"GREETING": "hello"}},
            Code={"ZipFile": zip_files({"app.py": HANDLER})},
        )
        names[runtime] = name
    yield names
    for name in names.values():
        client.delete_function(FunctionName=name)


def call(client, name, event, **kwargs):
    result = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    body = result["Payload"].read()
    return result, (json.loads(body) if body else None)


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12", "python3.13"])
def test_result_context_and_environment(lambda_client, functions, runtime):
    name = functions[runtime]
    result, body = call(lambda_client, name, {"hello": "world"})
    assert result["StatusCode"] == 200 and "FunctionError" not in result
    assert result["ExecutedVersion"] == "$LATEST"
    context = body["context"]
    assert context["function_name"] == name
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert context["memory_limit_in_mb"] == "128"
    assert context["aws_request_id"] == result["ResponseMetadata"]["RequestId"]
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert 0 < context["remaining"] <= 2000
    env = body["env"]
    assert env["GREETING"] == "hello"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name and env["AWS_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.handler" and env["LAMBDA_TASK_ROOT"] == body["cwd"]
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{runtime}"
    # Nothing of the server's own environment reaches the function.
    assert not any(key.startswith("TIDINGS_") for key in env)
    assert "VIRTUAL_ENV" not in env and "PYTEST_CURRENT_TEST" not in env


def test_warm_environment_is_reused(lambda_client, functions):
    name = functions["python3.11"]
    _, first = call(lambda_client, name, {})
    _, second = call(lambda_client, name, {})
    assert second["invocations"] == first["invocations"] + 1
    assert second["tmp_kept"]


def test_log_tail(lambda_client, functions):
    result, _ = call(lambda_client, functions["python3.11"], {"n": 1}, LogType="Tail")
    log = base64.b64decode(result["LogResult"]).decode()
    request_id = result["ResponseMetadata"]["RequestId"]
    lines = log.splitlines()
    start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
    assert lines[start + 1] == 'event {"n": 1}'
    assert lines[start + 2].startswith("[INFO]\t") and lines[start + 2].endswith(f"\t{request_id}\tlogged at info")
    assert f"END RequestId: {request_id}" in lines
    report = lines[-1]
    assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "\tBilled Duration: " in report and "\tMemory Size: 128 MB\tMax Memory Used: " in report
    without = lambda_client.invoke(FunctionName=functions["python3.11"], Payload=b"{}")
    assert "LogResult" not in without


def test_function_error(lambda_client, functions):
    result, body = call(lambda_client, functions["python3.12"], {"action": "fail"}, LogType="Tail")
    assert result["StatusCode"] == 200
    assert result["FunctionError"] == "Unhandled"
    assert body["errorType"] == "KeyError"
    assert body["errorMessage"] == "'no such thing'"
    assert body["requestId"] == result["ResponseMetadata"]["RequestId"]
    assert any('raise KeyError("no such thing")' in frame for frame in body["stackTrace"])
    log = base64.b64decode(result["LogResult"]).decode()
    assert "[ERROR] KeyError: 'no such thing'" in log


def test_timeout_kills_the_environment(lambda_client, functions):
    name = functions["python3.13"]
    _, warm = call(lambda_client, name, {})
    result, body = call(lambda_client, name, {"action": "sleep", "seconds": 10}, LogType="Tail")
    assert result["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    request_id = result["ResponseMetadata"]["RequestId"]
    assert body["errorMessage"] == f"RequestId: {request_id} Error: Task timed out after 2.00 seconds"
    assert "Task timed out after 2.00 seconds" in base64.b64decode(result["LogResult"]).decode()
    _, after = call(lambda_client, name, {})
    assert after["invocations"] == 1  # a fresh environment, initialised again


def test_crash_gives_exit_error_and_a_fresh_environment(lambda_client, functions):
    name = functions["python3.11"]
    call(lambda_client, name, {})
    result, body = call(lambda_client, name, {"action": "exit"})
    assert result["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: exit status 4")
    _, after = call(lambda_client, name, {})
    assert after["invocations"] == 1


def test_marshalling_and_response_size_errors(lambda_client, functions):
    _, body = call(lambda_client, functions["python3.11"], {"action": "unserialisable"})
    assert body["errorType"] == "Runtime.MarshalError"
    assert body["errorMessage"].startswith("Unable to marshal response:")
    result, body = call(lambda_client, functions["python3.11"], {"action": "big"})
    assert result["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({"app.py": "x = 1"}, "missing.handler", "Runtime.ImportModuleError", "Unable to import module 'missing': No module named 'missing'"),
        ({"app.py": "x = 1"}, "app.handler", "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'"),
        ({"app.py": "def handler(:\n"}, "app.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
        ({"app.py": "x = 1"}, "nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot'"),
        ({"app.py": "import not_installed_anywhere\n"}, "app.handler", "Runtime.ImportModuleError", "Unable to import module 'app'"),
    ],
)
def test_handler_load_errors(lambda_client, files, handler, error_type, message):
    name = f"broken-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Handler=handler, Role=ROLE, Code={"ZipFile": zip_files(files)}
    )
    try:
        result, body = call(lambda_client, name, {})
        assert result["FunctionError"] == "Unhandled"
        assert body["errorType"] == error_type
        assert body["errorMessage"].startswith(message)
        assert body["requestId"] == ""
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_nested_handler_module(lambda_client):
    name = f"nested-{uuid.uuid4().hex[:8]}"
    files = {"src/__init__.py": "", "src/lib/__init__.py": "", "src/lib/app.py": "def go(e, c):\n    return 'deep'\n"}
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Handler="src/lib/app.go", Role=ROLE, Code={"ZipFile": zip_files(files)}
    )
    try:
        assert call(lambda_client, name, {})[1] == "deep"
    finally:
        lambda_client.delete_function(FunctionName=name)


def test_client_context_reaches_the_function(lambda_client, functions):
    context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    _, body = call(lambda_client, functions["python3.11"], {}, ClientContext=context)
    assert body["context"]["client_context"] == {"tenant": "t1"}


def test_payload_limits_and_bad_json(lambda_client, functions):
    name = functions["python3.11"]
    with pytest.raises(lambda_client.exceptions.ClientError) as caught:
        lambda_client.invoke(FunctionName=name, Payload=b'{"x": "' + b"a" * (6 * 1024 * 1024) + b'"}')
    assert caught.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(lambda_client.exceptions.InvalidRequestContentException) as caught:
        lambda_client.invoke(FunctionName=name, Payload=b"{not json")
    assert "Could not parse request body into json" in caught.value.response["Error"]["Message"]
    with pytest.raises(lambda_client.exceptions.ClientError) as caught:
        lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"x": "' + b"a" * (1024 * 1024) + b'"}')
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_dry_run_runs_nothing(lambda_client, functions, tmp_path):
    path = tmp_path / "dry"
    result = lambda_client.invoke(
        FunctionName=functions["python3.11"], InvocationType="DryRun", Payload=json.dumps({"action": "append", "path": str(path), "relay": host_files_url()})
    )
    assert result["StatusCode"] == 204
    assert not path.exists()
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.invoke(FunctionName="nobody-here", InvocationType="DryRun")


def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_event_invocations_run_and_failures_are_retried_twice(lambda_client, functions, tmp_path):
    name = functions["python3.11"]
    ok_path, failing_path = tmp_path / "ok", tmp_path / "failing"
    result = lambda_client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"action": "append", "path": str(ok_path), "relay": host_files_url()})
    )
    assert result["StatusCode"] == 202
    assert result["Payload"].read() == b""
    lambda_client.invoke(
        FunctionName=name,
        InvocationType="Event",
        Payload=json.dumps({"action": "append", "path": str(failing_path), "relay": host_files_url(), "then_fail": True}),
    )
    assert _wait_for(lambda: ok_path.exists() and failing_path.exists() and len(failing_path.read_text()) == 3)
    time.sleep(1.0)  # a fourth attempt would have come by now (retry base delay 0.2 s)
    assert ok_path.read_text() == "x"
    assert failing_path.read_text() == "xxx"


def test_reserved_concurrency_throttles(lambda_client, functions, tmp_path):
    name = f"throttled-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.handler", Role=ROLE, Timeout=5,
        Code={"ZipFile": zip_files({"app.py": HANDLER})},
    )
    try:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        running = tmp_path / "running"
        busy = threading.Thread(
            target=call, args=(lambda_client, name, {"action": "hold", "path": str(running), "relay": host_files_url(), "seconds": 1.5})
        )
        busy.start()
        assert _wait_for(running.exists)
        with pytest.raises(lambda_client.exceptions.TooManyRequestsException) as caught:
            call(lambda_client, name, {})
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert caught.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        busy.join()
        assert call(lambda_client, name, {})[0]["StatusCode"] == 200
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        with pytest.raises(lambda_client.exceptions.TooManyRequestsException):
            call(lambda_client, name, {})
    finally:
        lambda_client.delete_function(FunctionName=name)
