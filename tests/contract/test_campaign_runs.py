"""Campaign runs through custom channels, observed as a Pinpoint user would: activities,
campaign states, what the function or webhook received."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.campaigns import (
    activities,
    add_endpoints,
    allow_pinpoint,
    create_recording_function,
    everyone_segment,
    recorded,
    recording_channel,
    wait_for_status,
)
from tests.services import read_store
from tests.webhooks import webhook_secret
from tidings.store import schema


def _campaign(pinpoint, app_id: str, segment_id: str, **members) -> dict:
    request = {
        "Name": "run",
        "SegmentId": segment_id,
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        **members,
    }
    return pinpoint.create_campaign(ApplicationId=app_id, WriteCampaignRequest=request)["CampaignResponse"]


def _custom(uri: str, data: str = "hello", types=None) -> dict:
    config = {"DeliveryUri": uri}
    if types:
        config["EndpointTypes"] = types
    return {
        "MessageConfiguration": {"CustomMessage": {"Data": data}},
        "CustomDeliveryConfiguration": config,
    }


def test_function_channel_receives_every_eligible_endpoint_in_batches_of_50(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "deliver")
    ids = add_endpoints(pinpoint, app_id, 120)
    add_endpoints(pinpoint, app_id, 3, channel="EMAIL", prefix="mail")  # not a targeted type
    opted_out = add_endpoints(pinpoint, app_id, 2, prefix="out", extra=lambda i: {"OptOut": "ALL"})
    segment_id = everyone_segment(pinpoint, app_id)

    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(name, data="payload-data"))
    done = wait_for_status(pinpoint, app_id, campaign["Id"])

    events = recorded(out)
    assert all(len(e["Endpoints"]) <= 50 for e in events)
    delivered = [i for e in events for i in e["Endpoints"]]
    assert sorted(delivered) == ids  # each exactly once; no EMAIL, no opted-out endpoints
    assert not set(delivered) & set(opted_out)
    first = events[0]
    assert first["ApplicationId"] == app_id and first["CampaignId"] == campaign["Id"]
    assert first["TreatmentId"] == "0"
    assert first["Data"] == "payload-data"
    assert first["MessageConfiguration"] == {"CustomMessage": {"Data": "payload-data"}}
    assert first["Message"] == {"custommessage": {"data": "payload-data"}}
    endpoint = first["Endpoints"][next(iter(first["Endpoints"]))]
    assert endpoint["ChannelType"] == "CUSTOM" and endpoint["EndpointStatus"] == "ACTIVE"
    assert len({e["IdempotencyKey"] for e in events}) == len(events)

    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["State"] == "COMPLETED" and activity["Result"] == "SUCCESS"
    assert activity["TotalEndpointCount"] == 120 and activity["SuccessfulEndpointCount"] == 120
    assert activity["Id"] == first["ActivityId"]
    assert activity["ScheduledStart"] == first["ScheduledTime"]
    assert activity["ExecutionMetrics"]["ENDPOINT_OPT_OUT"] == "2"
    assert activity["ExecutionMetrics"]["ENDPOINT_CHANNEL_MISMATCH"] == "3"
    assert done["State"]["CampaignStatus"] == "COMPLETED"


def _soon(seconds: float = 2) -> dict:
    start = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
    return {"Schedule": {"StartTime": start, "Frequency": "ONCE"}}


def test_missing_permission_at_run_time_makes_the_campaign_invalid_and_invokes_nothing(
    pinpoint, lambda_client, app_id, tmp_path
):
    name = f"closed-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "events.jsonl"
    create_recording_function(lambda_client, name, out)
    # A statement for another campaign only.
    allow_pinpoint(lambda_client, name, f"arn:aws:mobiletargeting:us-east-1:000000000000:/apps/{app_id}/campaigns/other")
    ids = add_endpoints(pinpoint, app_id, 5)
    segment_id = everyone_segment(pinpoint, app_id)

    # Starting a little later, the campaign is accepted: the permission could still come.
    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(name), **_soon())
    done = wait_for_status(pinpoint, app_id, campaign["Id"], wanted=("INVALID",))

    assert done["State"]["CampaignStatus"] == "INVALID"
    assert recorded(out) == []
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["State"] == "COMPLETED" and activity["Result"] == "FAIL"
    message = activity["ExecutionMetrics"]["Message"]
    assert "aws lambda add-permission" in message and name in message
    assert "pinpoint.us-east-1.amazonaws.com" in message and campaign["Id"] in message

    # Granted, then written again with StartTime IMMEDIATE: the campaign runs again and completes.
    lambda_client.add_permission(
        FunctionName=name,
        StatementId="all-campaigns",
        Action="lambda:InvokeFunction",
        Principal="pinpoint.us-east-1.amazonaws.com",
        SourceArn=f"arn:aws:mobiletargeting:us-east-1:000000000000:apps/{app_id}/campaigns/*",
    )
    pinpoint.update_campaign(
        ApplicationId=app_id,
        CampaignId=campaign["Id"],
        WriteCampaignRequest={"Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}},
    )
    done = wait_for_status(pinpoint, app_id, campaign["Id"])
    assert done["State"]["CampaignStatus"] == "COMPLETED"
    assert sorted(i for e in recorded(out) for i in e["Endpoints"]) == ids
    assert sorted(a["Result"] for a in activities(pinpoint, app_id, campaign["Id"])) == ["FAIL", "SUCCESS"]


def test_a_campaign_that_cannot_invoke_its_function_is_refused_when_written(pinpoint, lambda_client, app_id, tmp_path):
    add_endpoints(pinpoint, app_id, 2)
    segment_id = everyone_segment(pinpoint, app_id)
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        _campaign(pinpoint, app_id, segment_id, **_custom(missing))
    message = refused.value.response["Error"]["Message"]
    assert "CustomDeliveryConfiguration.DeliveryUri" in message and missing in message
    assert "does not exist" in message and "create-function" in message
    # A later start leaves time to create it.
    assert _campaign(pinpoint, app_id, segment_id, **_custom(missing), **_soon(600))["State"] == {
        "CampaignStatus": "SCHEDULED"
    }
    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        _campaign(
            pinpoint, app_id, segment_id,
            MessageConfiguration={"SMSMessage": {"Body": "hi"}},
            Hook={"LambdaFunctionName": missing, "Mode": "DELIVERY"},
        )  # fmt: skip
    assert refused.value.response["Error"]["Message"].startswith("Hook: ")

    # It exists but may not be invoked: a start at once is refused with the grant to make,
    # a later start is accepted.
    name = f"closed-{uuid.uuid4().hex[:8]}"
    create_recording_function(lambda_client, name, tmp_path / "events.jsonl")
    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        _campaign(pinpoint, app_id, segment_id, **_custom(name))
    message = refused.value.response["Error"]["Message"]
    assert "aws lambda add-permission" in message and f"apps/{app_id}/campaigns/*" in message
    assert "was not created" in message
    assert len(pinpoint.get_campaigns(ApplicationId=app_id)["CampaignsResponse"]["Item"]) == 1
    later = _campaign(pinpoint, app_id, segment_id, **_custom(name), **_soon(600))
    assert later["State"]["CampaignStatus"] == "SCHEDULED"
    # Moving it to IMMEDIATE without the grant is refused too, and changes nothing.
    with pytest.raises(pinpoint.exceptions.BadRequestException) as refused:
        pinpoint.update_campaign(
            ApplicationId=app_id,
            CampaignId=later["Id"],
            WriteCampaignRequest={"Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}},
        )
    assert "was not applied" in refused.value.response["Error"]["Message"]
    stored = pinpoint.get_campaign(ApplicationId=app_id, CampaignId=later["Id"])["CampaignResponse"]
    assert stored["Version"] == 1 and stored["Schedule"] == later["Schedule"]


def test_a_completed_one_off_campaign_runs_again_when_written_with_a_new_start(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "again")
    ids = add_endpoints(pinpoint, app_id, 3)
    segment_id = everyone_segment(pinpoint, app_id)
    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, campaign["Id"])

    # An update without Schedule changes the campaign and starts nothing.
    pinpoint.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={"Name": "renamed"})
    time.sleep(1.5)
    assert len(activities(pinpoint, app_id, campaign["Id"])) == 1

    for _ in range(2):  # IMMEDIATE again, then a start a moment ahead
        schedule = {"Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}} if _ == 0 else _soon()
        pinpoint.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest=schedule)
        runs = 2 + _
        deadline = time.monotonic() + 60
        while len(activities(pinpoint, app_id, campaign["Id"])) < runs and time.monotonic() < deadline:
            time.sleep(0.2)
        wait_for_status(pinpoint, app_id, campaign["Id"])
    assert [a["Result"] for a in activities(pinpoint, app_id, campaign["Id"])] == ["SUCCESS"] * 3
    sent = [i for e in recorded(out) for i in e["Endpoints"]]
    assert sorted(sent) == sorted(ids * 3)


def test_treatments_and_holdout_split_by_cohort(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "ab")
    ids = add_endpoints(pinpoint, app_id, 200)
    segment_id = everyone_segment(pinpoint, app_id)
    cohorts = {
        e: int(pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=e)["EndpointResponse"]["CohortId"])
        for e in ids
    }

    campaign = _campaign(
        pinpoint,
        app_id,
        segment_id,
        HoldoutPercent=10,
        AdditionalTreatments=[{"SizePercent": 40, **_custom(name, data="B")}],
        **_custom(name, data="A"),
    )
    wait_for_status(pinpoint, app_id, campaign["Id"])

    got = {(e["TreatmentId"], i) for e in recorded(out) for i in e["Endpoints"]}
    expected = {("1" if 10 <= c < 50 else "0", e) for e, c in cohorts.items() if c >= 10}
    assert got == expected
    data = {e["TreatmentId"]: e["Data"] for e in recorded(out)}
    assert data.get("0", "A") == "A" and data.get("1", "B") == "B"
    found = {a["TreatmentId"]: a for a in activities(pinpoint, app_id, campaign["Id"])}
    assert set(found) == {"0", "1"}
    held = sum(1 for c in cohorts.values() if c < 10)
    assert int(found["0"]["ExecutionMetrics"].get("HOLDOUT", "0")) == held


def test_failing_function_is_retried_then_endpoints_fail_and_the_campaign_pauses(
    pinpoint, lambda_client, app_id, tmp_path
):
    flag = tmp_path / "fail"
    flag.touch()
    name, _ = recording_channel(lambda_client, tmp_path, "broken", FAIL_FLAG=str(flag))
    add_endpoints(pinpoint, app_id, 50 * 12)
    segment_id = everyone_segment(pinpoint, app_id)

    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    paused = wait_for_status(pinpoint, app_id, campaign["Id"], wanted=("PAUSED",))
    assert paused["State"]["CampaignStatus"] == "PAUSED"
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["State"] == "PAUSED" and activity["Result"] == "FAIL"
    assert "in a row failed" in activity["ExecutionMetrics"]["Message"]
    assert activity["SuccessfulEndpointCount"] == 0
    assert int(activity["ExecutionMetrics"]["FAILED_ENDPOINT_COUNT"]) >= 10 * 50


def test_webhook_channel_gets_signed_batches_and_retries_server_errors(server, pinpoint, app_id, webhook_receiver):
    ids = add_endpoints(pinpoint, app_id, 130)
    segment_id = everyone_segment(pinpoint, app_id)
    webhook_receiver.fail_next(2, status=503)  # the first attempts fail; retries succeed

    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(webhook_receiver.url, data="hook-data"))
    wait_for_status(pinpoint, app_id, campaign["Id"])

    webhook_receiver.secret = webhook_secret(server, app_id)
    accepted = [p for p in webhook_receiver.posts if p.status == 200]
    assert len(webhook_receiver.posts) == len(accepted) + 2
    assert all(webhook_receiver.verified(p) for p in webhook_receiver.posts)
    delivered = [i for p in accepted for i in p.json["Endpoints"]]
    assert sorted(delivered) == ids
    assert all(len(p.json["Endpoints"]) <= 50 for p in accepted)
    for post in webhook_receiver.posts:
        assert post.header("Idempotency-Key") == post.json["IdempotencyKey"]
        assert post.json["Data"] == "hook-data"
    # A retried batch carries the same key as its failed attempt.
    keys = [p.header("Idempotency-Key") for p in webhook_receiver.posts]
    assert len(set(keys)) == len(accepted)
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["SuccessfulEndpointCount"] == 130 and activity["Result"] == "SUCCESS"


def test_filter_hook_then_delivery(pinpoint, lambda_client, app_id, tmp_path, webhook_receiver):
    name, out = recording_channel(lambda_client, tmp_path, "filter", DROP_SUFFIX="7")
    ids = add_endpoints(pinpoint, app_id, 100)
    segment_id = everyone_segment(pinpoint, app_id)

    campaign = _campaign(
        pinpoint,
        app_id,
        segment_id,
        Hook={"LambdaFunctionName": name, "Mode": "FILTER"},
        **_custom(webhook_receiver.url),
    )
    wait_for_status(pinpoint, app_id, campaign["Id"])

    filtered = recorded(out)
    assert sorted(i for e in filtered for i in e["Endpoints"]) == ids
    assert all(e["MessageConfiguration"] == {"CustomMessage": {"Data": "hello"}} for e in filtered)
    delivered = {i: doc for p in webhook_receiver.posts for i, doc in p.json["Endpoints"].items()}
    kept = [i for i in ids if not i.endswith("7")]
    assert sorted(delivered) == kept
    assert all(doc["Attributes"]["Enriched"] == ["yes"] for doc in delivered.values())
    # Enrichment applies to that send only.
    stored = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=kept[0])["EndpointResponse"]
    assert "Enriched" not in stored.get("Attributes", {})
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["TotalEndpointCount"] == len(kept) == activity["SuccessfulEndpointCount"]
    assert activity["ExecutionMetrics"]["HOOK_FILTERED"] == str(len(ids) - len(kept))


def test_app_campaign_hook_delivers_for_campaigns_without_their_own(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "apphook")
    pinpoint.update_application_settings(
        ApplicationId=app_id,
        WriteApplicationSettingsRequest={"CampaignHook": {"LambdaFunctionName": name, "Mode": "DELIVERY"}},
    )
    ids = add_endpoints(pinpoint, app_id, 10, channel="SMS")
    add_endpoints(pinpoint, app_id, 4, channel="EMAIL", prefix="mail")
    segment_id = everyone_segment(pinpoint, app_id)

    campaign = _campaign(
        pinpoint, app_id, segment_id, MessageConfiguration={"SMSMessage": {"Body": "Hi there"}}
    )
    wait_for_status(pinpoint, app_id, campaign["Id"])

    events = recorded(out)
    assert sorted(i for e in events for i in e["Endpoints"]) == ids  # SMS endpoints only
    assert events[0]["Message"] == {"smsmessage": {"body": "Hi there"}}


def test_paused_and_deleted_campaigns_stop_sending(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "slow", concurrency=1, DELAY="0.3")
    add_endpoints(pinpoint, app_id, 50 * 40)
    segment_id = everyone_segment(pinpoint, app_id)

    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, campaign["Id"], wanted=("EXECUTING",))
    pinpoint.update_campaign(ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={"IsPaused": True})
    wait_for_status(pinpoint, app_id, campaign["Id"], wanted=("PAUSED",))
    deadline = time.monotonic() + 10
    while activities(pinpoint, app_id, campaign["Id"])[0]["State"] != "PAUSED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sent = len(recorded(out))
    time.sleep(1)
    assert len(recorded(out)) == sent < 40

    other = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, other["Id"], wanted=("EXECUTING",))
    pinpoint.delete_campaign(ApplicationId=app_id, CampaignId=other["Id"])
    time.sleep(1.5)  # in-flight batches settle
    sent = len(recorded(out))
    time.sleep(1)
    assert len(recorded(out)) == sent


def test_a_campaign_scheduled_ahead_waits_for_its_start(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "later")
    add_endpoints(pinpoint, app_id, 3)
    segment_id = everyone_segment(pinpoint, app_id)
    start = datetime.now(UTC) + timedelta(seconds=3)

    campaign = _campaign(
        pinpoint,
        app_id,
        segment_id,
        Schedule={"StartTime": start.isoformat(), "Frequency": "ONCE"},
        **_custom(name),
    )
    time.sleep(1)
    assert recorded(out) == [] and activities(pinpoint, app_id, campaign["Id"]) == []
    wait_for_status(pinpoint, app_id, campaign["Id"])
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert abs(datetime.fromisoformat(activity["ScheduledStart"]) - start) < timedelta(seconds=1)
    assert datetime.fromisoformat(activity["Start"]) >= start


def test_campaigns_watch_follows_a_run_to_its_end(server, pinpoint, lambda_client, app_id, tmp_path):
    name, _ = recording_channel(lambda_client, tmp_path, "watched", concurrency=1, DELAY="0.1")
    add_endpoints(pinpoint, app_id, 50 * 10)
    segment_id = everyone_segment(pinpoint, app_id)
    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(name))

    watch = server.tidings("campaigns", "watch", app_id, campaign["Id"], "--interval", "0.2", cwd=tmp_path)
    assert watch.returncode == 0, watch.stderr
    assert "500 delivered, 0 failed, 0 left" in watch.stdout
    assert f"Campaign {campaign['Id']}: COMPLETED" in watch.stdout
    assert "treatment 0: COMPLETED SUCCESS" in watch.stdout

    missing = server.tidings("campaigns", "watch", app_id, "nope", cwd=tmp_path)
    assert missing.returncode == 1 and "nope" in missing.stderr


def test_local_time_runs_send_each_time_zone_at_its_own_wall_clock(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "local")
    zones = {
        "abidjan": "Africa/Abidjan",  # UTC+0: its slot is the start time itself, seconds away
        "saopaulo": "America/Sao_Paulo",  # UTC-3: three hours later
        "tokyo": "Asia/Tokyo",  # UTC+9: its slot had passed when the campaign was written
    }
    for prefix, zone in zones.items():
        add_endpoints(pinpoint, app_id, 4, prefix=prefix, extra=lambda _, z=zone: {"Demographic": {"Timezone": z}})
    add_endpoints(pinpoint, app_id, 2, prefix="nozone")
    segment_id = everyone_segment(pinpoint, app_id)
    start = datetime.now(UTC) + timedelta(seconds=3)

    campaign = _campaign(
        pinpoint,
        app_id,
        segment_id,
        Schedule={"StartTime": start.isoformat(), "Frequency": "ONCE", "IsLocalTime": True, "Timezone": "UTC"},
        **_custom(name),
    )
    deadline = time.monotonic() + 30
    while not recorded(out):
        assert time.monotonic() < deadline, activities(pinpoint, app_id, campaign["Id"])
        time.sleep(0.1)
    first_send = datetime.now(UTC)
    time.sleep(1)

    delivered = sorted(i for e in recorded(out) for i in e["Endpoints"])
    assert delivered == [f"abidjan{n:05d}" for n in range(4)]
    assert first_send >= start
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["State"] == "RUNNING"  # São Paulo's wave is three hours away
    assert activity["TimezonesTotalCount"] == 2 and activity["TimezonesCompletedCount"] == 1
    assert activity["ExecutionMetrics"]["ENDPOINT_TIMEZONE_MISMATCH"] == "4"
    assert activity["ExecutionMetrics"]["ENDPOINT_MISSING_TIMEZONE"] == "2"
    assert activity["SuccessfulEndpointCount"] == 4
    pinpoint.delete_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])


def test_quiet_time_skips_endpoints_whose_local_clock_is_inside_it(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "quiet")
    now = datetime.now(UTC)
    quiet = {"Start": (now - timedelta(hours=1)).strftime("%H:%M"), "End": (now + timedelta(hours=1)).strftime("%H:%M")}
    add_endpoints(pinpoint, app_id, 3, prefix="utc", extra=lambda _: {"Demographic": {"Timezone": "Africa/Abidjan"}})
    awake = add_endpoints(pinpoint, app_id, 3, prefix="nozone")  # no time zone: never quiet
    segment_id = everyone_segment(pinpoint, app_id)

    campaign = _campaign(
        pinpoint,
        app_id,
        segment_id,
        Schedule={"StartTime": "IMMEDIATE", "Frequency": "ONCE", "QuietTime": quiet},
        **_custom(name),
    )
    wait_for_status(pinpoint, app_id, campaign["Id"])

    assert sorted(i for e in recorded(out) for i in e["Endpoints"]) == awake
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["ExecutionMetrics"]["QUIET_TIME"] == "3"
    assert activity["SuccessfulEndpointCount"] == 3


def test_the_apps_daily_cap_counts_every_campaign(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "capped")
    pinpoint.update_application_settings(ApplicationId=app_id, WriteApplicationSettingsRequest={"Limits": {"Daily": 1}})
    ids = add_endpoints(pinpoint, app_id, 5)
    segment_id = everyone_segment(pinpoint, app_id)

    first = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, first["Id"])
    second = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, second["Id"])

    assert sorted(i for e in recorded(out) for i in e["Endpoints"]) == ids  # once, from the first
    [activity] = activities(pinpoint, app_id, second["Id"])
    assert activity["ExecutionMetrics"]["DAILY_CAP"] == "5" and activity["TotalEndpointCount"] == 0


def test_a_total_cap_added_later_counts_the_sends_before_it(pinpoint, lambda_client, app_id, tmp_path):
    # Sends of a campaign without caps are kept compactly, not per endpoint; when a cap comes
    # in, the earlier sends are counted all the same.
    name, out = recording_channel(lambda_client, tmp_path, "totalcap")
    ids = add_endpoints(pinpoint, app_id, 5)
    segment_id = everyone_segment(pinpoint, app_id)
    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, campaign["Id"])
    assert sorted(i for e in recorded(out) for i in e["Endpoints"]) == ids

    pinpoint.update_campaign(
        ApplicationId=app_id,
        CampaignId=campaign["Id"],
        WriteCampaignRequest={"Limits": {"Total": 1}, "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}},
    )
    deadline = time.monotonic() + 30
    while len(runs := activities(pinpoint, app_id, campaign["Id"])) < 2 or any(a["State"] != "COMPLETED" for a in runs):
        assert time.monotonic() < deadline, runs
        time.sleep(0.1)
    latest = max(runs, key=lambda a: a["ScheduledStart"])
    assert latest["ExecutionMetrics"]["CAMPAIGN_CAP"] == "5" and latest["TotalEndpointCount"] == 0
    assert len(recorded(out)) == 1  # the first run's one batch, nothing since


def test_an_app_daily_cap_set_later_counts_the_sends_before_it(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "dailylater")
    ids = add_endpoints(pinpoint, app_id, 5)
    segment_id = everyone_segment(pinpoint, app_id)
    first = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, first["Id"])

    pinpoint.update_application_settings(ApplicationId=app_id, WriteApplicationSettingsRequest={"Limits": {"Daily": 1}})
    second = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, second["Id"])

    assert sorted(i for e in recorded(out) for i in e["Endpoints"]) == ids  # once, from the first
    [activity] = activities(pinpoint, app_id, second["Id"])
    assert activity["ExecutionMetrics"]["DAILY_CAP"] == "5" and activity["TotalEndpointCount"] == 0


def test_successes_are_kept_one_record_per_batch_and_listed_per_endpoint(
    server, pinpoint, lambda_client, app_id, tmp_path
):
    name, _ = recording_channel(lambda_client, tmp_path, "compact")
    ids = add_endpoints(pinpoint, app_id, 120)
    segment_id = everyone_segment(pinpoint, app_id)
    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(name))
    wait_for_status(pinpoint, app_id, campaign["Id"])

    def stored(conn):
        rows = conn.execute(
            select(schema.send_records.c.endpoint_count, schema.send_records.c.endpoint).where(
                schema.send_records.c.campaign_id == campaign["Id"]
            )
        ).all()
        per_endpoint = conn.execute(
            select(func.count()).where(schema.endpoint_sends.c.campaign_id == campaign["Id"])
        ).scalar_one()
        return rows, per_endpoint

    rows, per_endpoint = read_store(server.database_url, stored)
    assert sorted(n for n, _ in rows) == [20, 50, 50] and {e for _, e in rows} == {None}
    assert per_endpoint == 0  # no cap, no local time: nothing kept per endpoint
    records = _send_records(server, app_id, campaign["Id"], tmp_path)
    assert sorted(r["client"]["client_id"] for r in records) == ids
    assert {r["attributes"]["campaign_send_status"] for r in records} == {"SUCCESS"}
    # Each record carries its endpoint (as stored now: a batch's record names its endpoints only).
    endpoint = json.loads(records[0]["client_context"]["custom"]["endpoint"])
    assert endpoint["ChannelType"] == "CUSTOM" and "Address" in endpoint


def test_messages_per_second_paces_the_run(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "paced")
    add_endpoints(pinpoint, app_id, 300)
    segment_id = everyone_segment(pinpoint, app_id)

    campaign = _campaign(pinpoint, app_id, segment_id, Limits={"MessagesPerSecond": 100}, **_custom(name))
    wait_for_status(pinpoint, app_id, campaign["Id"])

    [activity] = activities(pinpoint, app_id, campaign["Id"])
    took = datetime.fromisoformat(activity["End"]) - datetime.fromisoformat(activity["Start"])
    # 300 endpoints at 100 per second: the last batch may start 2.5 s after the first.
    assert took >= timedelta(seconds=2.4)
    assert activity["SuccessfulEndpointCount"] == 300


def test_a_recurring_campaign_waits_for_its_next_run(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "hourly")
    add_endpoints(pinpoint, app_id, 3)
    segment_id = everyone_segment(pinpoint, app_id)
    start = datetime.now(UTC) + timedelta(seconds=2)
    schedule = {
        "StartTime": start.isoformat(),
        "EndTime": (start + timedelta(hours=3)).isoformat(),
        "Frequency": "HOURLY",
    }

    campaign = _campaign(pinpoint, app_id, segment_id, Schedule=schedule, **_custom(name))
    wait_for_status(pinpoint, app_id, campaign["Id"], wanted=("PENDING_NEXT_RUN",))
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["State"] == "COMPLETED" and activity["SuccessfulEndpointCount"] == 3
    assert len(recorded(out)) == 1

    # An update that changes nothing about the schedule keeps the series going.
    updated = pinpoint.update_campaign(
        ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={"Description": "still hourly"}
    )["CampaignResponse"]
    assert updated["State"]["CampaignStatus"] == "PENDING_NEXT_RUN"
    time.sleep(1.5)
    assert len(recorded(out)) == 1  # the next run is an hour away, not now

    # Paused and resumed after its start time: it goes on with the next hour, not now.
    for paused in (True, False):
        pinpoint.update_campaign(
            ApplicationId=app_id, CampaignId=campaign["Id"], WriteCampaignRequest={"IsPaused": paused}
        )
    time.sleep(1.5)
    assert len(recorded(out)) == 1


def test_endpoints_not_reached_within_maximum_duration_expire(pinpoint, lambda_client, app_id, tmp_path):
    name, out = recording_channel(lambda_client, tmp_path, "late", concurrency=1, DELAY="0.5")
    add_endpoints(pinpoint, app_id, 50 * 20)
    segment_id = everyone_segment(pinpoint, app_id)
    # Started 57 s ago (a start time within the last minute is accepted) with the shortest
    # MaximumDuration: about 3 s of sending remain, one batch per half second.
    start = datetime.now(UTC) - timedelta(seconds=57)

    campaign = _campaign(
        pinpoint,
        app_id,
        segment_id,
        Schedule={"StartTime": start.isoformat(), "Frequency": "ONCE"},
        Limits={"MaximumDuration": 60},
        **_custom(name),
    )
    wait_for_status(pinpoint, app_id, campaign["Id"])

    sent = sum(len(e["Endpoints"]) for e in recorded(out))
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    expired = int(activity["ExecutionMetrics"]["EXPIRED"])
    assert 0 < sent < 1000 and expired == 1000 - sent
    assert activity["SuccessfulEndpointCount"] == sent == activity["TotalEndpointCount"]


def _send_records(server, app_id: str, campaign_id: str, tmp_path) -> list[dict]:
    done = server.tidings("events", "sends", app_id, "--campaign", campaign_id, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_a_failing_filter_hook_records_hook_failure_and_delivers_nothing(
    server, pinpoint, lambda_client, app_id, tmp_path, webhook_receiver
):
    flag = tmp_path / "fail"
    flag.touch()
    name, _ = recording_channel(lambda_client, tmp_path, "badfilter", FAIL_FLAG=str(flag))
    ids = add_endpoints(pinpoint, app_id, 60)
    segment_id = everyone_segment(pinpoint, app_id)

    campaign = _campaign(
        pinpoint, app_id, segment_id, Hook={"LambdaFunctionName": name, "Mode": "FILTER"}, **_custom(webhook_receiver.url)
    )
    wait_for_status(pinpoint, app_id, campaign["Id"])

    assert webhook_receiver.posts == []
    records = _send_records(server, app_id, campaign["Id"], tmp_path)
    assert sorted(r["client"]["client_id"] for r in records) == ids
    assert {r["attributes"]["campaign_send_status"] for r in records} == {"HOOK_FAILURE"}
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["Result"] == "FAIL" and activity["SuccessfulEndpointCount"] == 0


def test_a_webhook_that_refuses_records_custom_delivery_failure(server, pinpoint, app_id, webhook_receiver, tmp_path):
    ids = add_endpoints(pinpoint, app_id, 70)
    segment_id = everyone_segment(pinpoint, app_id)
    webhook_receiver.fail_next(100, status=400)  # not worth retrying

    campaign = _campaign(pinpoint, app_id, segment_id, **_custom(webhook_receiver.url))
    wait_for_status(pinpoint, app_id, campaign["Id"])

    assert len(webhook_receiver.posts) == 2  # one attempt per batch: 400 is final
    records = _send_records(server, app_id, campaign["Id"], tmp_path)
    assert sorted(r["client"]["client_id"] for r in records) == ids
    assert {r["attributes"]["campaign_send_status"] for r in records} == {"CUSTOM_DELIVERY_FAILURE"}
    [activity] = activities(pinpoint, app_id, campaign["Id"])
    assert activity["Result"] == "FAIL" and activity["ExecutionMetrics"]["FAILED_ENDPOINT_COUNT"] == "70"
