"""TagResource, UntagResource and ListTagsForResource; DeleteApp removes everything in the app."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tidings.store import schema
from tidings.store.db import Database


@pytest.fixture
def resources(pinpoint, app_id):
    segment = pinpoint.create_segment(ApplicationId=app_id, WriteSegmentRequest={"Name": "all"})["SegmentResponse"]
    campaign = pinpoint.create_campaign(
        ApplicationId=app_id,
        WriteCampaignRequest={
            "Name": "c",
            "SegmentId": segment["Id"],
            "Schedule": {"StartTime": "IMMEDIATE"},
            "tags": {"stage": "test"},
        },
    )["CampaignResponse"]
    app_arn = pinpoint.get_app(ApplicationId=app_id)["ApplicationResponse"]["Arn"]
    return {"app": app_arn, "segment": segment["Arn"], "campaign": campaign["Arn"]}


@pytest.mark.parametrize("kind", ["app", "segment", "campaign"])
def test_tag_list_untag(pinpoint, resources, kind):
    arn = resources[kind]
    pinpoint.tag_resource(ResourceArn=arn, TagsModel={"tags": {"team": "growth", "cost": "42"}})
    tags = pinpoint.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"]
    assert tags["team"] == "growth" and tags["cost"] == "42"
    pinpoint.untag_resource(ResourceArn=arn, TagKeys=["cost"])
    tags = pinpoint.list_tags_for_resource(ResourceArn=arn)["TagsModel"]["tags"]
    assert "cost" not in tags and tags["team"] == "growth"


def test_tags_show_on_the_resource(pinpoint, app_id, resources):
    pinpoint.tag_resource(ResourceArn=resources["campaign"], TagsModel={"tags": {"owner": "ana"}})
    campaign_id = resources["campaign"].rsplit("/", 1)[1]
    campaign = pinpoint.get_campaign(ApplicationId=app_id, CampaignId=campaign_id)["CampaignResponse"]
    assert campaign["tags"] == {"stage": "test", "owner": "ana"}


def test_older_arn_spelling_names_the_same_campaign(pinpoint, resources):
    old_style = resources["campaign"].replace(":apps/", ":/apps/")
    pinpoint.tag_resource(ResourceArn=old_style, TagsModel={"tags": {"legacy": "yes"}})
    tags = pinpoint.list_tags_for_resource(ResourceArn=resources["campaign"])["TagsModel"]["tags"]
    assert tags["legacy"] == "yes"


def test_tag_errors(pinpoint, app_id, resources):
    missing = resources["campaign"].rsplit("/", 1)[0] + "/0123456789abcdef0123456789abcdef"
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        pinpoint.list_tags_for_resource(ResourceArn=missing)
    assert "0123456789abcdef0123456789abcdef" in caught.value.response["Error"]["Message"]
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.tag_resource(ResourceArn="arn:aws:s3:::bucket", TagsModel={"tags": {"a": "b"}})
    assert "resource-arn" in caught.value.response["Error"]["Message"]
    other_account = resources["app"].replace(":000000000000:", ":111122223333:")
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.list_tags_for_resource(ResourceArn=other_account)
    too_many = {f"k{i}": "v" for i in range(51)}
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.tag_resource(ResourceArn=resources["app"], TagsModel={"tags": too_many})
    assert "at most 50" in caught.value.response["Error"]["Message"]


def test_delete_app_removes_everything_in_it(server, pinpoint, app_id, resources):
    pinpoint.update_endpoints_batch(
        ApplicationId=app_id,
        EndpointBatchRequest={"Item": [{"Id": f"e{i}", "ChannelType": "SMS", "Address": f"+1555000{i}"} for i in range(3)]},
    )
    pinpoint.update_application_settings(
        ApplicationId=app_id, WriteApplicationSettingsRequest={"Limits": {"Daily": 3}}
    )
    pinpoint.delete_app(ApplicationId=app_id)

    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.list_tags_for_resource(ResourceArn=resources["campaign"])
    with pytest.raises(pinpoint.exceptions.NotFoundException):
        pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="e0")

    db = Database(server.database_url)
    try:
        with db.read() as conn:
            owned = [t for t in schema.metadata.sorted_tables if "app_id" in t.c or t is schema.apps]
            for table in owned:
                column = table.c.app_id if "app_id" in table.c else table.c.id
                left = conn.execute(select(func.count()).select_from(table).where(column == app_id)).scalar()
                assert left == 0, f"{table.name} still holds {left} row(s) of the deleted app"
    finally:
        db.dispose()
