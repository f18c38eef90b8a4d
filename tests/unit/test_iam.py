"""IAM policy evaluation (resource and identity policies) and identity-policy checks: a table of
cases, most from IAM's documented semantics."""

from __future__ import annotations

import pytest

from tidings.domain.errors import InvalidInput
from tidings.domain.iam import (
    Request,
    arn_like,
    check_identity_policy,
    evaluate,
    evaluate_identity,
    glob_match,
)

MT = "arn:aws:mobiletargeting"
A, B = "123456789012", "999999999999"
FN = f"arn:aws:lambda:us-east-1:{A}:function:f"
PINPOINT = "pinpoint.us-east-1.amazonaws.com"
CAMPAIGN = f"{MT}:us-east-1:{A}:apps/abc/campaigns/def"


def statement(condition=None, **overrides) -> dict:
    base = {
        "Sid": "s",
        "Effect": "Allow",
        "Principal": {"Service": PINPOINT},
        "Action": "lambda:InvokeFunction",
        "Resource": FN,
    }
    if condition is not None:
        base["Condition"] = condition
    base.update(overrides)
    return base


def policy(*statements) -> dict:
    return {"Version": "2012-10-17", "Id": "default", "Statement": list(statements)}


def request(source_arn: str | None = CAMPAIGN, account: str | None = A, **overrides) -> Request:
    context = {}
    if source_arn is not None:
        context["aws:SourceArn"] = source_arn
    if account is not None:
        context["aws:SourceAccount"] = account
    fields = {"principal": PINPOINT, "action": "lambda:InvokeFunction", "resource": FN, "context": context}
    fields.update(overrides)
    return Request(**fields)


def arnlike(value, operator="ArnLike", key="AWS:SourceArn"):
    return {operator: {key: value}}


