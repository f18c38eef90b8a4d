"""Least privilege per key: the action and resource of each operation, and identity policies.

The expected actions and ARNs are the Service Authorization Reference's ("Actions, resources,
and condition keys for Amazon Pinpoint" / "... for AWS Lambda"), written out by hand here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tidings.api.lambda_api import HANDLERS as LAMBDA_HANDLERS
from tidings.api.pinpoint import HANDLERS as PINPOINT_HANDLERS
from tidings.auth.actions import PINPOINT_OPERATIONS, PINPOINT_RESOURCE_TYPES, required_permission
from tidings.auth.authorize import authorize
from tidings.auth.identity import Identity
from tidings.domain.errors import Forbidden
from tidings.wire.model import load_service_model

R, A = "us-east-1", "123456789012"
MT = f"arn:aws:mobiletargeting:{R}:{A}"
FN = f"arn:aws:lambda:{R}:{A}:function"
USER = f"arn:aws:iam::{A}:user/backend"
MODELS = {
    "Pinpoint": (load_service_model("pinpoint", "2016-12-01"), PINPOINT_HANDLERS),
    "Lambda": (load_service_model("lambda", "2015-03-31"), LAMBDA_HANDLERS),
}


def sample_params(service: str, operation: str) -> dict:
    """A value for every required member of the operation's input, as the wire would pass it."""
    model, _ = MODELS[service]
    shape = model.operation_model(operation).input_shape
    params = {name: f"x{name}" for name in (shape.required_members if shape else [])}
    if "ResourceArn" in params:
        params["ResourceArn"] = f"{MT}:apps/a1"
    if "FunctionName" in params:
        params["FunctionName"] = "f1"
    return params


HANDLED = [(service, op) for service, (_, handlers) in MODELS.items() for op in handlers]


@pytest.mark.parametrize(("service", "operation"), HANDLED, ids=[f"{s}.{o}" for s, o in HANDLED])
def test_every_operation_tidings_serves_has_an_action_and_a_resource(service, operation):
    permission = required_permission(service, operation, sample_params(service, operation), region=R, account=A)
    assert permission is not None, f"{service} {operation} has a handler but no IAM action: map it in auth/actions.py"
    prefix = {"Pinpoint": "mobiletargeting", "Lambda": "lambda"}[service]
    assert re.fullmatch(rf"{prefix}:[A-Za-z]+", permission.action)
    assert permission.resource == "*" or permission.resource.startswith(f"arn:aws:{prefix}:{R}:{A}:")


@pytest.mark.parametrize("operation", sorted(PINPOINT_OPERATIONS))
def test_resource_parts_are_members_the_model_requires(operation):
    """Each {Member} of an operation's ARN form is a required member of its botocore input."""
    model, _ = MODELS["Pinpoint"]
    shape = model.operation_model(operation).input_shape
    wanted = set(re.findall(r"\{(\w+)\}", PINPOINT_RESOURCE_TYPES[PINPOINT_OPERATIONS[operation]]))
    assert wanted <= set(shape.required_members if shape else [])


