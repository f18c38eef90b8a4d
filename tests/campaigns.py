"""Helpers for tests that run campaigns: recording functions, audiences, waiting for runs."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from tests.host_files import FUNCTION_HELPERS, host_files_url
from tests.zips import ROLE, zip_files

# Appends every event it receives to the host file $OUT as one JSON line. Fails (raises) while
# the host file $FAIL_FLAG exists, and FILTER-style keeps only endpoints whose id does not end
# in $DROP_SUFFIX. Host files through tests/host_files.py: the function runs sandboxed.
RECORDING_HANDLER = FUNCTION_HELPERS + '''
import json, os, time

HOST_FILES = os.environ["HOST_FILES_URL"]


def handler(event, context):
    if "FAIL_FLAG" in os.environ and host_exists(HOST_FILES, os.environ["FAIL_FLAG"]):
        raise RuntimeError("failing while the flag file exists")
    delay = float(os.environ.get("DELAY", "0"))
    if delay:
        time.sleep(delay)
    host_append(HOST_FILES, os.environ["OUT"], (json.dumps(event) + "\\n").encode())
    suffix = os.environ.get("DROP_SUFFIX")
    if suffix:
        kept = {}
        for endpoint_id, endpoint in event["Endpoints"].items():
            if endpoint_id.endswith(suffix):
                continue
            endpoint.setdefault("Attributes", {})["Enriched"] = ["yes"]
            kept[endpoint_id] = endpoint
        return kept
    return {"ok": True}
'''


def create_recording_function(lambda_client, name: str, out: Path, **env: str) -> str:
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zip_files({"index.py": RECORDING_HANDLER})},
        Timeout=10,
        Environment={"Variables": {"OUT": str(out), "HOST_FILES_URL": host_files_url(), **env}},
    )
    return name


def allow_pinpoint(lambda_client, name: str, source_arn: str = "arn:aws:mobiletargeting:us-east-1:000000000000:/apps/*/campaigns/*") -> None:
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="pinpoint",
        Action="lambda:InvokeFunction",
        Principal="pinpoint.us-east-1.amazonaws.com",
        SourceArn=source_arn,
    )


def recording_channel(lambda_client, folder: Path, prefix: str, *, concurrency: int | None = None, **env: str):
    """A recording function Pinpoint may invoke for any campaign: its name and its output file."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    out = folder / f"{name}.jsonl"
    create_recording_function(lambda_client, name, out, **env)
    if concurrency is not None:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=concurrency)
    allow_pinpoint(lambda_client, name)
    return name, out


def recorded(out: Path) -> list[dict]:
    """The events the recording function wrote; a line still being written is left out."""
    if not out.exists():
        return []
    *complete, _partial = out.read_text().split("\n")
    return [json.loads(line) for line in complete if line.strip()]


def add_endpoints(pinpoint, app_id: str, count: int, *, channel: str = "CUSTOM", prefix: str = "e", extra=None) -> list[str]:
    ids = [f"{prefix}{i:05d}" for i in range(count)]
    for start in range(0, count, 100):
        items = []
        for endpoint_id in ids[start : start + 100]:
            item = {"Id": endpoint_id, "ChannelType": channel, "Address": f"addr-{endpoint_id}"}
            if extra:
                item.update(extra(endpoint_id))
            items.append(item)
        pinpoint.update_endpoints_batch(ApplicationId=app_id, EndpointBatchRequest={"Item": items})
    return ids


def everyone_segment(pinpoint, app_id: str) -> str:
    segment = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={"Name": "everyone", "Dimensions": {"Demographic": {}}},
    )
    return segment["SegmentResponse"]["Id"]


def activities(pinpoint, app_id: str, campaign_id: str) -> list[dict]:
    answer = pinpoint.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign_id)
    return answer["ActivitiesResponse"]["Item"]


def wait_for_status(pinpoint, app_id: str, campaign_id: str, wanted=("COMPLETED",), timeout: float = 60) -> dict:
    """Wait until the campaign reaches one of ``wanted``; returns the campaign."""
    deadline = time.monotonic() + timeout
    while True:
        campaign = pinpoint.get_campaign(ApplicationId=app_id, CampaignId=campaign_id)["CampaignResponse"]
        if campaign["State"]["CampaignStatus"] in wanted:
            return campaign
        if time.monotonic() > deadline:
            raise AssertionError(
                f"campaign still {campaign['State']['CampaignStatus']} after {timeout}s; "
                f"activities: {activities(pinpoint, app_id, campaign_id)}"
            )
        time.sleep(0.1)


def run_custom_campaign(pinpoint, app_id: str, uri: str, data: str = "x") -> str:
    """Run a one-off campaign of everyone through the custom channel at ``uri`` (a function
    or a webhook) and wait until it completes; its id."""
    request = {
        "Name": "custom",
        "SegmentId": everyone_segment(pinpoint, app_id),
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "MessageConfiguration": {"CustomMessage": {"Data": data}},
        "CustomDeliveryConfiguration": {"DeliveryUri": uri},
    }
    campaign = pinpoint.create_campaign(ApplicationId=app_id, WriteCampaignRequest=request)["CampaignResponse"]
    wait_for_status(pinpoint, app_id, campaign["Id"])
    return campaign["Id"]


def stored_sends(rows: list[dict]) -> list[tuple]:
    """Per-endpoint outcomes (dicts with app_id, campaign_id, activity_id, endpoint_id,
    treatment_id, status, reason, batch_id, at, endpoint) as a run stores them: the
    successes of one batch in one record, every other outcome a record of its own."""
    from tidings.store import sends

    batches: dict[tuple, list[str]] = {}
    records = []
    for r in rows:
        if r["status"] == "SUCCESS":
            key = (r["app_id"], r["campaign_id"], r["activity_id"], r["treatment_id"], r["at"], r.get("batch_id"))
            batches.setdefault(key, []).append(r["endpoint_id"])
        else:
            records.append(
                sends.endpoint_record(
                    r["app_id"], r["campaign_id"], r["activity_id"], r["treatment_id"], r["status"], r["at"],
                    r["endpoint_id"], r["endpoint"], r.get("reason"), r.get("batch_id"),
                )  # fmt: skip
            )
    for (app_id, campaign_id, activity_id, treatment_id, at, batch_id), ids in batches.items():
        records.append(sends.batch_record(app_id, campaign_id, activity_id, treatment_id, "SUCCESS", at, batch_id, ids))
    return records