# (id, policy statement condition, request, expected allowed)
CONDITION_CASES = [
    (1, arnlike(f"{MT}:us-east-1:{A}:apps/*"), request(CAMPAIGN), True),
    (2, arnlike(f"{MT}:us-east-1:{A}:/apps/*/campaigns/*"), request(f"{MT}:us-east-1:{A}:/apps/abc/campaigns/def"), True),
    (3, arnlike(f"{MT}:us-east-1:{A}:/apps/*/campaigns/*"), request(CAMPAIGN), False),
    (4, arnlike(f"{MT}:us-east-1:{A}:/apps/*/campaigns/*"), request(f"{MT}:us-east-1:{A}:/apps/abc/journeys/j1"), False),
    (5, arnlike(f"{MT}:us-east-1:{A}:apps/*/campaigns/*"), request(f"{MT}:us-east-1:{A}:apps/abc/campaigns/x/y"), True),
    (6, arnlike(f"{MT}:us-east-1:{A}:apps/abc"), request(CAMPAIGN), False),
    (7, arnlike(f"{MT}:*:{A}:apps/*"), request(f"{MT}:eu-west-1:{A}:apps/abc"), True),
    (8, arnlike(f"{MT}:us-*:{A}:apps/*"), request(f"{MT}:us-east-1:{A}:apps/a"), True),
    (9, arnlike(f"{MT}:us-east-1:{A}:apps/*"), request(f"{MT}:us-east-1:{B}:apps/abc"), False),
    (10, arnlike(f"{MT}:us-east-1:*:*"), request(f"{MT}:us-east-1:{A}:apps/abc"), True),
    (11, arnlike(f"{MT}:us-east-1:*"), request(f"{MT}:us-east-1:{A}:apps/abc"), False),
    ("11s", arnlike(f"{MT}:us-east-1:*", "StringLike"), request(f"{MT}:us-east-1:{A}:apps/abc"), True),
    (12, arnlike(f"arn:aws:*:{A}:apps/*"), request(f"{MT}:us-east-1:{A}:apps/abc"), False),
    ("12s", arnlike(f"arn:aws:*:{A}:apps/*", "StringLike"), request(f"{MT}:us-east-1:{A}:apps/abc"), True),
    (13, arnlike("*"), request(CAMPAIGN), False),
    ("13s", arnlike("*", "StringLike"), request(CAMPAIGN), True),
    (14, arnlike(f"{MT}:us-east-1:{A}:apps/ABC*"), request(f"{MT}:us-east-1:{A}:apps/abc1"), False),
    (15, arnlike(f"{MT}:us-east-1:12345678901?:apps/*"), request(CAMPAIGN), True),
    (16, arnlike(f"{MT}:us-east-1:12345678901?:apps/*"), request(f"{MT}:us-east-1:12345678901:apps/a"), False),
    (17, arnlike(f"arn:aws:lambda:us-east-1:{A}:function:*"), request(f"arn:aws:lambda:us-east-1:{A}:function:f:prod"), True),
    (18, arnlike("arn:aws:s3:::my.bucket"), request("arn:aws:s3:::myxbucket"), False),
    (19, arnlike("arn:aws:s3:::my-bucket*"), request("arn:aws:s3:::my-bucket/key"), True),
    (20, arnlike(f"arn:aws*:mobiletargeting:us-east-1:{A}:apps/*"), request(f"arn:aws-cn:mobiletargeting:us-east-1:{A}:apps/a"), True),
    (21, arnlike("arn:aws:s3:::b[1]"), request("arn:aws:s3:::b1"), False),
    (22, arnlike(f"{MT}:us-east-1:{A}:apps/*", "ArnEquals"), request(f"{MT}:us-east-1:{A}:apps/abc"), True),
    (23, arnlike(f"{MT}:us-east-1:{A}:apps/*"), request("not-an-arn"), False),
    (24, arnlike(f"{MT}:us-east-1:{A}:apps/*", "ArnNotLike"), request(f"{MT}:us-east-1:{A}:apps/abc"), False),
    (25, arnlike(f"{MT}:us-east-1:{A}:apps/*", "ArnNotLike"), request(None), True),
    (26, arnlike(f"{MT}:us-east-1:{A}:apps/*"), request(None), False),
    (27, arnlike(f"{MT}:us-east-1:{A}:apps/*", "ArnLikeIfExists"), request(None), True),
    (28, arnlike([f"{MT}:us-east-1:{A}:apps/x/*", f"{MT}:us-east-1:{A}:apps/y/*"]), request(f"{MT}:us-east-1:{A}:apps/y/campaigns/1"), True),
    (29, arnlike([f"{MT}:us-east-1:{A}:apps/x/*", f"{MT}:us-east-1:{A}:apps/y/*"], "ArnNotLike"), request(f"{MT}:us-east-1:{A}:apps/y/campaigns/1"), False),
    (30, arnlike(CAMPAIGN, key="AWS:SourceArn"), Request(PINPOINT, "lambda:InvokeFunction", FN, {"aws:sourcearn": CAMPAIGN}), True),
    (31, {"StringEquals": {"AWS:SourceAccount": A}}, request(), True),
    (32, {"StringEquals": {"AWS:SourceAccount": "*"}}, request(), False),
    (33, {"StringEquals": {"AWS:SourceAccount": A}, "ArnLike": {"AWS:SourceArn": f"{MT}:us-east-1:{A}:apps/*"}}, request(), True),
    (34, {"StringEquals": {"AWS:SourceAccount": A}, "ArnLike": {"AWS:SourceArn": f"{MT}:us-east-1:{A}:apps/*"}}, request(account=B), False),
    (35, {"StringEquals": {"AWS:SourceAccount": A}, "ArnLike": {"AWS:SourceArn": f"{MT}:us-east-1:{A}:apps/*"}}, request(account=None), False),
    (36, {"StringNotEquals": {"AWS:SourceAccount": A}}, request(account=None), True),
    (37, {"ForAllValues:StringEquals": {"aws:TagKeys": ["x"]}}, request(), True),
    (38, {"ForAnyValue:StringEquals": {"aws:TagKeys": ["x"]}}, request(), False),
    (39, {"Null": {"aws:SourceArn": "true"}}, request(None), True),
    # further operators
    ("39b", {"Null": {"aws:SourceArn": "true"}}, request(), False),
    ("39c", {"Null": {"aws:SourceArn": "false"}}, request(), True),
    ("s1", {"StringEqualsIgnoreCase": {"aws:SourceAccount": "123456789012"}}, request(), True),
    ("s2", {"StringEqualsIgnoreCase": {"aws:SourceArn": CAMPAIGN.upper()}}, request(), True),
    ("s3", {"StringEquals": {"aws:SourceArn": CAMPAIGN.upper()}}, request(), False),
    ("s4", {"StringLike": {"aws:SourceArn": f"{MT}:*/campaigns/d?f"}}, request(), True),
    ("s5", {"StringNotLike": {"aws:SourceArn": f"{MT}:*:journeys/*"}}, request(), True),
    ("s6", {"StringNotLike": {"aws:SourceArn": f"{MT}:*"}}, request(None), True),
    ("s7", {"StringNotEqualsIgnoreCase": {"aws:SourceAccount": B}}, request(), True),
    ("s8", {"StringEqualsIfExists": {"aws:SourceAccount": B}}, request(), False),
    ("s9", {"StringEqualsIfExists": {"aws:SourceAccount": B}}, request(account=None), True),
    ("b1", {"Bool": {"aws:SecureTransport": "true"}}, Request(PINPOINT, "lambda:InvokeFunction", FN, {"aws:SecureTransport": "true"}), True),
    ("b2", {"Bool": {"aws:SecureTransport": True}}, Request(PINPOINT, "lambda:InvokeFunction", FN, {"aws:SecureTransport": "false"}), False),
    ("b3", {"Bool": {"aws:SecureTransport": "true"}}, request(), False),
    ("n1", {"ArnNotEquals": {"aws:SourceArn": f"{MT}:us-east-1:{A}:apps/other/*"}}, request(), True),
    ("n2", {"arnlike": {"aws:sourcearn": f"{MT}:us-east-1:{A}:apps/*"}}, request(), True),
    ("u1", {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}, request(), False),
    ("u2", {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, request(), False),
    ("u3", {"ArnLike": "not-a-map"}, request(), False),
]


@pytest.mark.parametrize(("case", "condition", "req", "expected"), CONDITION_CASES, ids=[str(c[0]) for c in CONDITION_CASES])
def test_conditions(case, condition, req, expected):
    decision = evaluate(policy(statement(condition)), req)
    assert decision.allowed is expected, decision.reason


PRINCIPAL_CASES = [
    (40, {"Service": PINPOINT}, PINPOINT, "Service", True),
    (41, {"Service": "pinpoint.amazonaws.com"}, PINPOINT, "Service", True),
    ("41b", {"Service": "pinpoint.amazonaws.com"}, "pinpoint.eu-west-1.amazonaws.com", "Service", False),
    (42, {"Service": PINPOINT}, "pinpoint.eu-west-1.amazonaws.com", "Service", False),
    (43, {"Service": ["s3.amazonaws.com", PINPOINT]}, PINPOINT, "Service", True),
    ("43b", {"Service": "s3.amazonaws.com"}, PINPOINT, "Service", False),
    (44, "*", PINPOINT, "Service", True),
    (45, {"AWS": f"arn:aws:iam::{A}:root"}, f"arn:aws:iam::{A}:role/R", "AWS", True),
    ("45b", {"AWS": A}, f"arn:aws:iam::{A}:user/u", "AWS", True),
    ("45c", {"AWS": f"arn:aws:iam::{A}:root"}, f"arn:aws:iam::{B}:role/R", "AWS", False),
    ("45d", {"AWS": f"arn:aws:iam::{A}:role/R"}, f"arn:aws:sts::{A}:assumed-role/R/session", "AWS", True),
    ("45e", {"AWS": f"arn:aws:iam::{A}:role/R"}, f"arn:aws:iam::{A}:role/Other", "AWS", False),
    (46, {"Service": "pinpoint.*.amazonaws.com"}, PINPOINT, "Service", False),
    ("46b", {"AWS": "*"}, PINPOINT, "Service", True),
    ("46c", {"AWS": f"arn:aws:iam::{A}:root"}, PINPOINT, "Service", False),
]


@pytest.mark.parametrize(("case", "principal", "caller", "kind", "expected"), PRINCIPAL_CASES, ids=[str(c[0]) for c in PRINCIPAL_CASES])
def test_principals(case, principal, caller, kind, expected):
    decision = evaluate(policy(statement(Principal=principal)), request(principal=caller, principal_type=kind))
    assert decision.allowed is expected, decision.reason


ACTION_RESOURCE_CASES = [
    (47, {"Action": "lambda:*"}, request(), True),
    (48, {"Action": "LAMBDA:invokefunction"}, request(), True),
    (49, {"Action": "lambda:Invoke*"}, request(), True),
    (50, {"Action": "lambda:Get*"}, request(), False),
    ("50b", {"Action": ["lambda:GetPolicy", "lambda:InvokeFunction"]}, request(), True),
    ("50c", {"Action": "lambda:InvokeFunctio?"}, request(), True),
    ("50d", {"Action": "*"}, request(), True),
    (51, {"Action": None, "NotAction": "lambda:GetPolicy"}, request(), True),
    ("51b", {"Action": None, "NotAction": "lambda:Invoke*"}, request(), False),
    (52, {"Resource": FN}, request(), True),
    (54, {"Resource": FN + "*"}, request(resource=FN + ":prod"), True),
    ("54b", {"Resource": FN}, request(resource=FN + ":prod"), False),
    ("54c", {"Resource": "*"}, request(resource=FN + ":prod"), True),
    ("54d", {"Resource": f"arn:aws:lambda:us-east-1:{A}:function:g"}, request(), False),
    ("54e", {"Resource": None, "NotResource": f"arn:aws:lambda:us-east-1:{A}:function:g"}, request(), True),
    ("54f", {"Resource": f"arn:aws:lambda:*:{A}:function:f"}, request(), True),
]


@pytest.mark.parametrize(("case", "overrides", "req", "expected"), ACTION_RESOURCE_CASES, ids=[str(c[0]) for c in ACTION_RESOURCE_CASES])
def test_actions_and_resources(case, overrides, req, expected):
    stmt = statement()
    for key, value in overrides.items():
        if value is None:
            stmt.pop(key, None)
        else:
            stmt[key] = value
    decision = evaluate(policy(stmt), req)
    assert decision.allowed is expected, decision.reason


def test_55_explicit_deny_beats_allow():
    deny = statement(Sid="no", Effect="Deny")
    decision = evaluate(policy(statement(), deny), request())
    assert (decision.allowed, decision.effect, decision.statement) == (False, "Deny", "no")
    # order does not matter
    assert evaluate(policy(deny, statement()), request()).effect == "Deny"


def test_56_allow_whose_condition_fails_is_an_implicit_deny():
    decision = evaluate(policy(statement(arnlike(f"{MT}:us-east-1:{B}:apps/*"))), request())
    assert (decision.allowed, decision.effect) == (False, "ImplicitDeny")
    assert "Condition" in decision.reason


@pytest.mark.parametrize("document", [None, {}, policy()])
def test_57_no_policy_denies(document):
    decision = evaluate(document, request())
    assert (decision.allowed, decision.effect) == (False, "ImplicitDeny")


def test_unknown_operator_fails_closed_for_allow_and_deny():
    odd = {"IpAddressFuzzy": {"aws:SourceIp": "10.0.0.0/8"}}
    assert not evaluate(policy(statement(odd)), request()).allowed
    deny = statement(odd, Sid="d", Effect="Deny")
    assert evaluate(policy(statement(), deny), request()).effect == "Deny"


def test_deny_with_unmet_condition_does_not_deny():
    deny = statement(arnlike(f"{MT}:us-east-1:{B}:apps/*"), Sid="d", Effect="Deny")
    assert evaluate(policy(statement(), deny), request()).allowed


def test_statement_without_principal_never_applies():
    stmt = statement()
    del stmt["Principal"]
    assert not evaluate(policy(stmt), request()).allowed


def test_single_statement_object_and_the_seed_policy():
    # The seed document's example policy (its condition uses the older ":/apps/" spelling).
    seed = {
        "Sid": "sid",
        "Effect": "Allow",
        "Principal": {"Service": "pinpoint.us-east-1.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": FN,
        "Condition": {"ArnLike": {"AWS:SourceArn": f"{MT}:us-east-1:{A}:/apps/*/campaigns/*"}},
    }
    assert evaluate({"Statement": seed}, request(f"{MT}:us-east-1:{A}:/apps/abc/campaigns/def")).allowed


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("", "", True),
        ("*", "", True),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXbYY", False),
        ("?", "", False),
        ("*a", "bbbbba", True),
        ("a.c", "abc", False),
        ("a+", "aa", False),
        ("(x)", "(x)", True),
        ("*" * 30 + "b", "a" * 5000, False),  # no catastrophic backtracking
    ],
)
def test_glob(pattern, value, expected):
    assert glob_match(pattern, value) is expected


