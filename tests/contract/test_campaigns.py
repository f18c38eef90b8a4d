"""Campaigns, their versions and activities through boto3 and the AWS CLI against a live server."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import ACCOUNT, REGION, Server
from tests.pages import all_pages
from tests.webhooks import Receiver

HEX32 = re.compile(r"[0-9a-f]{32}")
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# Start times far enough ahead that no scheduler runs these campaigns while a test looks at them.
START = "2099-01-01T09:00:00.000Z"
END = "2099-02-01T09:00:00.000Z"
LAMBDA_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:deliver-sms"
# The members of a WriteCampaignRequest a CampaignResponse echoes as sent.
ECHOED = (
    "Name", "Description", "SegmentId", "SegmentVersion", "Schedule", "MessageConfiguration",
    "TemplateConfiguration", "HoldoutPercent", "Hook", "IsPaused", "Limits", "TreatmentName",
    "TreatmentDescription", "CustomDeliveryConfiguration", "Priority",
)  # fmt: skip
PRO = {"Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}


def every_member(segment_id: str, webhook_url: str) -> dict:
    """A WriteCampaignRequest that sets every member (one treatment sends to ``webhook_url``)."""
    return {
        "Name": "spring sale",
        "Description": "a campaign with everything",
        "SegmentId": segment_id,
        "Schedule": {
            "StartTime": START,
            "EndTime": END,
            "Frequency": "DAILY",
            "IsLocalTime": True,
            "Timezone": "UTC+05:30",
            "QuietTime": {"Start": "22:00", "End": "07:30"},
        },
        "MessageConfiguration": {
            "CustomMessage": {"Data": json.dumps({"template": "sale", "discount": 20})},
            "DefaultMessage": {"Title": "Sale", "Body": "20% off"},
            "SMSMessage": {"Body": "20% off", "MessageType": "PROMOTIONAL"},
        },
        "TemplateConfiguration": {
            "EmailTemplate": {"Name": "sale-email", "Version": "2"},
            "SMSTemplate": {"Name": "sale-sms"},
        },
        "AdditionalTreatments": [
            {
                "SizePercent": 20,
                "TreatmentName": "lambda by arn",
                "TreatmentDescription": "B",
                "CustomDeliveryConfiguration": {
                    "DeliveryUri": LAMBDA_ARN,
                    "EndpointTypes": ["SMS"],
                },
                "MessageConfiguration": {"CustomMessage": {"Data": '{"variant":"b"}'}},
                "Schedule": {"StartTime": START, "EndTime": END, "Frequency": "WEEKLY"},
            },
            {
                "SizePercent": 30,
                "TreatmentName": "webhook",
                "CustomDeliveryConfiguration": {"DeliveryUri": webhook_url},
                "MessageConfiguration": {"CustomMessage": {"Data": '{"variant":"c"}'}},
                "TemplateConfiguration": {"PushTemplate": {"Name": "sale-push"}},
            },
        ],
        "HoldoutPercent": 10,
        "Hook": {"LambdaFunctionName": "filter-audience", "Mode": "FILTER"},
        "IsPaused": False,
        "Limits": {
            "Daily": 5,
            "Total": 10,
            "MessagesPerSecond": 50,
            "MaximumDuration": 3600,
            "Session": 2,
        },
        "TreatmentName": "control",
        "TreatmentDescription": "A",
        "CustomDeliveryConfiguration": {
            "DeliveryUri": "deliver-custom",
            "EndpointTypes": ["CUSTOM", "EMAIL"],
        },
        "Priority": 3,
        "tags": {"team": "growth"},
    }


def minimal(segment_id: str, **extra) -> dict:
    return {
        "Name": "c",
        "SegmentId": segment_id,
        "Schedule": {"StartTime": START, "Frequency": "ONCE"},
        **extra,
    }


def create(pinpoint, app_id: str, request: dict) -> dict:
    return pinpoint.create_campaign(ApplicationId=app_id, WriteCampaignRequest=request)[
        "CampaignResponse"
    ]


def update(pinpoint, app_id: str, campaign_id: str, request: dict) -> dict:
    return pinpoint.update_campaign(
        ApplicationId=app_id, CampaignId=campaign_id, WriteCampaignRequest=request
    )["CampaignResponse"]


def get(pinpoint, app_id: str, campaign_id: str) -> dict:
    return pinpoint.get_campaign(ApplicationId=app_id, CampaignId=campaign_id)["CampaignResponse"]


def error(caught) -> str:
    return caught.value.response["Error"]["Message"]


def new_segment(pinpoint, app_id: str) -> str:
    request = {"Name": "pro", "Dimensions": PRO}
    return pinpoint.create_segment(ApplicationId=app_id, WriteSegmentRequest=request)[
        "SegmentResponse"
    ]["Id"]


@pytest.fixture
def segment_id(pinpoint, app_id) -> str:
    return new_segment(pinpoint, app_id)


@pytest.fixture(scope="module")
def shared(server) -> tuple[str, str]:
    """An app and a segment that requests which must be refused can share (nothing is written)."""
    pinpoint = server.client("pinpoint")
    app = pinpoint.create_app(CreateApplicationRequest={"Name": "refusals"})["ApplicationResponse"][
        "Id"
    ]
    return app, new_segment(pinpoint, app)


def test_create_campaign_with_every_member(pinpoint, app_id, segment_id, webhook_receiver):
    # A second segment version: leaving SegmentVersion out pins the latest one.
    pinpoint.update_segment(
        ApplicationId=app_id, SegmentId=segment_id, WriteSegmentRequest={"Name": "pro v2"}
    )
    request = every_member(segment_id, webhook_receiver.url)

    created = pinpoint.create_campaign(ApplicationId=app_id, WriteCampaignRequest=request)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    campaign = created["CampaignResponse"]
    assert HEX32.fullmatch(campaign["Id"])
    assert (
        campaign["Arn"]
        == f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{app_id}/campaigns/{campaign['Id']}"
    )
    assert campaign["ApplicationId"] == app_id
    assert DATE.fullmatch(campaign["CreationDate"])
    assert campaign["LastModifiedDate"] == campaign["CreationDate"]
    assert campaign["Version"] == 1
    assert campaign["State"] == {"CampaignStatus": "SCHEDULED"}
    assert campaign["DefaultState"] == {"CampaignStatus": "SCHEDULED"}
    assert campaign["SegmentVersion"] == 2
    assert campaign["tags"] == {"team": "growth"}
    for member in ECHOED:
        if member != "SegmentVersion":
            assert campaign[member] == request[member], member
    assert campaign["AdditionalTreatments"] == [
        {"Id": str(i), "State": {"CampaignStatus": "SCHEDULED"}, **treatment}
        for i, treatment in enumerate(request["AdditionalTreatments"], start=1)
    ]

    assert get(pinpoint, app_id, campaign["Id"]) == campaign


def test_single_treatment_campaign(pinpoint, app_id, segment_id):
    pinpoint.update_segment(
        ApplicationId=app_id, SegmentId=segment_id, WriteSegmentRequest={"Name": "pro v2"}
    )
    campaign = create(pinpoint, app_id, minimal(segment_id, SegmentVersion=1))
    assert (
        campaign["SegmentVersion"] == 1
    )  # an explicit version stays pinned, even when not the latest
    assert campaign["State"] == {"CampaignStatus": "SCHEDULED"}
    assert "DefaultState" not in campaign  # only A/B campaigns report the default treatment's state
    assert not campaign.get("AdditionalTreatments")
    assert campaign["HoldoutPercent"] == 0
    assert campaign["IsPaused"] is False


def test_custom_delivery_targets(pinpoint, app_id, segment_id, webhook_receiver):
    custom = {"MessageConfiguration": {"CustomMessage": {"Data": "{}"}}}
    for uri in (
        "my-function",
        "my-function:live",
        LAMBDA_ARN,
        f"{webhook_receiver.url}?y=1",
        webhook_receiver.url,
    ):
        campaign = create(
            pinpoint,
            app_id,
            minimal(segment_id, CustomDeliveryConfiguration={"DeliveryUri": uri}, **custom),
        )
        assert campaign["CustomDeliveryConfiguration"] == {"DeliveryUri": uri}
    # Functions are not HEAD-checked; each webhook URL is.
    assert webhook_receiver.heads == ["/hook", "/hook"]


def test_paused_campaign(pinpoint, app_id, segment_id):
    campaign = create(pinpoint, app_id, minimal(segment_id, IsPaused=True))
    assert campaign["State"] == {"CampaignStatus": "PAUSED"}
    assert campaign["IsPaused"] is True


def test_update_campaign_merges_and_keeps_versions(
    server, pinpoint, app_id, segment_id, webhook_receiver
):
    request = every_member(segment_id, webhook_receiver.url)
    campaign = create(pinpoint, app_id, request)

    # The AWS CLI, as scripts pause campaigns: only IsPaused is sent.
    done = server.aws(
        "pinpoint",
        "update-campaign",
        "--application-id",
        app_id,
        "--campaign-id",
        campaign["Id"],
        "--write-campaign-request",
        '{"IsPaused": true}',
    )
    paused = done.json["CampaignResponse"]
    assert paused["State"] == {"CampaignStatus": "PAUSED"}
    assert paused["IsPaused"] is True
    assert paused["Version"] == 2
    assert paused["CreationDate"] == campaign["CreationDate"]
    assert paused["LastModifiedDate"] >= campaign["LastModifiedDate"]
    for member in ECHOED:
        if member != "IsPaused":
            assert paused[member] == campaign[member], member
    assert [t["Id"] for t in paused["AdditionalTreatments"]] == ["1", "2"]
    assert get(pinpoint, app_id, campaign["Id"]) == paused

    resumed = update(
        pinpoint, app_id, campaign["Id"], {"IsPaused": False, "Name": "renamed", "tags": {"x": "y"}}
    )
    assert resumed["State"] == {"CampaignStatus": "SCHEDULED"}
    assert resumed["Version"] == 3
    assert resumed["Name"] == "renamed"
    assert resumed["tags"] == {"team": "growth"}  # tags on update are ignored, as in Pinpoint
    assert resumed["Limits"] == request["Limits"]

    page = pinpoint.get_campaign_versions(
        ApplicationId=app_id, CampaignId=campaign["Id"], PageSize="2"
    )
    first = page["CampaignsResponse"]
    assert [(c["Version"], c["Name"], c["IsPaused"]) for c in first["Item"]] == [
        (1, "spring sale", False),
        (2, "spring sale", True),
    ]
    assert first["NextToken"]
    second = pinpoint.get_campaign_versions(
        ApplicationId=app_id, CampaignId=campaign["Id"], PageSize="2", Token=first["NextToken"]
    )["CampaignsResponse"]
    assert [c["Version"] for c in second["Item"]] == [3]
    assert not second.get("NextToken")

    old = pinpoint.get_campaign_version(
        ApplicationId=app_id, CampaignId=campaign["Id"], Version="1"
    )
    assert old["CampaignResponse"]["Version"] == 1
    assert old["CampaignResponse"]["Name"] == "spring sale"
    assert old["CampaignResponse"]["IsPaused"] is False
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.get_campaign_version(ApplicationId=app_id, CampaignId=campaign["Id"], Version="x")
    assert "'x'" in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        pinpoint.get_campaign_version(ApplicationId=app_id, CampaignId=campaign["Id"], Version="4")
    assert campaign["Id"] in error(caught) and "4" in error(caught)


def test_update_keeps_the_pinned_segment_version(pinpoint, app_id, segment_id):
    campaign = create(pinpoint, app_id, minimal(segment_id))
    assert campaign["SegmentVersion"] == 1
    pinpoint.update_segment(
        ApplicationId=app_id, SegmentId=segment_id, WriteSegmentRequest={"Name": "v2"}
    )

    assert update(pinpoint, app_id, campaign["Id"], {"Name": "renamed"})["SegmentVersion"] == 1
    assert update(pinpoint, app_id, campaign["Id"], {"SegmentVersion": 2})["SegmentVersion"] == 2

    other = new_segment(pinpoint, app_id)
    moved = update(pinpoint, app_id, campaign["Id"], {"SegmentId": other})
    assert moved["SegmentId"] == other and moved["SegmentVersion"] == 1


def test_refused_update_changes_nothing(pinpoint, app_id, segment_id):
    campaign = create(pinpoint, app_id, minimal(segment_id))
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        update(pinpoint, app_id, campaign["Id"], {"Limits": {"Daily": 101}})
    assert "Limits.Daily" in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        update(pinpoint, app_id, campaign["Id"], {"SegmentVersion": 7})
    assert get(pinpoint, app_id, campaign["Id"]) == campaign
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        update(pinpoint, app_id, "b" * 32, {"IsPaused": True})


def test_get_campaigns_pages(pinpoint, app_id, segment_id):
    made = [create(pinpoint, app_id, minimal(segment_id, Name=f"c{i}"))["Id"] for i in range(3)]
    update(pinpoint, app_id, made[0], {"IsPaused": True})

    seen, pages = all_pages(pinpoint.get_campaigns, "CampaignsResponse", 2, ApplicationId=app_id)
    assert pages == 2
    assert sorted(c["Id"] for c in seen) == sorted(made)
    first = next(c for c in seen if c["Id"] == made[0])
    assert first["Version"] == 2 and first["State"] == {"CampaignStatus": "PAUSED"}


def test_delete_campaign(pinpoint, app_id, segment_id):
    campaign = create(pinpoint, app_id, minimal(segment_id, tags={"k": "v"}))
    deleted = pinpoint.delete_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])[
        "CampaignResponse"
    ]
    assert deleted["Id"] == campaign["Id"] and deleted["Name"] == "c"

    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        get(pinpoint, app_id, campaign["Id"])
    assert campaign["Id"] in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_campaign_versions(ApplicationId=app_id, CampaignId=campaign["Id"])
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.delete_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])
    assert pinpoint.get_campaigns(ApplicationId=app_id)["CampaignsResponse"]["Item"] == []
    # The segment it sent to is untouched.
    pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment_id)


def test_campaign_activities(pinpoint, app_id, segment_id):
    campaign = create(pinpoint, app_id, minimal(segment_id))
    activities = pinpoint.get_campaign_activities(ApplicationId=app_id, CampaignId=campaign["Id"])
    assert activities["ActivitiesResponse"]["Item"] == []
    assert not activities["ActivitiesResponse"].get("NextToken")

    missing = "c" * 32
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        pinpoint.get_campaign_activities(ApplicationId=app_id, CampaignId=missing)
    assert missing in error(caught)


def test_campaign_belongs_to_its_app(pinpoint, app_id, segment_id):
    campaign = create(pinpoint, app_id, minimal(segment_id))
    other_app = pinpoint.create_app(CreateApplicationRequest={"Name": "other"})[
        "ApplicationResponse"
    ]["Id"]
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        get(pinpoint, other_app, campaign["Id"])
    assert pinpoint.get_campaigns(ApplicationId=other_app)["CampaignsResponse"]["Item"] == []
    # Nor may it send to a segment of another app.
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        create(pinpoint, other_app, minimal(segment_id))


def test_immediate_start_is_accepted(pinpoint, app_id, segment_id):
    campaign = create(
        pinpoint, app_id, {"SegmentId": segment_id, "Schedule": {"StartTime": "IMMEDIATE"}}
    )
    assert campaign["Schedule"] == {"StartTime": "IMMEDIATE"}
    assert campaign["Version"] == 1


def _treatments(count: int) -> list[dict]:
    return [{"SizePercent": 10} for _ in range(count)]


def _schedule(**members) -> dict:
    return {"Schedule": {"StartTime": START, "Frequency": "ONCE", **members}}


PAST = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
BIG_DATA = json.dumps({"blob": "x" * (5 * 1024)})
WEBHOOK = {"DeliveryUri": "https://hooks.example.org/x"}

# (changes to a valid minimal request, text the BadRequestException message must contain)
BAD_REQUESTS = {
    "no-segment": ({"SegmentId": None}, "SegmentId"),
    "no-schedule": ({"Schedule": None}, "Schedule"),
    "frequency-enum": (_schedule(Frequency="YEARLY"), "Schedule.Frequency"),
    "start-not-iso": (_schedule(StartTime="tomorrow"), "Schedule.StartTime"),
    "start-in-past": (_schedule(StartTime=PAST), "Schedule.StartTime"),
    "end-before-start": (_schedule(EndTime="2098-12-31T00:00:00Z"), "Schedule.EndTime"),
    "recurring-without-end": (_schedule(Frequency="HOURLY"), "Schedule.EndTime"),
    "event-without-filter": (_schedule(Frequency="EVENT"), "Schedule.EventFilter"),
    "timezone": (_schedule(IsLocalTime=True, Timezone="UTC+14"), "Schedule.Timezone"),
    "quiet-time": (
        _schedule(QuietTime={"Start": "25:00", "End": "07:00"}),
        "Schedule.QuietTime.Start",
    ),
    "daily-101": ({"Limits": {"Daily": 101}}, "Limits.Daily"),
    "total-101": ({"Limits": {"Total": 101}}, "Limits.Total"),
    "mps-0": ({"Limits": {"MessagesPerSecond": 0}}, "Limits.MessagesPerSecond"),
    "mps-20001": ({"Limits": {"MessagesPerSecond": 20001}}, "Limits.MessagesPerSecond"),
    "duration-59": ({"Limits": {"MaximumDuration": 59}}, "Limits.MaximumDuration"),
    "holdout-plus-treatments": (
        {"HoldoutPercent": 50, "AdditionalTreatments": [{"SizePercent": 30}, {"SizePercent": 21}]},
        "HoldoutPercent",
    ),
    "holdout-over-100": ({"HoldoutPercent": 101}, "HoldoutPercent"),
    "five-treatments": ({"AdditionalTreatments": _treatments(5)}, "AdditionalTreatments"),
    "custom-without-delivery": (
        {"MessageConfiguration": {"CustomMessage": {"Data": "{}"}}},
        "CustomDeliveryConfiguration",
    ),
    "treatment-custom-without-delivery": (
        {
            "AdditionalTreatments": [
                {"SizePercent": 10, "MessageConfiguration": {"CustomMessage": {"Data": "{}"}}}
            ]
        },
        "AdditionalTreatments[0].CustomDeliveryConfiguration",
    ),
    "data-over-5kb": (
        {
            "MessageConfiguration": {"CustomMessage": {"Data": BIG_DATA}},
            "CustomDeliveryConfiguration": WEBHOOK,
        },
        "CustomMessage.Data",
    ),
    "ftp-uri": (
        {"CustomDeliveryConfiguration": {"DeliveryUri": "ftp://x"}},
        "CustomDeliveryConfiguration.DeliveryUri",
    ),
    "http-uri": (
        {"CustomDeliveryConfiguration": {"DeliveryUri": "http://hooks.example.org/x"}},
        "CustomDeliveryConfiguration.DeliveryUri",
    ),
    "hook-without-mode": ({"Hook": {"LambdaFunctionName": "filter-audience"}}, "Hook.Mode"),
}


@pytest.mark.parametrize(("changes", "wanted"), list(BAD_REQUESTS.values()), ids=list(BAD_REQUESTS))
def test_refused_campaign(pinpoint, shared, changes, wanted):
    app_id, segment_id = shared
    request = {k: v for k, v in {**minimal(segment_id), **changes}.items() if v is not None}
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        create(pinpoint, app_id, request)
    assert wanted in error(caught)
    # Nothing was written: the shared app still has no campaign.
    assert pinpoint.get_campaigns(ApplicationId=app_id)["CampaignsResponse"]["Item"] == []


def test_unknown_segment_is_not_found(pinpoint, shared):
    app_id, segment_id = shared
    missing = "d" * 32
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        create(pinpoint, app_id, minimal(missing))
    assert missing in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        create(pinpoint, app_id, minimal(segment_id, SegmentVersion=9))
    assert segment_id in error(caught) and "version 9" in error(caught)


# --- the webhook ownership check: a HEAD must answer X-Amz-Pinpoint-AccountId ------------


def webhook_campaign(segment_id: str, url: str, **extra) -> dict:
    return minimal(
        segment_id,
        MessageConfiguration={"CustomMessage": {"Data": "{}"}},
        CustomDeliveryConfiguration={"DeliveryUri": url},
        **extra,
    )


def test_webhook_that_answers_the_ownership_check(pinpoint, app_id, segment_id, webhook_receiver):
    campaign = create(pinpoint, app_id, webhook_campaign(segment_id, webhook_receiver.url))
    assert campaign["CustomDeliveryConfiguration"] == {"DeliveryUri": webhook_receiver.url}
    assert webhook_receiver.heads == ["/hook"]
    assert webhook_receiver.posts == []  # creating a campaign delivers nothing


def test_webhook_without_the_account_header_is_refused(pinpoint, app_id, segment_id):
    with (
        Receiver(account_id=None) as stranger,
        pytest.raises(pinpoint.exceptions.BadRequestException) as caught,
    ):
        create(pinpoint, app_id, webhook_campaign(segment_id, stranger.url))
    message = error(caught)
    assert "WriteCampaignRequest.CustomDeliveryConfiguration.DeliveryUri" in message
    assert stranger.url in message
    assert f"answer 2xx with header X-Amz-Pinpoint-AccountId: {ACCOUNT}" in message
    assert "--no-webhook-ownership-check" in message
    assert pinpoint.get_campaigns(ApplicationId=app_id)["CampaignsResponse"]["Item"] == []


def test_webhook_of_another_account_is_refused(pinpoint, app_id, segment_id):
    with (
        Receiver(account_id="111122223333") as other,
        pytest.raises(pinpoint.exceptions.BadRequestException) as caught,
    ):
        create(pinpoint, app_id, webhook_campaign(segment_id, other.url))
    # The same message as for any other failure: what came back is not told.
    assert "111122223333" not in error(caught)
    assert f"X-Amz-Pinpoint-AccountId: {ACCOUNT}" in error(caught)


def test_a_treatment_webhook_is_checked_too(pinpoint, app_id, segment_id, webhook_receiver):
    treatments = [
        {"SizePercent": 10, "CustomDeliveryConfiguration": {"DeliveryUri": webhook_receiver.url}},
        {"SizePercent": 10, "CustomDeliveryConfiguration": {"DeliveryUri": "my-function"}},
    ]
    with Receiver(account_id=None) as stranger:
        treatments.append(
            {"SizePercent": 10, "CustomDeliveryConfiguration": {"DeliveryUri": stranger.url}}
        )
        request = webhook_campaign(
            segment_id, webhook_receiver.url, AdditionalTreatments=treatments
        )
        with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
            create(pinpoint, app_id, request)
    member = "WriteCampaignRequest.AdditionalTreatments[2].CustomDeliveryConfiguration.DeliveryUri"
    assert f"{member} {stranger.url}" in error(caught)
    assert webhook_receiver.heads == ["/hook"]  # a URL named twice is asked once


def test_an_unreachable_webhook_is_refused(pinpoint, app_id, segment_id):
    with Receiver() as gone:
        url = gone.url
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        create(pinpoint, app_id, webhook_campaign(segment_id, url))
    assert f"DeliveryUri {url}: a HEAD request must answer 2xx" in error(caught)
    assert "refused" not in error(caught)


def test_an_invalid_request_is_refused_before_any_head(
    pinpoint, app_id, segment_id, webhook_receiver
):
    request = webhook_campaign(segment_id, webhook_receiver.url, Limits={"Daily": 101})
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        create(pinpoint, app_id, request)
    assert "Limits.Daily" in error(caught)
    campaign = create(pinpoint, app_id, minimal(segment_id))
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        update(
            pinpoint,
            app_id,
            campaign["Id"],
            {
                "CustomDeliveryConfiguration": {"DeliveryUri": webhook_receiver.url},
                "HoldoutPercent": 101,
            },
        )
    assert webhook_receiver.heads == []


def test_update_to_a_webhook_that_fails_the_check(pinpoint, app_id, segment_id, webhook_receiver):
    campaign = create(pinpoint, app_id, webhook_campaign(segment_id, webhook_receiver.url))
    with Receiver(account_id=None) as stranger:
        with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
            update(
                pinpoint,
                app_id,
                campaign["Id"],
                {"CustomDeliveryConfiguration": {"DeliveryUri": stranger.url}},
            )
        assert stranger.heads == ["/hook"]
    assert "CustomDeliveryConfiguration.DeliveryUri" in error(caught)
    assert "X-Amz-Pinpoint-AccountId" in error(caught)
    assert get(pinpoint, app_id, campaign["Id"]) == campaign

    with Receiver() as owned:
        moved = update(
            pinpoint,
            app_id,
            campaign["Id"],
            {"CustomDeliveryConfiguration": {"DeliveryUri": owned.url}},
        )
        assert owned.heads == ["/hook"]
    assert moved["CustomDeliveryConfiguration"] == {"DeliveryUri": owned.url}


def test_an_unchanged_webhook_is_not_checked_again(pinpoint, app_id, segment_id, webhook_receiver):
    treatment = {
        "SizePercent": 10,
        "CustomDeliveryConfiguration": {"DeliveryUri": webhook_receiver.url},
    }
    request = webhook_campaign(segment_id, webhook_receiver.url, AdditionalTreatments=[treatment])
    campaign = create(pinpoint, app_id, request)
    assert webhook_receiver.heads == ["/hook"]
    # From now on the receiver would fail the check; updates that keep its URL never ask.
    webhook_receiver.account_id = None

    update(pinpoint, app_id, campaign["Id"], {"Name": "renamed"})
    same = {"DeliveryUri": webhook_receiver.url, "EndpointTypes": ["CUSTOM", "EMAIL"]}
    update(pinpoint, app_id, campaign["Id"], {"CustomDeliveryConfiguration": same})
    updated = update(
        pinpoint,
        app_id,
        campaign["Id"],
        {"AdditionalTreatments": [{**treatment, "SizePercent": 20}, treatment]},
    )
    assert [t["SizePercent"] for t in updated["AdditionalTreatments"]] == [20, 10]
    assert updated["CustomDeliveryConfiguration"] == same
    assert webhook_receiver.heads == ["/hook"]


@pytest.fixture(scope="module")
def unchecked(server, database_url, tmp_path_factory):
    """A second server on the same store, started with --no-webhook-ownership-check."""
    log = tmp_path_factory.mktemp("unchecked") / "server.log"
    srv = Server(database_url, log, TIDINGS_WEBHOOK_OWNERSHIP_CHECK="false").start()
    yield srv
    srv.stop()


def test_the_check_can_be_turned_off(unchecked, webhook_receiver):
    pinpoint = unchecked.client("pinpoint")
    app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "unchecked"})[
        "ApplicationResponse"
    ]["Id"]
    segment_id = new_segment(pinpoint, app_id)
    webhook_receiver.account_id = None
    for url in ("https://hooks.example.org/x?y=1", webhook_receiver.url):
        campaign = create(pinpoint, app_id, webhook_campaign(segment_id, url))
        assert campaign["CustomDeliveryConfiguration"] == {"DeliveryUri": url}
    assert webhook_receiver.heads == []
    # URL validation still applies: plain http only on loopback.
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        create(pinpoint, app_id, webhook_campaign(segment_id, "http://hooks.example.org/x"))
    assert "must be an https:// URL" in error(caught)
