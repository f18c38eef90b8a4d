"""The seed document's example function, created, authorised and invoked with the AWS CLI."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import pytest

from tidings.functions.code import zip_directory

SEED_FUNCTION = Path(__file__).resolve().parents[1] / "fixtures" / "seed_function"
SEED_DOCUMENT = Path(__file__).resolve().parents[3] / "shared" / "seed"
ACCOUNT = "000000000000"


def test_fixture_is_the_seed_code_byte_for_byte():
    documents = sorted(SEED_DOCUMENT.glob("*.txt")) if SEED_DOCUMENT.is_dir() else []
    if not documents:
        pytest.skip(f"the seed document is not at {SEED_DOCUMENT}")
    text = documents[0].read_text()
    code = re.search(r'```\n("use strict";.*?)```', text, re.S).group(1)
    assert (SEED_FUNCTION / "index.js").read_text() == code


def test_seed_workflow_with_the_aws_cli(server, tmp_path):
    name = f"fb-messenger-{uuid.uuid4().hex[:6]}"
    package = tmp_path / "function.zip"
    package.write_bytes(zip_directory(SEED_FUNCTION))

    created = server.aws(
        "lambda", "create-function",
        "--function-name", name,
        "--runtime", "nodejs20.x",
        "--handler", "index.handler",
        "--role", f"arn:aws:iam::{ACCOUNT}:role/pinpoint-custom-channel",
        "--zip-file", f"fileb://{package}",
    ).json  # fmt: skip
    assert created["FunctionName"] == name and created["Runtime"] == "nodejs20.x"

    source_arn = f"arn:aws:mobiletargeting:us-east-1:{ACCOUNT}:/apps/0123456789abcdef0123456789abcdef/campaigns/fedcba9876543210fedcba9876543210"
    granted = server.aws(
        "lambda", "add-permission",
        "--function-name", name,
        "--statement-id", "sid",
        "--action", "lambda:InvokeFunction",
        "--principal", "pinpoint.us-east-1.amazonaws.com",
        "--source-arn", source_arn,
    ).json  # fmt: skip
    statement = json.loads(granted["Statement"])
    assert statement == {
        "Sid": "sid",
        "Effect": "Allow",
        "Principal": {"Service": "pinpoint.us-east-1.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}",
        "Condition": {"ArnLike": {"AWS:SourceArn": source_arn}},
    }
    policy = json.loads(server.aws("lambda", "get-policy", "--function-name", name).json["Policy"])
    assert policy["Statement"] == [statement]

    # An event whose endpoints have no Messenger id: the function answers without sending.
    event = {
        "Message": {"smsmessage": {"body": "Hello"}},
        "Endpoints": {"ep-1": {"ChannelType": "SMS", "Address": "+15550100", "User": {"UserId": "u1"}}},
    }
    out = tmp_path / "out.json"
    invoked = server.aws(
        "lambda", "invoke", "--function-name", name, "--payload", json.dumps(event), "--log-type", "Tail", str(out)
    ).json
    assert invoked["StatusCode"] == 200 and "FunctionError" not in invoked
    assert json.loads(out.read_text()) == {"body": "ok", "statusCode": 200}
    assert "START RequestId:" in base64.b64decode(invoked["LogResult"]).decode()
    server.aws("lambda", "delete-function", "--function-name", name)