def test_arn_like_keeps_colons_in_the_resource_part():
    assert arn_like("arn:aws:lambda:*:*:function:f:*", "arn:aws:lambda:us-east-1:1:function:f:prod")
    assert not arn_like("arn:aws:lambda:*:*:function:f", "arn:aws:lambda:us-east-1:1:function:f:prod")


# --- identity policies: what a key may carry ---------------------------------------------

GOOD_STATEMENT = {
    "Sid": "Backend1",
    "Effect": "Allow",
    "Action": ["mobiletargeting:PutEvents", "mobiletargeting:UpdateEndpoint*"],
    "Resource": [f"{MT}:us-east-1:{A}:apps/abc", f"{MT}:us-east-1:{A}:apps/abc/*"],
    "Condition": {
        "IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]},
        "ForAnyValue:StringLikeIfExists": {"aws:username": "back*"},
        "NumericLessThan": {"aws:EpochTime": 1900000000},
        "Bool": {"aws:SecureTransport": True},
        "Null": {"aws:SourceIp": "false"},
    },
}


@pytest.mark.parametrize(
    "document",
    [
        {"Version": "2012-10-17", "Statement": GOOD_STATEMENT},
        {"Version": "2012-10-17", "Id": "backend", "Statement": [GOOD_STATEMENT]},
        {"Statement": [{"Effect": "Deny", "NotAction": "lambda:*", "NotResource": "*"}]},
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    ],
)
def test_identity_policies_a_key_may_carry(document):
    check_identity_policy(document)


