"""The IAM action and resource ARN each operation is authorized against.

The facts come from AWS's Service Authorization Reference ("Actions, resources, and condition
keys for Amazon Pinpoint" and "... for AWS Lambda"): each operation names the action it
needs and the resource type it acts on; each resource type has an ARN form whose parts are
filled from the request's params (the members of the operation's input shape in botocore's
model, such as ApplicationId or CampaignId). An operation missing from these tables has no
permission, so only the root key may call it (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.domain.arns import SERVICE as PINPOINT_PREFIX
from tidings.domain.arns import app_arn, parse_arn
from tidings.domain.functions import function_arn, parse_ref

LAMBDA_PREFIX = "lambda"
TIDINGS_PREFIX = "tidings"


@dataclass(frozen=True)
class Permission:
    action: str  # "mobiletargeting:PutEvents"
    resource: str  # the ARN acted on, or "*"


# Pinpoint resource types (the reference's names) -> the ARN's resource part, with input
# member names in braces. "apps/*" is literal: the reference's ARN for the set of all apps.
PINPOINT_RESOURCE_TYPES = {
    "apps": "apps/*",
    "app": "apps/{ApplicationId}",
    "application-metrics": "apps/{ApplicationId}/kpis/daterange/{KpiName}",
    "attribute": "apps/{ApplicationId}/attributes/{AttributeType}",
    "campaign": "apps/{ApplicationId}/campaigns/{CampaignId}",
    "campaign-metrics": "apps/{ApplicationId}/campaigns/{CampaignId}/kpis/daterange/{KpiName}",
    "endpoint": "apps/{ApplicationId}/endpoints/{EndpointId}",
    "event-stream": "apps/{ApplicationId}/eventstream",
    "events": "apps/{ApplicationId}/events",
    "export-job": "apps/{ApplicationId}/jobs/export/{JobId}",
    "import-job": "apps/{ApplicationId}/jobs/import/{JobId}",
    "segment": "apps/{ApplicationId}/segments/{SegmentId}",
    "user": "apps/{ApplicationId}/users/{UserId}",
    # Tagging operations act on the resource their ResourceArn names (an app, campaign,
    # segment, journey or template).
    "tagged": "{ResourceArn}",
}

# Pinpoint operation -> resource type. Every action is mobiletargeting:<operation>.
PINPOINT_OPERATIONS = {
    "CreateApp": "apps",
    "GetApps": "apps",
    "GetApp": "app",
    "DeleteApp": "app",
    "GetApplicationSettings": "app",
    "UpdateApplicationSettings": "app",
    "UpdateEndpoint": "endpoint",
    "UpdateEndpointsBatch": "app",
    "GetEndpoint": "endpoint",
    "DeleteEndpoint": "endpoint",
    "GetUserEndpoints": "user",
    "DeleteUserEndpoints": "user",
    "RemoveAttributes": "attribute",
    "CreateSegment": "app",
    "GetSegments": "app",
    "GetSegment": "segment",
    "UpdateSegment": "segment",
    "DeleteSegment": "segment",
    "GetSegmentVersions": "segment",
    "GetSegmentVersion": "segment",
    "CreateCampaign": "app",
    "GetCampaigns": "app",
    "GetCampaign": "campaign",
    "UpdateCampaign": "campaign",
    "DeleteCampaign": "campaign",
    "GetCampaignVersions": "campaign",
    "GetCampaignVersion": "campaign",
    "GetCampaignActivities": "campaign",
    "TagResource": "tagged",
    "UntagResource": "tagged",
    "ListTagsForResource": "tagged",
    "PutEvents": "events",
    "PutEventStream": "event-stream",
    "GetEventStream": "event-stream",
    "DeleteEventStream": "event-stream",
    "GetCampaignDateRangeKpi": "campaign-metrics",
    "GetApplicationDateRangeKpi": "application-metrics",
    "CreateImportJob": "app",
    "GetImportJobs": "app",
    "GetImportJob": "import-job",
    "GetSegmentImportJobs": "segment",
    "CreateExportJob": "app",
    "GetExportJobs": "app",
    "GetExportJob": "export-job",
    "GetSegmentExportJobs": "segment",
}

# Lambda operation -> action name, where the reference names it differently.
LAMBDA_ACTIONS = {"Invoke": "InvokeFunction"}
# Lambda operations Tidings serves: those acting on the function their FunctionName (and
# Qualifier) names, and those acting on no particular resource ("*").
LAMBDA_FUNCTION_OPERATIONS = frozenset(
    {
        "CreateFunction", "GetFunction", "GetFunctionConfiguration", "UpdateFunctionCode",
        "UpdateFunctionConfiguration", "DeleteFunction", "PutFunctionConcurrency",
        "GetFunctionConcurrency", "DeleteFunctionConcurrency", "Invoke", "AddPermission",
        "RemovePermission", "GetPolicy",
    }
)  # fmt: skip
LAMBDA_ACCOUNT_OPERATIONS = frozenset({"ListFunctions"})


def required_permission(
    service: str, operation: str, params: dict[str, Any], *, region: str, account: str
) -> Permission | None:
    """The permission ``operation`` needs with these params; None when it is not mapped."""
    if service == "Pinpoint":
        resource_type = PINPOINT_OPERATIONS.get(operation)
        if resource_type is None:
            return None
        return Permission(
            f"{PINPOINT_PREFIX}:{operation}", _pinpoint_resource(resource_type, params, region, account)
        )
    if service == "Lambda":
        action = f"{LAMBDA_PREFIX}:{LAMBDA_ACTIONS.get(operation, operation)}"
        if operation in LAMBDA_ACCOUNT_OPERATIONS:
            return Permission(action, "*")
        if operation in LAMBDA_FUNCTION_OPERATIONS:
            ref = parse_ref(params["FunctionName"], region, account, params.get("Qualifier"))
            return Permission(action, function_arn(region, account, ref.name, ref.qualifier))
        return None
    if service == "Tidings":
        # Tidings' own routes: one action per operation, on the app it names if any.
        application = params.get("ApplicationId")
        resource = app_arn(region, account, application) if application else "*"
        return Permission(f"{TIDINGS_PREFIX}:{operation}", resource)
    return None


def _pinpoint_resource(resource_type: str, params: dict[str, Any], region: str, account: str) -> str:
    if resource_type == "tagged":
        # The older ":/apps/..." spelling names the same resource.
        return parse_arn(params["ResourceArn"], "ResourceArn").canonical()
    path = PINPOINT_RESOURCE_TYPES[resource_type].format_map(params)
    return f"arn:aws:{PINPOINT_PREFIX}:{region}:{account}:{path}"