# (service, operation, params, action, resource): facts from the reference
REFERENCE = [
    ("Pinpoint", "CreateApp", {}, "mobiletargeting:CreateApp", f"{MT}:apps/*"),
    ("Pinpoint", "GetApps", {}, "mobiletargeting:GetApps", f"{MT}:apps/*"),
    ("Pinpoint", "GetApp", {"ApplicationId": "a1"}, "mobiletargeting:GetApp", f"{MT}:apps/a1"),
    ("Pinpoint", "PutEvents", {"ApplicationId": "a1"}, "mobiletargeting:PutEvents", f"{MT}:apps/a1/events"),
    ("Pinpoint", "UpdateEndpoint", {"ApplicationId": "a1", "EndpointId": "e1"}, "mobiletargeting:UpdateEndpoint", f"{MT}:apps/a1/endpoints/e1"),
    ("Pinpoint", "UpdateEndpointsBatch", {"ApplicationId": "a1"}, "mobiletargeting:UpdateEndpointsBatch", f"{MT}:apps/a1"),
    ("Pinpoint", "GetUserEndpoints", {"ApplicationId": "a1", "UserId": "u1"}, "mobiletargeting:GetUserEndpoints", f"{MT}:apps/a1/users/u1"),
    ("Pinpoint", "RemoveAttributes", {"ApplicationId": "a1", "AttributeType": "endpoint-custom-attributes"}, "mobiletargeting:RemoveAttributes", f"{MT}:apps/a1/attributes/endpoint-custom-attributes"),
    ("Pinpoint", "GetCampaigns", {"ApplicationId": "a1"}, "mobiletargeting:GetCampaigns", f"{MT}:apps/a1"),
    ("Pinpoint", "GetCampaignVersions", {"ApplicationId": "a1", "CampaignId": "c1"}, "mobiletargeting:GetCampaignVersions", f"{MT}:apps/a1/campaigns/c1"),
    ("Pinpoint", "GetCampaignActivities", {"ApplicationId": "a1", "CampaignId": "c1"}, "mobiletargeting:GetCampaignActivities", f"{MT}:apps/a1/campaigns/c1"),
    ("Pinpoint", "GetCampaignDateRangeKpi", {"ApplicationId": "a1", "CampaignId": "c1", "KpiName": "unique-deliveries"}, "mobiletargeting:GetCampaignDateRangeKpi", f"{MT}:apps/a1/campaigns/c1/kpis/daterange/unique-deliveries"),
    ("Pinpoint", "GetApplicationDateRangeKpi", {"ApplicationId": "a1", "KpiName": "email-open-rate"}, "mobiletargeting:GetApplicationDateRangeKpi", f"{MT}:apps/a1/kpis/daterange/email-open-rate"),
    ("Pinpoint", "GetSegmentVersion", {"ApplicationId": "a1", "SegmentId": "s1", "Version": "2"}, "mobiletargeting:GetSegmentVersion", f"{MT}:apps/a1/segments/s1"),
    ("Pinpoint", "GetSegmentImportJobs", {"ApplicationId": "a1", "SegmentId": "s1"}, "mobiletargeting:GetSegmentImportJobs", f"{MT}:apps/a1/segments/s1"),
    ("Pinpoint", "GetImportJob", {"ApplicationId": "a1", "JobId": "j1"}, "mobiletargeting:GetImportJob", f"{MT}:apps/a1/jobs/import/j1"),
    ("Pinpoint", "GetExportJob", {"ApplicationId": "a1", "JobId": "j1"}, "mobiletargeting:GetExportJob", f"{MT}:apps/a1/jobs/export/j1"),
    ("Pinpoint", "CreateExportJob", {"ApplicationId": "a1"}, "mobiletargeting:CreateExportJob", f"{MT}:apps/a1"),
    ("Pinpoint", "GetEventStream", {"ApplicationId": "a1"}, "mobiletargeting:GetEventStream", f"{MT}:apps/a1/eventstream"),
    ("Pinpoint", "TagResource", {"ResourceArn": f"{MT}:apps/a1/campaigns/c1"}, "mobiletargeting:TagResource", f"{MT}:apps/a1/campaigns/c1"),
    ("Pinpoint", "ListTagsForResource", {"ResourceArn": f"{MT}:/apps/a1"}, "mobiletargeting:ListTagsForResource", f"{MT}:apps/a1"),
    ("Lambda", "Invoke", {"FunctionName": "f1"}, "lambda:InvokeFunction", f"{FN}:f1"),
    ("Lambda", "Invoke", {"FunctionName": "f1", "Qualifier": "$LATEST"}, "lambda:InvokeFunction", f"{FN}:f1:$LATEST"),
    ("Lambda", "Invoke", {"FunctionName": f"{FN}:f1:prod"}, "lambda:InvokeFunction", f"{FN}:f1:prod"),
    ("Lambda", "GetPolicy", {"FunctionName": f"{A}:function:f1"}, "lambda:GetPolicy", f"{FN}:f1"),
    ("Lambda", "CreateFunction", {"FunctionName": "f2"}, "lambda:CreateFunction", f"{FN}:f2"),
    ("Lambda", "ListFunctions", {}, "lambda:ListFunctions", "*"),
    ("Lambda", "PutFunctionConcurrency", {"FunctionName": "f1"}, "lambda:PutFunctionConcurrency", f"{FN}:f1"),
    ("Tidings", "RunCampaign", {"ApplicationId": "a1"}, "tidings:RunCampaign", f"{MT}:apps/a1"),
    ("Tidings", "ListKeys", {}, "tidings:ListKeys", "*"),
]


