"""Segments and their versions through boto3 and the AWS CLI against a live server."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ACCOUNT, REGION
from tests.pages import all_pages

HEX32 = re.compile(r"[0-9a-f]{32}")
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

# Every member of SegmentDimensions, every AttributeType and every ComparisonOperator.
EVERY_DIMENSION = {
    "Attributes": {
        "plan": {"AttributeType": "INCLUSIVE", "Values": ["pro", "team"]},
        "region": {"AttributeType": "EXCLUSIVE", "Values": ["eu"]},
        "bio": {"AttributeType": "CONTAINS", "Values": ["chef"]},
        "signup": {"AttributeType": "BEFORE", "Values": ["2026-01-01T00:00:00Z"]},
        "renewal": {"AttributeType": "AFTER", "Values": ["2025-06-01T12:30:00.000Z"]},
        "birthday": {"AttributeType": "ON", "Values": ["2000-02-29"]},
        "trial": {
            "AttributeType": "BETWEEN",
            "Values": ["2025-01-01T00:00:00Z", "2025-12-31T23:59:59Z"],
        },
        "untyped": {"Values": ["x"]},
    },
    "UserAttributes": {"tier": {"AttributeType": "INCLUSIVE", "Values": ["gold"]}},
    "Metrics": {
        "score": {"ComparisonOperator": "GREATER_THAN", "Value": 1.5},
        "visits": {"ComparisonOperator": "LESS_THAN", "Value": 10.0},
        "orders": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 2.0},
        "refunds": {"ComparisonOperator": "LESS_THAN_OR_EQUAL", "Value": 0.0},
        "level": {"ComparisonOperator": "EQUAL", "Value": 3.0},
    },
    "Behavior": {"Recency": {"Duration": "DAY_30", "RecencyType": "ACTIVE"}},
    "Demographic": {
        "AppVersion": {"DimensionType": "INCLUSIVE", "Values": ["1.2.3"]},
        "Channel": {"DimensionType": "INCLUSIVE", "Values": ["CUSTOM", "EMAIL"]},
        "DeviceType": {"DimensionType": "EXCLUSIVE", "Values": ["tablet"]},
        "Make": {"Values": ["Apple"]},
        "Model": {"DimensionType": "INCLUSIVE", "Values": ["iPhone"]},
        "Platform": {"DimensionType": "EXCLUSIVE", "Values": ["android"]},
    },
    "Location": {
        "Country": {"DimensionType": "INCLUSIVE", "Values": ["US", "CA"]},
        "GPSPoint": {
            "Coordinates": {"Latitude": 47.61, "Longitude": -122.33},
            "RangeInKilometers": 25.5,
        },
    },
}
PRO = {"Attributes": {"plan": {"AttributeType": "INCLUSIVE", "Values": ["pro"]}}}
EMAIL = {"Demographic": {"Channel": {"Values": ["EMAIL"]}}}


def create(pinpoint, app_id: str, **request) -> dict:
    return pinpoint.create_segment(ApplicationId=app_id, WriteSegmentRequest=request)[
        "SegmentResponse"
    ]


def update(pinpoint, app_id: str, segment_id: str, **request) -> dict:
    return pinpoint.update_segment(
        ApplicationId=app_id, SegmentId=segment_id, WriteSegmentRequest=request
    )["SegmentResponse"]


def error(caught) -> str:
    return caught.value.response["Error"]["Message"]


def test_create_segment(pinpoint, app_id):
    created = pinpoint.create_segment(
        ApplicationId=app_id,
        WriteSegmentRequest={"Name": "pro users", "Dimensions": PRO, "tags": {"team": "growth"}},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    segment = created["SegmentResponse"]
    assert HEX32.fullmatch(segment["Id"])
    assert (
        segment["Arn"]
        == f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{app_id}/segments/{segment['Id']}"
    )
    assert segment["ApplicationId"] == app_id
    assert segment["Name"] == "pro users"
    assert segment["SegmentType"] == "DIMENSIONAL"
    assert segment["Version"] == 1
    assert segment["Dimensions"] == PRO
    assert "SegmentGroups" not in segment
    assert segment["tags"] == {"team": "growth"}
    assert DATE.fullmatch(segment["CreationDate"])
    assert segment["LastModifiedDate"] == segment["CreationDate"]

    assert (
        pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment["Id"])["SegmentResponse"]
        == segment
    )
    tags = pinpoint.list_tags_for_resource(ResourceArn=segment["Arn"])["TagsModel"]["tags"]
    assert tags == {"team": "growth"}


def test_every_dimension_is_stored_and_echoed_exactly(server, app_id):
    # Through the AWS CLI: its JSON goes on the wire as written, nothing reshaped by boto3 code.
    done = server.aws(
        "pinpoint",
        "create-segment",
        "--application-id",
        app_id,
        "--write-segment-request",
        json.dumps({"Name": "everything", "Dimensions": EVERY_DIMENSION}),
    )
    segment = done.json["SegmentResponse"]
    assert segment["Dimensions"] == EVERY_DIMENSION

    fetched = server.client("pinpoint").get_segment(ApplicationId=app_id, SegmentId=segment["Id"])
    assert fetched["SegmentResponse"]["Dimensions"] == EVERY_DIMENSION


def test_segment_groups_with_source_segments(pinpoint, app_id):
    pro = create(pinpoint, app_id, Name="pro", Dimensions=PRO)
    email = create(pinpoint, app_id, Name="email", Dimensions=EMAIL)
    groups = {
        "Groups": [
            {
                "SourceSegments": [{"Id": pro["Id"], "Version": 1}, {"Id": email["Id"]}],
                "SourceType": "ANY",
                "Dimensions": [
                    EMAIL,
                    {"Metrics": {"score": {"ComparisonOperator": "EQUAL", "Value": 1.0}}},
                ],
                "Type": "ALL",
            }
        ],
        "Include": "ALL",
    }
    segment = create(pinpoint, app_id, Name="pro or email", SegmentGroups=groups)
    assert segment["SegmentGroups"] == groups
    assert "Dimensions" not in segment
    assert segment["SegmentType"] == "DIMENSIONAL"
    got = pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment["Id"])["SegmentResponse"]
    assert got["SegmentGroups"] == groups


def test_unknown_source_segment_is_not_found(pinpoint, app_id):
    missing = "0" * 32
    groups = {"Groups": [{"SourceSegments": [{"Id": missing}]}], "Include": "ALL"}
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        create(pinpoint, app_id, Name="g", SegmentGroups=groups)
    assert missing in error(caught)
    assert "SourceSegments[0]" in error(caught)

    pro = create(pinpoint, app_id, Name="pro", Dimensions=PRO)
    groups = {"Groups": [{"SourceSegments": [{"Id": pro["Id"], "Version": 2}]}]}
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        create(pinpoint, app_id, Name="g", SegmentGroups=groups)
    assert pro["Id"] in error(caught) and "version 2" in error(caught)
    assert pinpoint.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"] == [
        pinpoint.get_segment(ApplicationId=app_id, SegmentId=pro["Id"])["SegmentResponse"]
    ]


def test_dimensions_and_segment_groups_together_are_refused(pinpoint, app_id):
    pro = create(pinpoint, app_id, Name="pro", Dimensions=PRO)
    groups = {"Groups": [{"SourceSegments": [{"Id": pro["Id"]}]}]}
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        create(pinpoint, app_id, Name="both", Dimensions=EMAIL, SegmentGroups=groups)
    assert "Dimensions" in error(caught) and "SegmentGroups" in error(caught)
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        update(pinpoint, app_id, pro["Id"], Dimensions=EMAIL, SegmentGroups=groups)
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        create(pinpoint, app_id, Name="empty dims", Dimensions={}, SegmentGroups=groups)
    assert (
        pinpoint.get_segment(ApplicationId=app_id, SegmentId=pro["Id"])["SegmentResponse"][
            "Version"
        ]
        == 1
    )


def test_at_most_100_dimensions(pinpoint, app_id):
    def attributes(count: int) -> dict:
        return {"Attributes": {f"a{i}": {"Values": ["x"]} for i in range(count)}}

    assert create(pinpoint, app_id, Name="100", Dimensions=attributes(100))["Version"] == 1
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        create(pinpoint, app_id, Name="101", Dimensions=attributes(101))
    assert "101" in error(caught) and "100" in error(caught)
    # The limit counts every kind of dimension, not only attributes.
    with pytest.raises(pinpoint.exceptions.BadRequestException):
        create(pinpoint, app_id, Name="100+1", Dimensions={**attributes(100), **EMAIL})


@pytest.mark.parametrize(
    ("dimension", "wanted"),
    [
        (
            {"AttributeType": "BETWEEN", "Values": ["2025-01-01T00:00:00Z"]},
            "Attributes.when.Values",
        ),
        ({"AttributeType": "BEFORE", "Values": ["last tuesday"]}, "'last tuesday'"),
        ({"AttributeType": "AFTER", "Values": ["2025-13-01T00:00:00Z"]}, "Attributes.when.Values"),
        ({"AttributeType": "INCLUSIVE", "Values": []}, "Attributes.when.Values"),
    ],
    ids=["between-one-value", "not-a-date", "month-13", "no-values"],
)
def test_bad_attribute_dimension_is_refused(pinpoint, app_id, dimension, wanted):
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        create(pinpoint, app_id, Name="bad", Dimensions={"Attributes": {"when": dimension}})
    assert wanted in error(caught)


def test_bad_dimension_inside_a_group_is_refused(pinpoint, app_id):
    groups = {
        "Groups": [
            {
                "Dimensions": [
                    EMAIL,
                    {"Attributes": {"d": {"AttributeType": "ON", "Values": ["soon"]}}},
                ]
            }
        ]
    }
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        create(pinpoint, app_id, Name="bad", SegmentGroups=groups)
    assert "SegmentGroups.Groups[0].Dimensions[1].Attributes.d.Values" in error(caught)


def test_update_segment(pinpoint, app_id):
    segment = create(pinpoint, app_id, Name="pro", Dimensions=PRO, tags={"k": "v"})

    renamed = update(pinpoint, app_id, segment["Id"], Name="pro users")
    assert renamed["Version"] == 2
    assert renamed["Name"] == "pro users"
    assert renamed["Dimensions"] == PRO  # left out, so kept
    assert renamed["CreationDate"] == segment["CreationDate"]
    assert renamed["LastModifiedDate"] >= segment["LastModifiedDate"]
    assert renamed["tags"] == {"k": "v"}

    redimensioned = update(pinpoint, app_id, segment["Id"], Dimensions=EMAIL)
    assert redimensioned["Version"] == 3
    assert redimensioned["Name"] == "pro users"
    assert redimensioned["Dimensions"] == EMAIL
    assert (
        pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment["Id"])["SegmentResponse"]
        == redimensioned
    )


def test_update_switches_between_dimensions_and_groups(pinpoint, app_id):
    base = create(pinpoint, app_id, Name="base", Dimensions=PRO)
    segment = create(pinpoint, app_id, Name="s", Dimensions=PRO)
    groups = {"Groups": [{"SourceSegments": [{"Id": base["Id"]}]}], "Include": "ANY"}

    grouped = update(pinpoint, app_id, segment["Id"], SegmentGroups=groups)
    assert grouped["SegmentGroups"] == groups
    assert "Dimensions" not in grouped

    dimensional = update(pinpoint, app_id, segment["Id"], Dimensions=EMAIL)
    assert dimensional["Dimensions"] == EMAIL
    assert "SegmentGroups" not in dimensional
    assert dimensional["Version"] == 3
    got = pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment["Id"])["SegmentResponse"]
    assert "SegmentGroups" not in got


def test_segment_cannot_include_itself(pinpoint, app_id):
    first = create(pinpoint, app_id, Name="first", Dimensions=PRO)
    direct = {"Groups": [{"SourceSegments": [{"Id": first["Id"]}]}]}
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        update(pinpoint, app_id, first["Id"], SegmentGroups=direct)
    assert "SegmentGroups" in error(caught)

    # Through another segment: second includes first, so first may not include second.
    second = create(pinpoint, app_id, Name="second", SegmentGroups=direct)
    loop = {"Groups": [{"SourceSegments": [{"Id": second["Id"]}]}]}
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        update(pinpoint, app_id, first["Id"], SegmentGroups=loop)
    assert "SegmentGroups" in error(caught)

    latest = pinpoint.get_segment(ApplicationId=app_id, SegmentId=first["Id"])["SegmentResponse"]
    assert latest["Version"] == 1 and latest["Dimensions"] == PRO


def test_segment_versions(server, pinpoint, app_id):
    segment = create(pinpoint, app_id, Name="v1", Dimensions=PRO)
    update(pinpoint, app_id, segment["Id"], Name="v2")
    update(pinpoint, app_id, segment["Id"], Name="v3", Dimensions=EMAIL)

    first = pinpoint.get_segment_versions(
        ApplicationId=app_id, SegmentId=segment["Id"], PageSize="2"
    )
    page = first["SegmentsResponse"]
    assert [(s["Version"], s["Name"]) for s in page["Item"]] == [(1, "v1"), (2, "v2")]
    assert page["NextToken"]
    second = pinpoint.get_segment_versions(
        ApplicationId=app_id, SegmentId=segment["Id"], PageSize="2", Token=page["NextToken"]
    )["SegmentsResponse"]
    assert [(s["Version"], s["Name"]) for s in second["Item"]] == [(3, "v3")]
    assert not second.get("NextToken")
    assert second["Item"][0]["Dimensions"] == EMAIL

    old = pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=segment["Id"], Version="2")
    assert old["SegmentResponse"]["Name"] == "v2"
    assert old["SegmentResponse"]["Dimensions"] == PRO
    assert old["SegmentResponse"]["Id"] == segment["Id"]

    done = server.aws(
        "pinpoint",
        "get-segment-version",
        "--application-id",
        app_id,
        "--segment-id",
        segment["Id"],
        "--segment-version",
        "1",
    )
    assert done.json["SegmentResponse"]["Name"] == "v1"

    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=segment["Id"], Version="x")
    assert "'x'" in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=segment["Id"], Version="4")
    assert segment["Id"] in error(caught) and "4" in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment_versions(ApplicationId=app_id, SegmentId="f" * 32)


def test_get_segments_pages(pinpoint, app_id):
    made = [create(pinpoint, app_id, Name=f"s{i}", Dimensions=PRO)["Id"] for i in range(3)]
    update(pinpoint, app_id, made[1], Name="s1 renamed")

    seen, pages = all_pages(pinpoint.get_segments, "SegmentsResponse", 2, ApplicationId=app_id)
    assert pages == 2
    assert sorted(s["Id"] for s in seen) == sorted(made)
    by_id = {s["Id"]: s for s in seen}
    assert by_id[made[1]]["Name"] == "s1 renamed" and by_id[made[1]]["Version"] == 2

    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.get_segments(ApplicationId=app_id, Token="not-a-token")
    assert "token" in error(caught)


def test_delete_segment(pinpoint, app_id):
    segment = create(pinpoint, app_id, Name="doomed", Dimensions=PRO, tags={"k": "v"})
    campaign = pinpoint.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "c",
            "SegmentId": segment["Id"],
            "Schedule": {"StartTime": "2099-01-01T00:00:00Z", "Frequency": "ONCE"},
        },
    )["CampaignResponse"]
    assert campaign["State"] == {"CampaignStatus": "SCHEDULED"}

    deleted = pinpoint.delete_segment(ApplicationId=app_id, SegmentId=segment["Id"])[
        "SegmentResponse"
    ]
    assert (
        deleted["Id"] == segment["Id"]
        and deleted["Name"] == "doomed"
        and deleted["tags"] == {"k": "v"}
    )

    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        pinpoint.get_segment(ApplicationId=app_id, SegmentId=segment["Id"])
    assert segment["Id"] in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment_version(ApplicationId=app_id, SegmentId=segment["Id"], Version="1")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.delete_segment(ApplicationId=app_id, SegmentId=segment["Id"])
    assert pinpoint.get_segments(ApplicationId=app_id)["SegmentsResponse"]["Item"] == []

    got = pinpoint.get_campaign(ApplicationId=app_id, CampaignId=campaign["Id"])["CampaignResponse"]
    assert got["State"] == {"CampaignStatus": "DELETED"}


def test_segments_of_an_unknown_app_are_not_found(pinpoint):
    missing = "a" * 32
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        create(pinpoint, missing, Name="s", Dimensions=PRO)
    assert missing in error(caught)
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segments(ApplicationId=missing)


def test_unknown_segment_is_not_found(pinpoint, app_id):
    missing = "b" * 32
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        update(pinpoint, app_id, missing, Name="x")
    assert missing in error(caught)
    # A segment belongs to one application only.
    segment = create(pinpoint, app_id, Name="mine", Dimensions=PRO)
    other_app = pinpoint.create_app(CreateApplicationRequest={"Name": "other"})[
        "ApplicationResponse"
    ]["Id"]
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_segment(ApplicationId=other_app, SegmentId=segment["Id"])
