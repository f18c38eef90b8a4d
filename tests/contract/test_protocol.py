"""What goes over the wire: error shapes, status codes, unimplemented operations, limits."""

from __future__ import annotations

import json

import pytest

from tests.pages import all_pages


def raw(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    return server.raw(method, path, body, headers)


def test_errors_carry_pinpoints_shape(server):
    status, headers, body = raw(server, "GET", "/v1/apps/0123456789abcdef0123456789abcdef")
    assert status == 404
    assert headers["x-amzn-errortype"] == "NotFoundException"
    doc = json.loads(body)
    assert set(doc) == {"Message", "RequestID"}
    assert doc["RequestID"] == headers["x-amzn-requestid"]
    assert "0123456789abcdef0123456789abcdef" in doc["Message"]


def test_boto3_raises_the_modeled_exception_with_message(pinpoint):
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.create_app(CreateApplicationRequest={"Name": ""})
    assert "CreateApplicationRequest.Name" in caught.value.response["Error"]["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unimplemented_operation_names_itself(pinpoint, app_id):
    with pytest.raises(pinpoint.exceptions.MethodNotAllowedException) as caught:
        pinpoint.list_journeys(ApplicationId=app_id)
    assert "ListJourneys" in caught.value.response["Error"]["Message"]


def test_unknown_path_and_wrong_method(server):
    status, headers, body = raw(server, "GET", "/v9/whatever")
    assert status == 404
    assert headers["x-amzn-errortype"] == "UnknownOperationException"
    assert "/v9/whatever" in json.loads(body)["Message"]

    status, headers, body = raw(server, "PATCH", "/v1/apps")
    assert status == 405
    assert headers["x-amzn-errortype"] == "MethodNotAllowedException"
    assert headers["allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b'["a list"]', "expected an object"),
        (b'{"Name": "x", "Colour": "red"}', "CreateApplicationRequest.Colour"),
    ],
)
def test_bad_bodies_are_bad_requests(server, body, fragment):
    status, headers, data = raw(server, "POST", "/v1/apps", body, {"Content-Type": "application/json"})
    assert status == 400
    assert headers["x-amzn-errortype"] == "BadRequestException"
    assert fragment in json.loads(data)["Message"]


def test_oversized_body_is_payload_too_large(server):
    body = b'{"Name": "' + b"x" * (7 * 1024 * 1024 + 1) + b'"}'
    status, headers, _ = raw(server, "POST", "/v1/apps", body, {"Content-Type": "application/json"})
    assert status == 413
    assert headers["x-amzn-errortype"] == "PayloadTooLargeException"


def test_success_codes_follow_the_model(pinpoint, app_id):
    assert pinpoint.get_app(ApplicationId=app_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    result = pinpoint.update_endpoint(ApplicationId=app_id, EndpointId="e1", EndpointRequest={"ChannelType": "SMS"})
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert result["MessageBody"]["RequestID"] == result["ResponseMetadata"]["RequestId"]


def test_paging_with_page_size_and_token(pinpoint):
    ids = {pinpoint.create_app(CreateApplicationRequest={"Name": f"p{i}"})["ApplicationResponse"]["Id"] for i in range(5)}
    items, pages = all_pages(pinpoint.get_apps, "ApplicationsResponse", 2)
    seen = [item["Id"] for item in items]
    assert ids <= set(seen)
    assert len(seen) == len(set(seen))
    assert pages >= 3


@pytest.mark.parametrize(("size", "token"), [("0", None), ("lots", None), ("5000", None), ("2", "not-a-token")])
def test_bad_paging_parameters_are_named(pinpoint, size, token):
    kwargs = {"PageSize": size} | ({"Token": token} if token else {})
    with pytest.raises(pinpoint.exceptions.BadRequestException) as caught:
        pinpoint.get_apps(**kwargs)
    assert ("token" if token else "page-size") in caught.value.response["Error"]["Message"]


def test_dates_have_milliseconds_and_z(pinpoint, app_id):
    pinpoint.update_endpoint(ApplicationId=app_id, EndpointId="e1", EndpointRequest={"ChannelType": "SMS"})
    endpoint = pinpoint.get_endpoint(ApplicationId=app_id, EndpointId="e1")["EndpointResponse"]
    for key in ("CreationDate", "EffectiveDate"):
        value = endpoint[key]
        assert len(value) == 24 and value[19] == "." and value.endswith("Z"), value
