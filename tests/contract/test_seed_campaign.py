"""The seed document's whole workflow, end to end with the AWS CLI: its example function
delivers a campaign to (a local stand-in for) Facebook Messenger, unchanged."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from tests.campaigns import recording_channel, wait_for_status
from tidings.functions.code import zip_directory

from .test_seed_function import ACCOUNT, SEED_FUNCTION

WITH_PSID = 120
WITHOUT_PSID = 30


def _endpoint_items(start: int, count: int, *, psid: bool) -> list[dict]:
    items = []
    for n in range(start, start + count):
        user: dict = {"UserId": f"user-{n}"}
        if psid:
            user["UserAttributes"] = {"facebookMessengerPsid": [f"{1667566386619741 + n}"]}
        items.append({"Id": f"ep-{n:04d}", "ChannelType": "SMS", "Address": f"+1555{n:07d}", "User": user})
    return items


def test_seed_workflow_delivers_a_campaign_through_messenger(server, tmp_path, messenger_stub, webhook_receiver):
    aws = server.aws
    name = f"fb-messenger-{uuid.uuid4().hex[:6]}"
    package = tmp_path / "function.zip"
    package.write_bytes(zip_directory(SEED_FUNCTION))
    environment = json.dumps({"Variables": messenger_stub.function_environment()})
    aws(
        "lambda", "create-function",
        "--function-name", name,
        "--runtime", "nodejs20.x",
        "--handler", "index.handler",
        "--role", f"arn:aws:iam::{ACCOUNT}:role/pinpoint-custom-channel",
        "--timeout", "20",
        "--environment", environment,
        "--zip-file", f"fileb://{package}",
    )  # fmt: skip

    app_id = aws("pinpoint", "create-app", "--create-application-request", "Name=messenger").json[
        "ApplicationResponse"
    ]["Id"]
    items = _endpoint_items(0, WITH_PSID, psid=True) + _endpoint_items(WITH_PSID, WITHOUT_PSID, psid=False)
    for start in range(0, len(items), 100):
        batch = json.dumps({"Item": items[start : start + 100]})
        aws("pinpoint", "update-endpoints-batch", "--application-id", app_id, "--endpoint-batch-request", batch)
    segment = json.dumps({"Name": "messenger users", "Dimensions": {"Demographic": {}}})
    segment_id = aws("pinpoint", "create-segment", "--application-id", app_id, "--write-segment-request", segment).json[
        "SegmentResponse"
    ]["Id"]

    # Scheduled a little ahead, so the permission can name the campaign before it runs.
    start = (datetime.now(UTC) + timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    campaign_request = json.dumps(
        {
            "Name": "messenger campaign",
            "SegmentId": segment_id,
            "Schedule": {"StartTime": start, "Frequency": "ONCE"},
            "MessageConfiguration": {"SMSMessage": {"Body": "This message should be intercepted by a campaign hook."}},
            "Hook": {"LambdaFunctionName": name, "Mode": "DELIVERY"},
        }
    )
    aws("pinpoint", "create-campaign", "--application-id", app_id, "--write-campaign-request", campaign_request)
    [campaign] = aws("pinpoint", "get-campaigns", "--application-id", app_id).json["CampaignsResponse"]["Item"]
    campaign_id = campaign["Id"]
    aws(
        "lambda", "add-permission",
        "--function-name", name,
        "--statement-id", "sid",
        "--action", "lambda:InvokeFunction",
        "--principal", "pinpoint.us-east-1.amazonaws.com",
        "--source-arn", f"arn:aws:mobiletargeting:us-east-1:{ACCOUNT}:/apps/{app_id}/campaigns/{campaign_id}",
    )  # fmt: skip

    wait_for_status(server.client("pinpoint"), app_id, campaign_id, timeout=120)

    # Every endpoint with a Messenger id got the message, once; the others got nothing.
    delivered = messenger_stub.delivered
    assert sorted(m.recipient_id for m in delivered) == sorted(
        str(1667566386619741 + n) for n in range(WITH_PSID)
    )
    assert {m.text for m in delivered} == {"This message should be intercepted by a campaign hook."}
    assert {m.access_token for m in delivered} == {"EAF...DZD"}

    [activity] = aws("pinpoint", "get-campaign-activities", "--application-id", app_id, "--campaign-id", campaign_id).json[
        "ActivitiesResponse"
    ]["Item"]
    assert activity["State"] == "COMPLETED" and activity["Result"] == "SUCCESS"
    assert activity["TotalEndpointCount"] == WITH_PSID + WITHOUT_PSID == activity["SuccessfulEndpointCount"]
    assert activity["TreatmentId"] == "0"
    assert activity["ScheduledStart"] == start

    # The function was called with at most 50 endpoints per invocation.
    log = (server.log_path.parent / "data" / "logs" / f"{name}.log").read_text()
    assert log.count("START RequestId:") == 3  # 150 endpoints -> 50 + 50 + 50

    # `_campaign.send` events, one per endpoint, in the event-stream record format.
    done = server.tidings("events", "sends", app_id, "--campaign", campaign_id, "--database-url", server.database_url)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == WITH_PSID + WITHOUT_PSID
    assert {r["event_type"] for r in records} == {"_campaign.send"}
    assert {r["attributes"]["campaign_send_status"] for r in records} == {"SUCCESS"}
    assert {r["attributes"]["delivery_type"] for r in records} == {"CUSTOM"}
    assert {r["attributes"]["campaign_activity_id"] for r in records} == {activity["Id"]}

    # KPIs count the deliveries.
    today = datetime.now(UTC).date()
    kpi = aws(
        "pinpoint", "get-campaign-date-range-kpi",
        "--application-id", app_id, "--campaign-id", campaign_id,
        "--kpi-name", "unique-deliveries",
        "--start-time", (today - timedelta(days=1)).isoformat(), "--end-time", (today + timedelta(days=1)).isoformat(),
    ).json["CampaignDateRangeKpiResponse"]  # fmt: skip
    [row] = kpi["KpiResult"]["Rows"]
    assert float(row["Values"][0]["Value"]) == WITH_PSID + WITHOUT_PSID

    # The same audience through a webhook, then through a FILTER hook followed by the webhook.
    everyone = sorted(item["Id"] for item in items)
    secret = server.tidings("webhooks", "secret", app_id, "--database-url", server.database_url).stdout.strip()
    webhook_receiver.secret = secret
    custom = {
        "MessageConfiguration": {"CustomMessage": {"Data": "Hello from Tidings"}},
        "CustomDeliveryConfiguration": {"DeliveryUri": webhook_receiver.url, "EndpointTypes": ["SMS"]},
    }
    webhook_campaign = _run_campaign(server, app_id, segment_id, custom)
    posts = [p for p in webhook_receiver.posts if p.json["CampaignId"] == webhook_campaign]
    assert all(webhook_receiver.verified(p) for p in posts)
    assert sorted(i for p in posts for i in p.json["Endpoints"]) == everyone

    filter_name, _ = recording_channel(server.client("lambda"), tmp_path, "keep", DROP_SUFFIX="7")
    filtered_campaign = _run_campaign(
        server, app_id, segment_id, {**custom, "Hook": {"LambdaFunctionName": filter_name, "Mode": "FILTER"}}
    )
    posts = [p for p in webhook_receiver.posts if p.json["CampaignId"] == filtered_campaign]
    assert all(webhook_receiver.verified(p) for p in posts)
    assert sorted(i for p in posts for i in p.json["Endpoints"]) == [i for i in everyone if not i.endswith("7")]


def _run_campaign(server, app_id: str, segment_id: str, members: dict) -> str:
    request = {"Name": "again", "SegmentId": segment_id, "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}}
    created = server.aws(
        "pinpoint", "create-campaign", "--application-id", app_id,
        "--write-campaign-request", json.dumps({**request, **members}),
    ).json["CampaignResponse"]  # fmt: skip
    wait_for_status(server.client("pinpoint"), app_id, created["Id"], timeout=120)
    return created["Id"]
