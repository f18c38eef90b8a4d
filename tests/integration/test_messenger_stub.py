"""The seed document's Messenger function, unchanged, delivering to a local Send API stub.

The function is created, authorised and invoked with the AWS CLI against a live server (both
backends), with the environment from `MessengerStub.function_environment()`: its
`https.request` to graph.facebook.com lands on the stub over verified TLS. The event has the
shape a campaign run sends to a custom-channel function.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.messenger import MessengerStub

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SEED_FUNCTION = FIXTURES / "seed_function"
ACCOUNT = "000000000000"
APPLICATION_ID = "0123456789abcdef0123456789abcdef"
CAMPAIGN_ID = "fedcba9876543210fedcba9876543210"
# The seed document writes the campaign ARN with the older ":/apps/..." form; keep it so.
CAMPAIGN_PATH = f"/apps/{APPLICATION_ID}/campaigns/{CAMPAIGN_ID}"
SOURCE_ARN = f"arn:aws:mobiletargeting:us-east-1:{ACCOUNT}:{CAMPAIGN_PATH}"
PAGE_ACCESS_TOKEN = "EAF...DZD"  # the constant in the seed function
TEXT = "Hello from Tidings"

Invoker = Callable[[str, dict[str, Any]], tuple[dict[str, Any], Any, str]]


def endpoint(user_id: str, psid: str | None = None) -> dict[str, Any]:
    user: dict[str, Any] = {"UserId": user_id}
    if psid is not None:
        user["UserAttributes"] = {"facebookMessengerPsid": [psid]}
    return {"ChannelType": "SMS", "Address": "+15550100", "User": user}


def campaign_event(endpoints: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The event a campaign run hands a custom-channel function for one batch."""
    return {
        "Message": {"smsmessage": {"body": TEXT}},
        "MessageConfiguration": {"SMSMessage": {"Body": TEXT}},
        "ApplicationId": APPLICATION_ID,
        "CampaignId": CAMPAIGN_ID,
        "TreatmentId": "0",
        "ActivityId": "0f1e2d3c4b5a69780f1e2d3c4b5a6978",
        "ScheduledTime": "2026-11-24T16:08:34.123Z",
        "Endpoints": endpoints,
    }


@pytest.fixture
def create_seed_function(server, tmp_path, messenger_stub) -> Iterator[Callable[[dict[str, str]], str]]:
    """create(variables) -> name: the seed function with those variables and its permission."""
    package = tmp_path / "function.zip"
    package.write_bytes(messenger_stub.package(SEED_FUNCTION))
    created: list[str] = []

    def create(variables: dict[str, str]) -> str:
        name = f"fb-messenger-{uuid.uuid4().hex[:8]}"
        server.aws(
            "lambda", "create-function",
            "--function-name", name,
            "--runtime", "nodejs20.x",
            "--handler", "index.handler",
            "--role", f"arn:aws:iam::{ACCOUNT}:role/pinpoint-custom-channel",
            "--zip-file", f"fileb://{package}",
            # 50 TLS connections from a cold start on a busy CI machine; 3 s is too tight.
            "--timeout", "20",
            "--environment", json.dumps({"Variables": variables}),
        )  # fmt: skip
        created.append(name)
        server.aws(
            "lambda", "add-permission",
            "--function-name", name,
            "--statement-id", "sid",
            "--action", "lambda:InvokeFunction",
            "--principal", "pinpoint.us-east-1.amazonaws.com",
            "--source-arn", SOURCE_ARN,
        )  # fmt: skip
        return name

    yield create
    for name in created:
        server.aws("lambda", "delete-function", "--function-name", name, check=False)


@pytest.fixture
def invoke(server, tmp_path) -> Invoker:
    """invoke(name, event) -> (CLI output, function result, log tail), via `aws lambda invoke`."""

    def run(name: str, event: dict[str, Any]) -> tuple[dict[str, Any], Any, str]:
        payload = tmp_path / f"event-{uuid.uuid4().hex[:6]}.json"
        payload.write_text(json.dumps(event))
        out = tmp_path / f"out-{uuid.uuid4().hex[:6]}.json"
        meta = server.aws(
            "lambda", "invoke",
            "--function-name", name,
            "--payload", f"fileb://{payload}",
            "--log-type", "Tail",
            str(out),
        ).json  # fmt: skip
        log = base64.b64decode(meta.get("LogResult", "")).decode()
        return meta, json.loads(out.read_text()), log

    return run


