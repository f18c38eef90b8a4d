"""AddPermission, RemovePermission and GetPolicy, with the seed document's commands."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.zips import ROLE, zip_files

ACCOUNT = "000000000000"


@pytest.fixture
def function(lambda_client):
    name = f"policy-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_files({"app.py": "def handler(e, c):\n    return 1\n"})},
    )
    yield name
    lambda_client.delete_function(FunctionName=name)


def test_seed_add_permission_prints_what_lambda_prints(server, function):
    source_arn = f"arn:aws:mobiletargeting:us-east-1:{ACCOUNT}:/apps/0123456789abcdef0123456789abcdef/campaigns/fedcba9876543210fedcba9876543210"
    done = server.aws(
        "lambda", "add-permission",
        "--function-name", function,
        "--statement-id", "sid",
        "--action", "lambda:InvokeFunction",
        "--principal", "pinpoint.us-east-1.amazonaws.com",
        "--source-arn", source_arn,
    )  # fmt: skip
    assert list(done.json) == ["Statement"]
    statement = json.loads(done.json["Statement"])
    assert statement == {
        "Sid": "sid",
        "Effect": "Allow",
        "Principal": {"Service": "pinpoint.us-east-1.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{function}",
        "Condition": {"ArnLike": {"AWS:SourceArn": source_arn}},
    }
    assert list(statement) == ["Sid", "Effect", "Principal", "Action", "Resource", "Condition"]

    policy = json.loads(server.aws("lambda", "get-policy", "--function-name", function).json["Policy"])
    assert policy == {"Version": "2012-10-17", "Id": "default", "Statement": [statement]}


def test_statement_forms(lambda_client, function):
    account = lambda_client.add_permission(
        FunctionName=function, StatementId="acct", Action="lambda:InvokeFunction", Principal="111122223333"
    )
    assert json.loads(account["Statement"])["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    anyone = lambda_client.add_permission(
        FunctionName=function, StatementId="anyone", Action="lambda:*", Principal="*", SourceAccount=ACCOUNT
    )
    assert json.loads(anyone["Statement"])["Principal"] == "*"
    both = json.loads(
        lambda_client.add_permission(
            FunctionName=function,
            StatementId="both",
            Action="lambda:InvokeFunction",
            Principal="pinpoint.us-east-1.amazonaws.com",
            SourceArn=f"arn:aws:mobiletargeting:us-east-1:{ACCOUNT}:apps/*",
            SourceAccount=ACCOUNT,
        )["Statement"]
    )
    assert both["Condition"] == {
        "StringEquals": {"AWS:SourceAccount": ACCOUNT},
        "ArnLike": {"AWS:SourceArn": f"arn:aws:mobiletargeting:us-east-1:{ACCOUNT}:apps/*"},
    }
    assert list(both["Condition"]) == ["StringEquals", "ArnLike"]
    policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["acct", "anyone", "both"]


def test_permission_errors(lambda_client, function):
    add = {"FunctionName": function, "Action": "lambda:InvokeFunction", "Principal": "pinpoint.us-east-1.amazonaws.com"}
    lambda_client.add_permission(StatementId="once", **add)
    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as caught:
        lambda_client.add_permission(StatementId="once", **add)
    assert caught.value.response["Error"]["Message"] == (
        "The statement id (once) provided already exists. Please provide a new statement id, "
        "or remove the existing statement."
    )
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        lambda_client.add_permission(StatementId="bad", **{**add, "Principal": "invalid.nonaws.com"})
    assert "The provided principal was invalid" in caught.value.response["Error"]["Message"]
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        lambda_client.add_permission(StatementId="x", Qualifier="$LATEST", **add)
    assert caught.value.response["Error"]["Message"] == "We currently do not support adding policies for $LATEST."
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        lambda_client.add_permission(StatementId="bad.id", **add)
    assert "StatementId" in caught.value.response["Error"]["Message"]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.add_permission(StatementId="x", **{**add, "FunctionName": "nobody"})


def test_revision_ids_and_removal(lambda_client, function):
    before = lambda_client.get_function_configuration(FunctionName=function)["RevisionId"]
    lambda_client.add_permission(
        FunctionName=function, StatementId="a", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com"
    )
    policy = lambda_client.get_policy(FunctionName=function)
    assert policy["RevisionId"] != before
    assert policy["RevisionId"] == lambda_client.get_function_configuration(FunctionName=function)["RevisionId"]
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException):
        lambda_client.add_permission(
            FunctionName=function, StatementId="b", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
            RevisionId=before,
        )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        lambda_client.remove_permission(FunctionName=function, StatementId="missing")
    assert caught.value.response["Error"]["Message"] == "Statement missing is not found in resource policy."
    removed = lambda_client.remove_permission(FunctionName=function, StatementId="a")
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    # The last statement gone, the policy is gone.
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        lambda_client.get_policy(FunctionName=function)
    assert caught.value.response["Error"]["Message"] == "The resource you requested does not exist."
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as caught:
        lambda_client.remove_permission(FunctionName=function, StatementId="a")
    assert caught.value.response["Error"]["Message"] == "No policy is associated with the given resource."
