"""What one activity of a campaign run sends, where, and the payload a channel receives.

Pure: no I/O. A campaign reaches a custom channel in one of Pinpoint's two forms:

- ``CustomDeliveryConfiguration`` {DeliveryUri, EndpointTypes} with a CustomMessage: the
  URI is a function name or ARN, or an https:// webhook; EndpointTypes default to CUSTOM;
- a ``Hook`` with Mode DELIVERY and LambdaFunctionName (the older mechanism the custom
  channels guide describes): the campaign's Hook, else the app's CampaignHook. It targets
  the channel types the campaign has a message for.

A Hook with Mode FILTER (the campaign's, else the app's) runs before delivery on every batch.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import orjson

from tidings.domain import iam
from tidings.domain.campaigns import is_function_reference

ALL_CHANNEL_TYPES = (
    "PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "SMS", "VOICE",
    "EMAIL", "BAIDU", "CUSTOM", "IN_APP",
)  # fmt: skip
PUSH_TYPES = ("PUSH", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "ADM", "BAIDU")
# The endpoint channel types a MessageConfiguration member is sent to.
MESSAGE_CHANNELS = {
    "ADMMessage": ("ADM",),
    "APNSMessage": ("APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX"),
    "BaiduMessage": ("BAIDU",),
    "GCMMessage": ("GCM",),
    "SMSMessage": ("SMS",),
    "EmailMessage": ("EMAIL",),
    "CustomMessage": ("CUSTOM",),
    "InAppMessage": ("IN_APP",),
    "DefaultMessage": PUSH_TYPES,
}
BATCH_SIZE = 50
IDEMPOTENCY_FIELD = "IdempotencyKey"


@dataclass(frozen=True)
class Channel:
    kind: str  # "function" or "webhook"
    target: str  # function name/ARN, or URL
    endpoint_types: frozenset[str]
    via: str  # which setting chose it, for messages: "CustomDeliveryConfiguration", "Hook", ...


@dataclass(frozen=True)
class Plan:
    """What one treatment sends: its message, its channel, its FILTER hook."""

    treatment_id: str
    message: dict  # MessageConfiguration
    channel: Channel | None
    filter_function: str | None
    problem: str | None = None  # why nothing can be sent, for people


def treatment_part(campaign: dict, treatment_id: str) -> dict:
    """The campaign, with a treatment's own members laid over it ("0" is the campaign's)."""
    if treatment_id == "0":
        return campaign
    for treatment in campaign.get("AdditionalTreatments") or []:
        if treatment["Id"] == treatment_id:
            return {**campaign, **{k: v for k, v in treatment.items() if k not in ("Id", "State")}}
    raise KeyError(treatment_id)


def treatment_ids(campaign: dict) -> list[str]:
    return ["0"] + [t["Id"] for t in campaign.get("AdditionalTreatments") or []]


def plan_for(campaign: dict, treatment_id: str, app_settings: dict) -> Plan:
    part = treatment_part(campaign, treatment_id)
    message = part.get("MessageConfiguration") or {}
    hook = campaign.get("Hook") or {}
    if not hook.get("LambdaFunctionName"):
        hook = app_settings.get("CampaignHook") or {}
    filter_function = hook.get("LambdaFunctionName") if hook.get("Mode") == "FILTER" else None
    channel: Channel | None = None
    custom = part.get("CustomDeliveryConfiguration")
    if custom:
        uri = custom["DeliveryUri"]
        kind = "function" if is_function_reference(uri) else "webhook"
        types = frozenset(custom.get("EndpointTypes") or ["CUSTOM"])
        channel = Channel(kind, uri, types, "CustomDeliveryConfiguration.DeliveryUri")
    elif hook.get("Mode") == "DELIVERY" and hook.get("LambdaFunctionName"):
        via = "Hook" if (campaign.get("Hook") or {}).get("LambdaFunctionName") else "the app's CampaignHook"
        channel = Channel("function", hook["LambdaFunctionName"], targeted_types(message), via)
    problem = None
    if channel is None:
        problem = (
            "the campaign has no custom channel: set CustomDeliveryConfiguration (a function or an "
            "https:// webhook) or a Hook with Mode DELIVERY; Tidings does not send through "
            "Pinpoint's standard channels (SMS, email, push)"
        )
    return Plan(treatment_id, message, channel, filter_function, problem)


def function_references(campaign: dict, app_settings: dict) -> list[tuple[str, str]]:
    """The functions a campaign's runs would invoke, as (the setting that names it, reference),
    each once: delivery channels of every treatment, then the FILTER hook."""
    found: dict[str, str] = {}
    # A write request's treatments have no ids yet: they are numbered as they will be stored.
    treatments = [{**t, "Id": str(i + 1)} for i, t in enumerate(campaign.get("AdditionalTreatments") or [])]
    campaign = {**campaign, "AdditionalTreatments": treatments}
    for treatment_id in treatment_ids(campaign):
        plan = plan_for(campaign, treatment_id, app_settings)
        if plan.channel is not None and plan.channel.kind == "function":
            found.setdefault(plan.channel.target, plan.channel.via)
        if plan.filter_function:
            found.setdefault(plan.filter_function, "Hook (FILTER)")
    return [(via, reference) for reference, via in found.items()]


def targeted_types(message: dict) -> frozenset[str]:
    """The endpoint channel types a message configuration reaches; all types when it has none."""
    types = {t for key in message if key in MESSAGE_CHANNELS for t in MESSAGE_CHANNELS[key]}
    return frozenset(types or ALL_CHANNEL_TYPES)


def lower_case_message(message: dict) -> dict:
    """The message as the custom channels guide's example function reads it:
    ``{"smsmessage": {"body": ...}}`` for ``{"SMSMessage": {"Body": ...}}``."""

    def lower(value: object) -> object:
        if isinstance(value, dict):
            return {k.lower(): lower(v) for k, v in value.items()}
        if isinstance(value, list):
            return [lower(v) for v in value]
        return value

    return lower(message)  # type: ignore[return-value]


def payload(
    *,
    message: dict,
    app_id: str,
    campaign_id: str,
    treatment_id: str,
    activity_id: str,
    scheduled_time: str,
    endpoints: dict[str, str | dict],
    idempotency_key: str,
) -> bytes:
    """The event a channel receives for one batch. Endpoints given as stored JSON text are
    spliced in unparsed; dicts (a FILTER hook's enriched endpoints) are encoded."""
    body: dict = {
        "MessageConfiguration": message,
        "Message": lower_case_message(message),
        "ApplicationId": app_id,
        "CampaignId": campaign_id,
        "TreatmentId": treatment_id,
        "ActivityId": activity_id,
        "ScheduledTime": scheduled_time,
        "Endpoints": {
            endpoint_id: orjson.Fragment(doc) if isinstance(doc, str) else doc
            for endpoint_id, doc in endpoints.items()
        },
        IDEMPOTENCY_FIELD: idempotency_key,
    }
    custom = message.get("CustomMessage")
    if custom is not None and "Data" in custom:
        body["Data"] = custom["Data"]
    return orjson.dumps(body)


def filter_result(answer: bytes, sent: set[str]) -> dict[str, dict]:
    """The endpoints a FILTER hook kept: its answer is an endpoint map (or an object whose
    ``Endpoints`` member is one). Endpoints it invented are ignored. Raises ValueError when
    the answer is not such a map."""
    try:
        decoded = orjson.loads(answer)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the FILTER function's answer is not JSON: {exc}") from None
    if isinstance(decoded, dict) and isinstance(decoded.get("Endpoints"), dict):
        decoded = decoded["Endpoints"]
    if not isinstance(decoded, dict) or not all(isinstance(v, dict) for v in decoded.values()):
        raise ValueError("the FILTER function must return a map of endpoint ids to endpoint definitions")
    return {endpoint_id: doc for endpoint_id, doc in decoded.items() if endpoint_id in sent}


def invoke_permission(policy: dict | None, *, function_arn: str, campaign_arn: str, region: str, account: str):
    """Whether a function's resource policy lets this campaign invoke it, as Pinpoint asks:
    principal pinpoint.<region>.amazonaws.com, SourceArn = the campaign (in both spellings
    of Pinpoint ARNs, ``apps/`` and the older ``:/apps/``), SourceAccount = the account.
    An explicit Deny for either spelling wins."""
    principal = f"pinpoint.{region}.amazonaws.com"
    old_spelling = campaign_arn.replace(":apps/", ":/apps/", 1)
    decisions = [
        iam.evaluate(
            policy,
            iam.Request(
                principal=principal,
                action="lambda:InvokeFunction",
                resource=function_arn,
                context={"AWS:SourceArn": source, "AWS:SourceAccount": account},
            ),
        )
        for source in (campaign_arn, old_spelling)
    ]
    denied = next((d for d in decisions if d.effect == "Deny"), None)
    return denied or next((d for d in decisions if d.allowed), decisions[0])


def permission_message(
    function_name: str, function_arn: str, campaign_arn: str, region: str, decision, *, endpoint_url: str
) -> str:
    """Why the campaign may not invoke the function, and the whole command that fixes it: with
    ``--endpoint-url`` (pasted without it, the AWS CLI would call AWS) and ``--region``."""
    why = "denies" if decision.effect == "Deny" else "has no statement allowing"
    old_spelling = campaign_arn.replace(":apps/", ":/apps/", 1)
    command = shlex.join(
        [
            "aws", "lambda", "add-permission",
            "--endpoint-url", endpoint_url,
            "--region", region,
            "--function-name", function_name,
            "--statement-id", "pinpoint-campaigns",
            "--action", "lambda:InvokeFunction",
            "--principal", f"pinpoint.{region}.amazonaws.com",
            "--source-arn", old_spelling,
        ]
    )  # fmt: skip
    return (
        f"function {function_name!r} ({function_arn}) resource policy {why} "
        f"pinpoint.{region}.amazonaws.com to call lambda:InvokeFunction for campaign {campaign_arn}; "
        f"nothing was sent. Grant it with: {command}"
    )
