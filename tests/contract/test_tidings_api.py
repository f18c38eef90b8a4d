"""Tidings' own service (`/tidings/v1/...`) through boto3, with the model the package ships."""

from __future__ import annotations

import base64

import pytest
from botocore.exceptions import ClientError

from tests.campaigns import (
    activities,
    add_endpoints,
    everyone_segment,
    recording_channel,
    run_custom_campaign,
)


@pytest.fixture
def tidings(server):
    return server.client("tidings")


def _error(caught: pytest.ExceptionInfo) -> tuple[int, str, str]:
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_send_records_come_in_pages_that_add_up_to_the_run(pinpoint, lambda_client, tidings, app_id, tmp_path):
    name, _ = recording_channel(lambda_client, tmp_path, "paged")
    ids = add_endpoints(pinpoint, app_id, 7)
    campaign = {"Id": run_custom_campaign(pinpoint, app_id, name)}
    [activity] = activities(pinpoint, app_id, campaign["Id"])

    pages = list(
        tidings.get_paginator("list_send_records").paginate(
            ApplicationId=app_id, CampaignId=campaign["Id"], PaginationConfig={"PageSize": 3}
        )
    )
    assert [len(page["Records"]) for page in pages] == [3, 3, 1]
    records = [record for page in pages for record in page["Records"]]
    assert sorted(r["client"]["client_id"] for r in records) == ids
    assert {r["attributes"]["campaign_activity_id"] for r in records} == {activity["Id"]}
    assert {r["event_type"] for r in records} == {"_campaign.send"}
    assert len(records) == activity["SuccessfulEndpointCount"]
    by_activity = tidings.list_send_records(ApplicationId=app_id, ActivityId=activity["Id"])["Records"]
    assert by_activity == records

    forged = base64.urlsafe_b64encode(b"[1, [2], null]").decode().rstrip("=")  # right width, wrong types
    for token in ("not-a-token", forged):
        with pytest.raises(ClientError) as caught:
            tidings.list_send_records(ApplicationId=app_id, NextToken=token)
        status, code, message = _error(caught)
        assert (status, code) == (400, "BadRequestException") and "NextToken" in message
    with pytest.raises(ClientError) as caught:
        tidings.list_send_records(ApplicationId=app_id, CampaignId="nope")
    assert _error(caught)[:2] == (404, "NotFoundException") and "'nope'" in _error(caught)[2]


def test_segment_preview_counts_and_shows_the_first_endpoints(pinpoint, tidings, app_id):
    ids = add_endpoints(pinpoint, app_id, 12)
    segment_id = everyone_segment(pinpoint, app_id)
    preview = tidings.get_segment_preview(ApplicationId=app_id, SegmentId=segment_id, EndpointCount=5)
    assert preview["Count"] == 12
    assert [e["Id"] for e in preview["Endpoints"]] == ids[:5]
    stored = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=ids[0])["EndpointResponse"]
    assert preview["Endpoints"][0]["Address"] == stored["Address"]
    assert tidings.get_segment_preview(ApplicationId=app_id, SegmentId=segment_id, Version=1)["Count"] == 12

    with pytest.raises(ClientError) as caught:
        tidings.get_segment_preview(ApplicationId=app_id, SegmentId=segment_id, Version=9)
    assert _error(caught)[:2] == (404, "NotFoundException")
    with pytest.raises(ClientError) as caught:
        tidings.get_segment_preview(ApplicationId="f" * 32, SegmentId=segment_id)
    assert _error(caught)[:2] == (404, "NotFoundException") and "f" * 32 in _error(caught)[2]


def test_webhook_secret_is_made_once_and_rotated_on_request(tidings, app_id):
    first = tidings.get_webhook_secret(ApplicationId=app_id)["Secret"]
    assert first.startswith("whsec_") and len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert tidings.get_webhook_secret(ApplicationId=app_id)["Secret"] == first
    rotated = tidings.rotate_webhook_secret(ApplicationId=app_id, OverlapSeconds=60)
    assert rotated["Secret"] != first and "PreviousSecretExpires" in rotated
    assert tidings.get_webhook_secret(ApplicationId=app_id)["Secret"] == rotated["Secret"]
    now = tidings.rotate_webhook_secret(ApplicationId=app_id, OverlapSeconds=0)
    assert "PreviousSecretExpires" not in now

