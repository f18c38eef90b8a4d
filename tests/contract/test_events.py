"""PutEvents, the event stream setting and the KPI operations through boto3 and the AWS CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.campaigns import stored_sends
from tidings.store import sends
from tidings.store.db import Database

ACCEPTED = {"StatusCode": 202, "Message": "Accepted"}
KINESIS = "arn:aws:kinesis:us-east-1:123456789012:stream/pinpoint-events"
FIREHOSE = "arn:aws:firehose:us-east-1:123456789012:deliverystream/pinpoint-archive"
ROLE = "arn:aws:iam::123456789012:role/pinpoint-events"
MISSING = "0" * 32


def error(caught) -> str:
    return caught.value.response["Error"]["Message"]


def event(event_type: str = "purchase", **extra) -> dict:
    return {"EventType": event_type, "Timestamp": "2026-11-24T16:08:34.123Z", **extra}


def put_events(pinpoint, app_id: str, batch: dict) -> dict:
    response = pinpoint.put_events(ApplicationId=app_id, EventsRequest={"BatchItem": batch})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    return response["EventsResponse"]["Results"]


# --- PutEvents ----------------------------------------------------------------------------------


def test_put_events_accepts_events_and_upserts_the_endpoint(pinpoint, app_id):
    endpoint = {
        "ChannelType": "CUSTOM",
        "Address": "https://example.org/users/1",
        "Attributes": {"plan": ["pro"]},
        "User": {"UserId": "user-1"},
    }
    events = {
        "ev-1": event(Attributes={"sku": "tea"}, Metrics={"amount": 9.5}),
        "ev-2": event(
            "_session.start",
            Session={"Id": "s-1", "StartTimestamp": "2026-11-24T16:00:00Z"},
            AppTitle="Shop",
            SdkName="aws-amplify",
        ),
    }
    results = put_events(pinpoint, app_id, {"ep-1": {"Endpoint": endpoint, "Events": events}})
    assert results == {
        "ep-1": {
            "EndpointItemResponse": ACCEPTED,
            "EventsItemResponse": {"ev-1": ACCEPTED, "ev-2": ACCEPTED},
        }
    }
    stored = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="ep-1")["EndpointResponse"]
    assert stored["ChannelType"] == "CUSTOM"
    assert stored["Address"] == "https://example.org/users/1"
    assert stored["Attributes"] == {"plan": ["pro"]}
    assert stored["User"]["UserId"] == "user-1"
    assert stored["OptOut"] == "NONE"

    # A second batch updates the same endpoint, as UpdateEndpoint would.
    results = put_events(
        pinpoint,
        app_id,
        {"ep-1": {"Endpoint": {"Attributes": {"plan": ["team"]}}, "Events": {"ev-3": event()}}},
    )
    assert results["ep-1"]["EndpointItemResponse"] == ACCEPTED
    stored = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="ep-1")["EndpointResponse"]
    assert stored["Attributes"] == {"plan": ["team"]}
    assert stored["Address"] == "https://example.org/users/1"


def test_an_empty_endpoint_part_creates_an_unreachable_endpoint(pinpoint, app_id):
    results = put_events(pinpoint, app_id, {"anon": {"Endpoint": {}, "Events": {"e": event()}}})
    assert results["anon"]["EndpointItemResponse"] == ACCEPTED
    stored = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="anon")["EndpointResponse"]
    assert stored["OptOut"] == "ALL"  # no address: opted out, as Pinpoint does


def test_events_breaking_a_limit_are_dropped_one_by_one(pinpoint, app_id):
    events = {
        "ok": event(Attributes={"k" * 50: "v" * 200}),
        "long-value": event(Attributes={"note": "v" * 201}),
        "long-name": event(Attributes={"k" * 51: "v"}),
        "too-many-keys": event(
            Attributes={f"a{i}": "x" for i in range(21)}, Metrics={f"m{i}": 1.0 for i in range(20)}
        ),
        "forty-keys": event(
            Attributes={f"a{i}": "x" for i in range(20)}, Metrics={f"m{i}": 1.0 for i in range(20)}
        ),
        "bad-time": event(Timestamp="yesterday"),
        "no-type": event(""),
    }
    results = put_events(
        pinpoint, app_id, {"ep": {"Endpoint": {"Address": "https://x.example"}, "Events": events}}
    )
    outcome = results["ep"]["EventsItemResponse"]
    assert outcome["ok"] == ACCEPTED and outcome["forty-keys"] == ACCEPTED
    for event_id, wanted in {
        "long-value": "200",
        "long-name": "50",
        "too-many-keys": "40",
        "bad-time": "'yesterday'",
        "no-type": "EventType",
    }.items():
        assert outcome[event_id]["StatusCode"] == 400, event_id
        assert wanted in outcome[event_id]["Message"], outcome[event_id]
        assert f"BatchItem.ep.Events.{event_id}" in outcome[event_id]["Message"]
    assert results["ep"]["EndpointItemResponse"] == ACCEPTED


def test_a_bad_endpoint_is_reported_and_the_others_are_written(pinpoint, app_id):
    batch = {
        "good": {"Endpoint": {"Address": "https://good.example"}, "Events": {"e": event()}},
        "bad": {
            "Endpoint": {"Address": "https://bad.example", "OptOut": "SOMETIMES"},
            "Events": {"e": event()},
        },
    }
    results = put_events(pinpoint, app_id, batch)
    assert results["good"]["EndpointItemResponse"] == ACCEPTED
    assert results["bad"]["EndpointItemResponse"]["StatusCode"] == 400
    assert "OptOut" in results["bad"]["EndpointItemResponse"]["Message"]
    # The events part stands on its own.
    assert results["bad"]["EventsItemResponse"] == {"e": ACCEPTED}
    assert pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="good")["EndpointResponse"][
        "Address"
    ]
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="bad")


def test_more_than_100_events_refuse_the_request(pinpoint, app_id):
    batch = {
        f"ep-{n}": {
            "Endpoint": {"Address": f"https://{n}.example"},
            "Events": {f"e{i}": event() for i in range(50)},
        }
        for n in range(2)
    }
    assert (
        put_events(pinpoint, app_id, batch)["ep-0"]["EndpointItemResponse"] == ACCEPTED
    )  # exactly 100
    batch["ep-2"] = {"Endpoint": {}, "Events": {"one-more": event()}}
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        put_events(pinpoint, app_id, batch)
    assert "101" in error(caught) and "100" in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="ep-2")


def test_put_events_refusals(pinpoint, app_id):
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        put_events(pinpoint, MISSING, {"ep": {"Endpoint": {}, "Events": {"e": event()}}})
    assert MISSING in error(caught)
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        put_events(pinpoint, app_id, {})
    assert "BatchItem" in error(caught)


def test_an_event_without_a_timestamp_refuses_the_request(server, app_id):
    # The model requires EventType and Timestamp: a request without one is malformed as a
    # whole. boto3 would refuse it before sending, so this client skips its own validation.
    unchecked = server.client("pinpoint", parameter_validation=False)
    with pytest.raises(unchecked.exceptions.BadRequestException) as caught:
        unchecked.put_events(
            ApplicationId=app_id,
            EventsRequest={
                "BatchItem": {"ep": {"Endpoint": {}, "Events": {"e": {"EventType": "x"}}}}
            },
        )
    assert "Timestamp" in error(caught)


# --- event stream -------------------------------------------------------------------------------


def test_event_stream_put_get_delete(pinpoint, app_id):
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        pinpoint.get_event_stream(ApplicationId=app_id)
    assert "PutEventStream" in error(caught)

    put = pinpoint.put_event_stream(
        ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": KINESIS, "RoleArn": ROLE}
    )["EventStream"]
    assert put["ApplicationId"] == app_id
    assert put["DestinationStreamArn"] == KINESIS
    assert put["RoleArn"] == ROLE
    assert put["LastModifiedDate"]
    assert pinpoint.get_event_stream(ApplicationId=app_id)["EventStream"] == put

    replaced = pinpoint.put_event_stream(
        ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": FIREHOSE, "RoleArn": ROLE}
    )["EventStream"]
    assert replaced["DestinationStreamArn"] == FIREHOSE
    assert pinpoint.get_event_stream(ApplicationId=app_id)["EventStream"] == replaced

    assert pinpoint.delete_event_stream(ApplicationId=app_id)["EventStream"] == replaced
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_event_stream(ApplicationId=app_id)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.delete_event_stream(ApplicationId=app_id)


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:s3:::my-bucket",
        "arn:aws:kinesis:us-east-1:123456789012:deliverystream/x",
        "arn:aws:firehose:us-east-1:123456789012:stream/x",
        "pinpoint-events",
    ],
)
def test_event_stream_destination_must_be_kinesis_or_firehose(pinpoint, app_id, arn):
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.put_event_stream(
            ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": arn, "RoleArn": ROLE}
        )
    assert "DestinationStreamArn" in error(caught) and "deliverystream" in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_event_stream(ApplicationId=app_id)


def test_event_stream_of_an_unknown_app(pinpoint):
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        pinpoint.put_event_stream(
            ApplicationId=MISSING,
            WriteEventStream={"DestinationStreamArn": KINESIS, "RoleArn": ROLE},
        )
    assert MISSING in error(caught)


def test_event_stream_through_the_aws_cli(server, pinpoint, app_id):
    pinpoint.put_event_stream(
        ApplicationId=app_id, WriteEventStream={"DestinationStreamArn": KINESIS, "RoleArn": ROLE}
    )
    stream = server.aws("pinpoint", "get-event-stream", "--application-id", app_id).json[
        "EventStream"
    ]
    assert stream["DestinationStreamArn"] == KINESIS and stream["RoleArn"] == ROLE
    server.aws("pinpoint", "delete-event-stream", "--application-id", app_id)
    done = server.aws("pinpoint", "get-event-stream", "--application-id", app_id, check=False)
    assert done.returncode != 0 and "NotFoundException" in done.stderr


# --- KPIs ---------------------------------------------------------------------------------------


@pytest.fixture
def campaign_id(pinpoint, app_id) -> str:
    segment = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={
            "Name": "all",
            "Dimensions": {"Demographic": {"Channel": {"Values": ["CUSTOM"]}}},
        },
    )["SegmentResponse"]
    campaign = pinpoint.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "never sent",
            "SegmentId": segment["Id"],
            # Far ahead, so no run ever delivers anything while the test looks.
            "Schedule": {"StartTime": "2030-01-01T09:00:00.000Z", "Frequency": "ONCE"},
            "Hook": {"LambdaFunctionName": "fn", "Mode": "FILTER"},
        },
    )["CampaignResponse"]
    return campaign["Id"]


def campaign_kpi(pinpoint, app_id: str, campaign_id: str, name: str, **extra) -> dict:
    return pinpoint.get_campaign_date_range_kpi(
        ApplicationId=app_id, CampaignId=campaign_id, KpiName=name, **extra
    )["CampaignDateRangeKpiResponse"]


def test_campaign_without_deliveries(pinpoint, app_id, campaign_id):
    start = (datetime.now(UTC) - timedelta(days=7)).replace(microsecond=0)
    end = start + timedelta(days=7)
    result = campaign_kpi(
        pinpoint, app_id, campaign_id, "unique-deliveries", StartTime=start, EndTime=end
    )
    assert result["ApplicationId"] == app_id
    assert result["CampaignId"] == campaign_id
    assert result["KpiName"] == "unique-deliveries"
    assert (result["StartTime"], result["EndTime"]) == (start, end)
    assert "NextToken" not in result
    assert result["KpiResult"] == {
        "Rows": [
            {
                "GroupedBys": [],
                "Values": [{"Key": "UniqueDeliveries", "Type": "Double", "Value": "0.0"}],
            }
        ]
    }
    grouped = campaign_kpi(
        pinpoint, app_id, campaign_id, "successful-delivery-rate-grouped-by-campaign-activity"
    )
    assert grouped["KpiResult"] == {"Rows": []}
    opens = campaign_kpi(pinpoint, app_id, campaign_id, "email-open-rate")
    assert opens["KpiResult"]["Rows"][0]["Values"][0]["Value"] == "0.0"


def test_kpi_range_defaults_to_the_last_31_days(pinpoint, app_id, campaign_id):
    before = datetime.now(UTC) - timedelta(seconds=1)
    result = campaign_kpi(pinpoint, app_id, campaign_id, "unique-deliveries-grouped-by-date")
    assert result["EndTime"] >= before
    assert result["EndTime"] - result["StartTime"] == timedelta(days=31)
    assert result["KpiResult"] == {"Rows": []}


def test_application_kpi(server, pinpoint, app_id, campaign_id):
    result = pinpoint.get_application_date_range_kpi(
        ApplicationId=app_id, KpiName="successful-delivery-rate"
    )["ApplicationDateRangeKpiResponse"]
    assert result["ApplicationId"] == app_id
    assert result["KpiResult"]["Rows"] == [
        {
            "GroupedBys": [],
            "Values": [{"Key": "SuccessfulDeliveryRate", "Type": "Double", "Value": "0.0"}],
        }
    ]
    done = server.aws(
        "pinpoint",
        "get-application-date-range-kpi",
        "--application-id",
        app_id,
        "--kpi-name",
        "unique-deliveries-grouped-by-campaign",
    )
    assert done.json["ApplicationDateRangeKpiResponse"]["KpiResult"] == {"Rows": []}


def test_kpis_of_unknown_apps_and_campaigns(pinpoint, app_id, campaign_id):
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        campaign_kpi(pinpoint, MISSING, campaign_id, "unique-deliveries")
    assert MISSING in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        campaign_kpi(pinpoint, app_id, MISSING, "unique-deliveries")
    assert MISSING in error(caught) and "Campaign" in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_application_date_range_kpi(ApplicationId=MISSING, KpiName="unique-deliveries")


def test_kpi_name_must_be_known(pinpoint, app_id, campaign_id):
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        campaign_kpi(pinpoint, app_id, campaign_id, "opens-by-moon-phase")
    assert "'opens-by-moon-phase'" in error(caught)
    assert "successful-delivery-rate-grouped-by-date" in error(caught)
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        campaign_kpi(pinpoint, app_id, campaign_id, "unique-deliveries-grouped-by-campaign")
    assert "GetApplicationDateRangeKpi" in error(caught)
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        pinpoint.get_application_date_range_kpi(ApplicationId=app_id, KpiName="opens-by-moon-phase")


def test_kpi_date_range_rules(pinpoint, app_id, campaign_id):
    now = datetime.now(UTC).replace(microsecond=0)
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        campaign_kpi(
            pinpoint,
            app_id,
            campaign_id,
            "unique-deliveries",
            StartTime=now - timedelta(days=32),
            EndTime=now,
        )
    assert "31 days" in error(caught)
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.get_application_date_range_kpi(
            ApplicationId=app_id,
            KpiName="unique-deliveries",
            StartTime=now - timedelta(days=100),
            EndTime=now - timedelta(days=95),
        )
    assert "90 days" in error(caught)
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        campaign_kpi(
            pinpoint,
            app_id,
            campaign_id,
            "unique-deliveries",
            StartTime=now,
            EndTime=now - timedelta(days=1),
        )
    assert "StartTime" in error(caught)
    # Exactly 31 days is allowed.
    result = campaign_kpi(
        pinpoint,
        app_id,
        campaign_id,
        "unique-deliveries",
        StartTime=now - timedelta(days=31),
        EndTime=now,
    )
    assert result["StartTime"] == now - timedelta(days=31)


def test_campaign_kpis_count_the_delivery_records(server, pinpoint, app_id, campaign_id):
    # The campaign-run engine writes a record per batch of successes and per other outcome;
    # here they are written straight into the server's store, the way the engine leaves them.
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    rows = [
        {"app_id": app_id, "campaign_id": campaign_id, "activity_id": "run-1", "endpoint_id": endpoint,
         "treatment_id": "0", "status": status, "at": sent.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
         "endpoint": "{\"ChannelType\": \"CUSTOM\"}"}
        for endpoint, status in (("e1", "SUCCESS"), ("e2", "SUCCESS"), ("e3", "CUSTOM_DELIVERY_FAILURE"),
                                 ("e4", "HOLDOUT"))
    ]  # fmt: skip
    db = Database(server.database_url)
    try:
        with db.write() as conn:
            sends.add_records(conn, stored_sends(rows))
    finally:
        db.dispose()

    rate = campaign_kpi(pinpoint, app_id, campaign_id, "successful-delivery-rate")["KpiResult"][
        "Rows"
    ]
    assert rate[0]["Values"][0]["Value"] == str(2 / 3)
    by_date = campaign_kpi(pinpoint, app_id, campaign_id, "unique-deliveries-grouped-by-date")[
        "KpiResult"
    ]
    assert by_date == {
        "Rows": [
            {
                "GroupedBys": [
                    {"Key": "Date", "Type": "String", "Value": sent.strftime("%Y-%m-%d")}
                ],
                "Values": [{"Key": "UniqueDeliveries", "Type": "Double", "Value": "2.0"}],
            }
        ]
    }
    attempted = campaign_kpi(
        pinpoint, app_id, campaign_id, "attempted-deliveries-grouped-by-campaign-activity"
    )
    assert attempted["KpiResult"]["Rows"][0]["Values"][0]["Value"] == "3.0"
    # Outside the range, nothing.
    later = campaign_kpi(
        pinpoint, app_id, campaign_id, "unique-deliveries", StartTime=sent + timedelta(seconds=1)
    )
    assert later["KpiResult"]["Rows"][0]["Values"][0]["Value"] == "0.0"