def assert_sent_like_facebook(stub: MessengerStub) -> None:
    """Every request is the seed's Send API call, over TLS for graph.facebook.com."""
    for message in stub.messages:
        assert (message.method, message.path) == ("POST", "/v2.6/me/messages")
        assert message.access_token == PAGE_ACCESS_TOKEN and message.text == TEXT
        assert message.server_name == "graph.facebook.com"  # SNI
        assert message.headers["host"] == "graph.facebook.com"
        assert message.headers["content-type"] == "application/json"
        assert message.tls_version is not None and message.tls_version.startswith("TLS")


def test_seed_function_delivers_each_messenger_endpoint(
    server, messenger_stub: MessengerStub, create_seed_function, invoke: Invoker
) -> None:
    name = create_seed_function(messenger_stub.function_environment())
    event = campaign_event(
        {
            "e1": endpoint("u1", "1667566386619741"),
            "e2": endpoint("u2"),  # no Messenger id: the function skips it
            "e3": endpoint("u3", "2778677497720852"),
        }
    )

    meta, result, log = invoke(name, event)

    assert meta["StatusCode"] == 200 and "FunctionError" not in meta, log
    assert result == {"body": "ok", "statusCode": 200}
    assert len(messenger_stub.messages) == 2
    assert_sent_like_facebook(messenger_stub)
    recipients = sorted(m.recipient_id for m in messenger_stub.delivered)
    assert recipients == ["1667566386619741", "2778677497720852"]
    # The function logged the stub's answers, as it would Facebook's.
    assert "Sending message for user u1 and page 1667566386619741 with message: " + TEXT in log
    assert '"recipient_id": "2778677497720852"' in log


def test_fifty_endpoints_in_one_batch_make_fifty_messages(
    server, messenger_stub: MessengerStub, create_seed_function, invoke: Invoker
) -> None:
    name = create_seed_function(messenger_stub.function_environment())
    psids = [str(1_000_000_000_000_000 + n) for n in range(50)]
    event = campaign_event({f"e{n}": endpoint(f"u{n}", psid) for n, psid in enumerate(psids)})

    meta, result, log = invoke(name, event)

    assert meta["StatusCode"] == 200 and "FunctionError" not in meta, log
    assert result == {"body": "ok", "statusCode": 200}
    assert len(messenger_stub.messages) == 50
    assert_sent_like_facebook(messenger_stub)
    assert Counter(m.recipient_id for m in messenger_stub.delivered) == Counter(psids)


def test_graph_api_errors_are_answered_and_the_seed_function_ignores_them(
    server, messenger_stub: MessengerStub, create_seed_function, invoke: Invoker
) -> None:
    # The seed function resolves on any HTTP answer, so a Graph API error still reads "ok":
    # only the stub's records tell a campaign test which messages were really delivered.
    name = create_seed_function(messenger_stub.function_environment())
    messenger_stub.fail_next(1, status=500)

    meta, result, log = invoke(name, campaign_event({"e1": endpoint("u1", "1667566386619741")}))

    assert "FunctionError" not in meta and result == {"body": "ok", "statusCode": 200}
    [message] = messenger_stub.messages
    assert message.status == 500 and message.response["error"]["is_transient"] is True
    assert messenger_stub.delivered == []
    assert '"code": 2' in log


def test_the_stub_certificate_is_really_verified(
    server, messenger_stub: MessengerStub, create_seed_function, invoke: Invoker
) -> None:
    # Without the test CA Node must refuse the stub: the TLS check is real, not switched off.
    variables = messenger_stub.function_environment()
    del variables["NODE_EXTRA_CA_CERTS"]
    name = create_seed_function(variables)

    meta, result, log = invoke(name, campaign_event({"e1": endpoint("u1", "1667566386619741")}))

    assert meta.get("FunctionError") == "Unhandled", log
    assert "unable to verify the first certificate" in json.dumps(result) + log
    assert messenger_stub.messages == []


def test_the_preload_refuses_to_start_without_a_stub_port(tmp_path) -> None:
    # Without MESSENGER_STUB_PORT the function would silently try the real (unreachable) host.
    done = subprocess.run(
        ["node", "--require", str(FIXTURES / "messenger_redirect.js"), "-e", "0"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin"},
        timeout=30,
    )
    assert done.returncode != 0 and "MESSENGER_STUB_PORT" in done.stderr