def with_statement(**changes) -> dict:
    statement = {k: v for k, v in GOOD_STATEMENT.items() if k not in changes}
    statement.update({k: v for k, v in changes.items() if v is not None})
    return {"Version": "2012-10-17", "Statement": [statement]}


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ([GOOD_STATEMENT], "JSON object"),
        ({"Version": "2012-10-17"}, "Statement"),
        ({"Statement": []}, "Statement"),
        ({"Statement": "Allow"}, "Statement"),
        ({"Version": "2012-10-17", "Statement": [GOOD_STATEMENT], "Principal": "*"}, "'Principal'"),
        ({"Version": "2021-01-01", "Statement": [GOOD_STATEMENT]}, "Version"),
        ({"Statement": [GOOD_STATEMENT, "Allow"]}, "Statement[1]"),
        (with_statement(Principal={"AWS": "*"}), "Statement[0] has a Principal"),
        (with_statement(NotPrincipal={"AWS": "*"}), "Statement[0] has a NotPrincipal"),
        (with_statement(Effect="Permit"), "Statement[0].Effect"),
        (with_statement(Effect="allow"), "Statement[0].Effect"),
        (with_statement(Sid="has space"), "Statement[0].Sid"),
        (with_statement(Actions="mobiletargeting:*"), "'Actions'"),
        (with_statement(Action=None), "exactly one of Action and NotAction"),
        (with_statement(NotAction="lambda:*"), "exactly one of Action and NotAction"),
        (with_statement(Action="PutEvents"), "Statement[0].Action 'PutEvents'"),
        (with_statement(Action="mobiletargeting:Put Events"), "Statement[0].Action"),
        (with_statement(Action=[]), "Statement[0].Action"),
        (with_statement(Action=["mobiletargeting:PutEvents", 7]), "Statement[0].Action"),
        (with_statement(Resource=None), "exactly one of Resource and NotResource"),
        (with_statement(Resource="apps/abc"), "Statement[0].Resource 'apps/abc'"),
        (with_statement(Resource="arn:aws:mobiletargeting:us-east-1"), "Statement[0].Resource"),
        (with_statement(Condition={"IpAddressFuzzy": {"aws:SourceIp": "10.0.0.0/8"}}), "'IpAddressFuzzy'"),
        (with_statement(Condition={"ForAnyValue:Null": {"aws:SourceIp": "true"}}), "'ForAnyValue:Null'"),
        (with_statement(Condition={"StringEquals": "aws:username"}), "Statement[0].Condition.StringEquals"),
        (with_statement(Condition={"StringEquals": {"aws:username": {"a": 1}}}), "aws:username"),
        (with_statement(Condition=[]), "Statement[0].Condition"),
        ({"Statement": [GOOD_STATEMENT] * 40}, "at most 6144"),
    ],
)
def test_identity_policies_refused_name_the_element(document, named):
    with pytest.raises(InvalidInput) as caught:
        check_identity_policy(document)
    assert named in caught.value.message


