"""Invoking Node.js functions through boto3: results, errors, timeouts and log tails."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from tests.zips import ROLE, zip_files

HANDLER = """
let invocations = 0;
exports.handler = async (event, context) => {
  invocations += 1;
  console.log("event", JSON.stringify(event));
  if (event.action === "fail") throw new TypeError("bad input");
  if (event.action === "sleep") await new Promise((resolve) => setTimeout(resolve, event.ms));
  return { invocations, name: context.functionName, memory: context.memoryLimitInMB,
           requestId: context.awsRequestId, left: context.getRemainingTimeInMillis() };
};
exports.callback = (event, context, callback) => {
  setTimeout(() => console.log("timer done"), 100);
  callback(null, { style: "callback" });
};
"""


@pytest.fixture(scope="module")
def node_function(server):
    client = server.client("lambda")
    name = f"node-{uuid.uuid4().hex[:8]}"
    client.create_function(
        FunctionName=name, Runtime="nodejs20.x", Handler="index.handler", Role=ROLE, Timeout=1,
        Code={"ZipFile": zip_files({"index.js": HANDLER})},
    )  # fmt: skip
    yield name
    client.delete_function(FunctionName=name)


def call(client, name, event, **kwargs):
    result = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    return result, json.loads(result["Payload"].read())


def test_result_and_log_tail(lambda_client, node_function):
    result, body = call(lambda_client, node_function, {"hi": 1}, LogType="Tail")
    assert result["StatusCode"] == 200 and "FunctionError" not in result
    request_id = result["ResponseMetadata"]["RequestId"]
    assert body["name"] == node_function and body["memory"] == "128" and body["requestId"] == request_id
    assert 0 < body["left"] <= 1000
    log = base64.b64decode(result["LogResult"]).decode()
    line = next(x for x in log.splitlines() if x.endswith('event {"hi":1}'))
    timestamp, rid, level, _ = line.split("\t")
    assert (rid, level) == (request_id, "INFO") and timestamp.endswith("Z")
    assert log.splitlines()[-1].startswith(f"REPORT RequestId: {request_id}\tDuration:")
    _, again = call(lambda_client, node_function, {})
    assert again["invocations"] == body["invocations"] + 1


def test_error_payload_has_a_trace(lambda_client, node_function):
    result, body = call(lambda_client, node_function, {"action": "fail"})
    assert result["FunctionError"] == "Unhandled"
    assert body["errorType"] == "TypeError" and body["errorMessage"] == "bad input"
    assert body["trace"][0] == "TypeError: bad input"
    assert "stackTrace" not in body


def test_timeout(lambda_client, node_function):
    result, body = call(lambda_client, node_function, {"action": "sleep", "ms": 5000})
    assert result["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    _, after = call(lambda_client, node_function, {})
    assert after["invocations"] == 1


def test_callback_waits_for_the_event_loop(lambda_client, node_function):
    lambda_client.update_function_configuration(FunctionName=node_function, Handler="index.callback")
    try:
        result, body = call(lambda_client, node_function, {}, LogType="Tail")
        assert body == {"style": "callback"}
        # The result was held until the timer ran, so its output is in this invocation's log.
        assert "timer done" in base64.b64decode(result["LogResult"]).decode()
    finally:
        lambda_client.update_function_configuration(FunctionName=node_function, Handler="index.handler")