@pytest.mark.parametrize(("service", "operation", "params", "action", "resource"), REFERENCE)
def test_action_and_resource_as_the_reference_gives_them(service, operation, params, action, resource):
    permission = required_permission(service, operation, params, region=R, account=A)
    assert (permission.action, permission.resource) == (action, resource)


# --- identity policies, evaluated through authorize() ------------------------------------


def key(*statements, name="backend") -> Identity:
    return Identity("AKIDSCOPED", name, False, {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def call(identity, operation, service="Pinpoint", **params):
    context = params.pop("_ctx", {})  # now, source_ip, secure_transport
    authorize(identity, service, operation, params, region=R, account=A, **context)


def refused(identity, operation, service="Pinpoint", **params) -> str:
    with pytest.raises(Forbidden) as caught:
        call(identity, operation, service, **params)
    assert caught.value.code == "AccessDeniedException"
    return caught.value.message


# The example: a backend key that may only record events and endpoints in one app.
BACKEND = key(
    allow(
        ["mobiletargeting:PutEvents", "mobiletargeting:UpdateEndpoint", "mobiletargeting:UpdateEndpointsBatch"],
        [f"{MT}:apps/a1", f"{MT}:apps/a1/*"],
    )
)


def test_backend_key_may_record_events_and_endpoints_in_its_app():
    call(BACKEND, "PutEvents", ApplicationId="a1")
    call(BACKEND, "UpdateEndpoint", ApplicationId="a1", EndpointId="e1")
    call(BACKEND, "UpdateEndpointsBatch", ApplicationId="a1")


def test_backend_key_is_refused_elsewhere_in_aws_words():
    assert refused(BACKEND, "PutEvents", ApplicationId="a2") == (
        f"User: {USER} is not authorized to perform: mobiletargeting:PutEvents on resource: "
        f"{MT}:apps/a2/events because no identity-based policy allows the mobiletargeting:PutEvents action"
    )
    assert refused(BACKEND, "GetEndpoint", ApplicationId="a1", EndpointId="e1") == (
        f"User: {USER} is not authorized to perform: mobiletargeting:GetEndpoint on resource: "
        f"{MT}:apps/a1/endpoints/e1 because no identity-based policy allows the mobiletargeting:GetEndpoint action"
    )
    refused(BACKEND, "GetApps")
    refused(BACKEND, "Invoke", "Lambda", FunctionName="f1")


def test_wildcard_actions_match_case_insensitively():
    reader = key(allow("MobileTargeting:get*"))
    call(reader, "GetCampaign", ApplicationId="a1", CampaignId="c1")
    call(reader, "GetApps")
    refused(reader, "UpdateCampaign", ApplicationId="a1", CampaignId="c1")
    refused(reader, "GetFunction", "Lambda", FunctionName="f1")


def test_not_action_allows_everything_else():
    no_lambda = key({"Effect": "Allow", "NotAction": "lambda:*", "Resource": "*"})
    call(no_lambda, "DeleteApp", ApplicationId="a1")
    refused(no_lambda, "ListFunctions", "Lambda")


def test_explicit_deny_wins_over_allow():
    careful = key(allow("mobiletargeting:*"), deny("mobiletargeting:Delete*", f"{MT}:apps/a1*"))
    call(careful, "DeleteApp", ApplicationId="a2")
    assert refused(careful, "DeleteCampaign", ApplicationId="a1", CampaignId="c1") == (
        f"User: {USER} is not authorized to perform: mobiletargeting:DeleteCampaign on resource: "
        f"{MT}:apps/a1/campaigns/c1 with an explicit deny in an identity-based policy"
    )


def test_app_wide_resource_glob_covers_its_campaigns_segments_and_events():
    one_app = key(allow("mobiletargeting:*", f"{MT}:apps/a1*"))
    call(one_app, "GetCampaign", ApplicationId="a1", CampaignId="c1")
    call(one_app, "GetSegment", ApplicationId="a1", SegmentId="s1")
    call(one_app, "PutEvents", ApplicationId="a1")
    call(one_app, "GetApp", ApplicationId="a1")
    refused(one_app, "GetCampaign", ApplicationId="b1", CampaignId="c1")
    refused(one_app, "GetApps")  # apps/* is not under apps/a1
    # IAM globs are plain text: apps/a1* also covers an app whose id starts with a1, and
    # apps/a1/* does not cover the app itself.
    call(one_app, "GetApp", ApplicationId="a1b")
    refused(key(allow("mobiletargeting:*", f"{MT}:apps/a1/*")), "GetApp", ApplicationId="a1")


def test_older_apps_spelling_in_a_policy_names_the_same_resources():
    old = key(allow("mobiletargeting:GetCampaign", f"{MT}:/apps/a1/campaigns/*"))
    call(old, "GetCampaign", ApplicationId="a1", CampaignId="c1")


def test_not_resource_and_qualified_functions():
    invoker = key(allow("lambda:InvokeFunction", f"{FN}:f1"))
    call(invoker, "Invoke", "Lambda", FunctionName="f1")
    # A qualified invocation acts on the qualified ARN, which the unqualified one does not cover.
    assert f"on resource: {FN}:f1:$LATEST " in refused(invoker, "Invoke", "Lambda", FunctionName="f1", Qualifier="$LATEST")
    refused(invoker, "CreateFunction", "Lambda", FunctionName="f2")
    everything_but_f1 = key({"Effect": "Allow", "Action": "lambda:*", "NotResource": f"{FN}:f1*"})
    call(everything_but_f1, "GetFunction", "Lambda", FunctionName="f2")
    refused(everything_but_f1, "GetFunction", "Lambda", FunctionName="f1")
    assert "on resource: * " in refused(invoker, "ListFunctions", "Lambda")


NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("condition", "context", "allowed"),
    [
        ({"StringEquals": {"aws:RequestedRegion": R}}, {}, True),
        ({"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}, {}, False),
        ({"StringEquals": {"aws:username": "backend"}}, {}, True),
        ({"StringEquals": {"aws:PrincipalAccount": A}}, {}, True),
        ({"ArnEquals": {"aws:PrincipalArn": USER}}, {}, True),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"source_ip": "10.1.2.3"}, True),
        ({"IpAddress": {"aws:SourceIp": ["192.168.0.0/16", "10.0.0.0/8"]}}, {"source_ip": "172.16.0.1"}, False),
        ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {}, False),  # no value: no match
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}, {"source_ip": "127.0.0.1"}, True),
        ({"IpAddress": {"aws:SourceIp": "::1/128"}}, {"source_ip": "::1"}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"secure_transport": True}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"secure_transport": False}, False),
        ({"Bool": {"aws:SecureTransport": "true"}}, {}, False),
        ({"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}, {}, True),
        ({"DateGreaterThan": {"aws:CurrentTime": "2026-12-04T12:00:01Z"}}, {}, False),
        ({"DateGreaterThanEquals": {"aws:CurrentTime": "2026-12-04T12:00:00Z"}}, {}, True),
        ({"NumericLessThan": {"aws:EpochTime": "1796385600"}}, {}, False),  # 1796385600 = NOW
        ({"NumericLessThanEquals": {"aws:EpochTime": 1796385600}}, {}, True),
        ({"DateLessThan": {"aws:EpochTime": "1796385601"}}, {}, True),
        ({"StringEquals": {"aws:SourceVpc": "vpc-1"}}, {}, False),  # a key Tidings never fills
        ({"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}}, {}, True),
    ],
)
def test_conditions_on_the_keys_tidings_fills(condition, context, allowed):
    identity = key(allow("mobiletargeting:GetApps", Condition=condition))
    params = {"_ctx": {"now": NOW, **context}}
    if allowed:
        call(identity, "GetApps", **params)
    else:
        refused(identity, "GetApps", **params)


def test_root_may_do_everything_and_a_key_without_policy_nothing():
    call(Identity("AKIDROOT", "root", True, None), "DeleteApp", ApplicationId="a1")
    call(Identity("AKIDROOT", "root", True, None), "SomethingNew", "Lambda")
    refused(Identity("AKIDNONE", "backend", False, None), "GetApps")


def test_operations_without_a_mapping_are_refused_to_scoped_keys():
    everything = key(allow("*"))
    call(everything, "GetApps")
    message = refused(everything, "GetJourney", ApplicationId="a1", JourneyId="j1")
    assert "Pinpoint GetJourney" in message and "only the root key" in message
    refused(everything, "ListAliases", "Lambda", FunctionName="f1")