OPERATOR_CASES = [
    ({"NumericLessThan": {"k": "10"}}, "9.5", True),
    ({"NumericLessThan": {"k": "10"}}, "10", False),
    ({"NumericGreaterThanEquals": {"k": 10}}, "10", True),
    ({"NumericNotEquals": {"k": "10"}}, "11", True),
    ({"NumericEquals": {"k": "ten"}}, "10", False),
    ({"DateLessThan": {"k": "2026-01-01T00:00:00Z"}}, "2025-12-31T23:59:59Z", True),
    ({"DateLessThan": {"k": "2026-01-01T00:00:00+01:00"}}, "2025-12-31T23:30:00Z", False),
    ({"DateEquals": {"k": "1767225600"}}, "2026-01-01T00:00:00Z", True),
    ({"DateNotEquals": {"k": "2026-01-01"}}, "2026-01-01T00:00:00Z", False),
    ({"IpAddress": {"k": "192.0.2.0/24"}}, "192.0.2.7", True),
    ({"IpAddress": {"k": "192.0.2.7"}}, "192.0.2.7", True),
    ({"IpAddress": {"k": "192.0.2.0/24"}}, "198.51.100.1", False),
    ({"IpAddress": {"k": "2001:db8::/32"}}, "2001:db8::1", True),
    ({"IpAddress": {"k": "192.0.2.0/24"}}, "not-an-ip", False),
    ({"NotIpAddress": {"k": "192.0.2.0/24"}}, "198.51.100.1", True),
]


@pytest.mark.parametrize(("condition", "value", "expected"), OPERATOR_CASES)
def test_numeric_date_and_address_operators(condition, value, expected):
    allowed = evaluate_identity(
        {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": condition}},
        "lambda:ListFunctions", "*", {"k": value},
    ).allowed
    assert allowed is expected
