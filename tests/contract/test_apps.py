"""Apps (projects), settings and tags through boto3 and the AWS CLI against a live server."""

from __future__ import annotations

import pytest

from tests.conftest import ACCOUNT, REGION


def test_create_get_delete_app(pinpoint):
    created = pinpoint.create_app(CreateApplicationRequest={"Name": "shop", "tags": {"team": "growth"}})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    app = created["ApplicationResponse"]
    assert len(app["Id"]) == 32 and all(c in "0123456789abcdef" for c in app["Id"])
    assert app["Arn"] == f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{app['Id']}"
    assert app["Name"] == "shop"
    assert app["tags"] == {"team": "growth"}
    assert app["CreationDate"].endswith("Z") and len(app["CreationDate"]) == 24

    assert pinpoint.get_app(ApplicationId=app["Id"])["ApplicationResponse"] == app

    deleted = pinpoint.delete_app(ApplicationId=app["Id"])["ApplicationResponse"]
    assert deleted["Id"] == app["Id"]
    with pytest.raises(pinpoint.exceptions.NotFoundException) as caught:
        pinpoint.get_app(ApplicationId=app["Id"])
    assert app["Id"] in caught.value.response["Error"]["Message"]
