"""The wire layer on its own: routes from the models, parsing and validation, responses."""

from __future__ import annotations

import re
from urllib.parse import quote

import orjson
import pytest

from tidings.domain.errors import InvalidInput, NotFound
from tidings.server import services
from tidings.wire import shapes
from tidings.wire.protocol import parse_request, serialize_response
from tidings.wire.routing import MethodNotAllowed, Router

SERVICES = services()
PINPOINT = SERVICES[0].model
ROUTER = Router(SERVICES)


def _sample_path(uri: str) -> tuple[str, dict[str, str]]:
    """Fill every label of a request URI with an awkward value, encoded as botocore does."""
    values = {}

    def fill(found: re.Match) -> str:
        name = found.group(1)
        values[name] = f"{name} /:x"
        return quote(values[name], safe="")

    return re.sub(r"\{([^}+]+)\+?\}", fill, uri.split("?")[0]), values


@pytest.mark.parametrize("name", PINPOINT.operation_names)
def test_every_pinpoint_operation_routes_to_itself(name):
    operation = PINPOINT.operation_model(name)
    path, values = _sample_path(operation.http["requestUri"])
    route, labels = ROUTER.match(operation.http["method"], path, {})
    assert route.operation.name == name
    assert labels == values  # percent-encoded labels, "/" included, come back decoded


def test_literal_segments_win_over_labels():
    route, labels = ROUTER.match("GET", "/v1/apps/a1/segments/s1/versions", {})
    assert route.operation.name == "GetSegmentVersions"
    route, _ = ROUTER.match("GET", "/v1/apps/a1/segments/s1/versions/3", {})
    assert route.operation.name == "GetSegmentVersion"


def test_wrong_method_names_the_allowed_ones():
    with pytest.raises(MethodNotAllowed) as caught:
        ROUTER.match("PATCH", "/v1/apps/a1", {})
    assert "DELETE" in caught.value.message and "GET" in caught.value.message
    assert caught.value.extra["allow"] == "DELETE, GET"


def test_unknown_path_is_named():
    with pytest.raises(NotFound) as caught:
        ROUTER.match("GET", "/v2/nothing", {})
    assert "/v2/nothing" in caught.value.message
    assert caught.value.code == "UnknownOperationException"


def _parse(name: str, body: bytes = b"", labels=None, query=None, headers=None):
    return parse_request(PINPOINT.operation_model(name), labels or {}, query or {}, headers or {}, body)


def test_payload_member_holds_the_bare_body():
    params = _parse("CreateApp", b'{"Name": "x", "tags": {"a": "b"}}')
    assert params == {"CreateApplicationRequest": {"Name": "x", "tags": {"a": "b"}}}


@pytest.mark.parametrize(
    ("body", "member", "fragment"),
    [
        (b"{}", "CreateApplicationRequest.Name", "Missing required member"),
        (b'{"Name": 3}', "CreateApplicationRequest.Name", "expected a string"),
        (b'{"Name": "x", "Nmae": "y"}', "CreateApplicationRequest.Nmae", "no member 'Nmae'"),
        (b'{"Name": "x", "tags": {"a": 1}}', "CreateApplicationRequest.tags.a", "expected a string"),
    ],
)
def test_invalid_bodies_name_the_member(body, member, fragment):
    with pytest.raises(InvalidInput) as caught:
        _parse("CreateApp", body)
    assert member in caught.value.message
    assert fragment in caught.value.message


def test_nested_enums_types_and_lists_are_checked():
    body = b'{"Name": "c", "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "SOMETIMES"}}'
    with pytest.raises(InvalidInput) as caught:
        _parse("CreateCampaign", body, labels={"application-id": "a"})
    assert "WriteCampaignRequest.Schedule.Frequency" in caught.value.message
    assert "ONCE" in caught.value.message

    body = b'{"Item": [{"Id": "e", "Metrics": {"m": "high"}}]}'
    with pytest.raises(InvalidInput) as caught:
        _parse("UpdateEndpointsBatch", body, labels={"application-id": "a"})
    assert "EndpointBatchRequest.Item[0].Metrics.m" in caught.value.message

    with pytest.raises(InvalidInput) as caught:
        _parse("CreateApp", b'{"Name": "x", "tags": ["a"]}')
    assert "expected an object" in caught.value.message


def test_malformed_json_is_a_bad_request():
    with pytest.raises(InvalidInput) as caught:
        _parse("CreateApp", b'{"Name": ')
    assert "not valid JSON" in caught.value.message


def test_missing_body_is_named():
    with pytest.raises(InvalidInput) as caught:
        _parse("CreateApp", b"")
    assert "CreateApplicationRequest" in caught.value.message


def test_query_lists_and_labels():
    params = _parse("UntagResource", labels={"resource-arn": "arn:x"}, query={"tagKeys": ["a", "b"]})
    assert params == {"ResourceArn": "arn:x", "TagKeys": ["a", "b"]}


def test_responses_use_the_model_status_and_drop_nulls():
    operation = PINPOINT.operation_model("CreateApp")
    output = {"ApplicationResponse": {"Arn": "a", "Id": "i", "Name": "n", "tags": None}}
    status, headers, body, content_type = serialize_response(operation, output)
    assert status == 201
    assert body == b'{"Arn":"a","Id":"i","Name":"n"}'
    assert content_type == "application/json"

    status, _, body, _ = serialize_response(PINPOINT.operation_model("TagResource"), {})
    assert (status, body) == (204, b"")


def test_strict_output_rejects_members_the_shape_lacks():
    operation = PINPOINT.operation_model("GetApp")
    with pytest.raises(AssertionError):
        serialize_response(operation, {"ApplicationResponse": {"Id": "i", "Bogus": 1}}, strict=True)
    _, _, body, _ = serialize_response(operation, {"ApplicationResponse": {"Id": "i", "Bogus": 1}})
    assert body == b'{"Id":"i"}'


@pytest.mark.parametrize(
    ("member", "value", "fragment"),
    [
        ("Priority", 2**31, "outside the integer range -2147483648 to 2147483647"),
        ("Priority", -(2**31) - 1, "outside the integer range"),
        ("Priority", 1e300, "outside the integer range"),
        ("Name", "a\x00b", "must not contain a NUL character"),
    ],
)
def test_values_outside_their_model_type_are_refused(member, value, fragment):
    operation = PINPOINT.operation_model("CreateCampaign")
    body = orjson.dumps({member: value})
    with pytest.raises(InvalidInput) as caught:
        parse_request(operation, {"application-id": "a"}, {}, {}, body)
    assert f"WriteCampaignRequest.{member}" in caught.value.message and fragment in caught.value.message


def test_integers_at_the_edges_of_their_type_pass():
    operation = PINPOINT.operation_model("CreateCampaign")
    for value in (2**31 - 1, -(2**31)):
        params = parse_request(operation, {"application-id": "a"}, {}, {}, orjson.dumps({"Priority": value}))
        assert params["WriteCampaignRequest"]["Priority"] == value


@pytest.mark.parametrize("start", ["inf", "-inf", "nan", "1e20", "253402300800"])
def test_timestamps_beyond_the_calendar_are_refused(start):
    operation = PINPOINT.operation_model("GetApplicationDateRangeKpi")
    labels = {"application-id": "a", "kpi-name": "k"}
    with pytest.raises(InvalidInput) as caught:
        parse_request(operation, labels, {"start-time": [start]}, {}, b"")
    assert "between the years 1 and 9999" in caught.value.message


def test_the_import_fast_path_refuses_what_check_refuses():
    endpoint = shapes.checker(PINPOINT.shape_for("EndpointBatchItem"))
    assert endpoint({"Id": "e1", "Address": "x"}, "row") == {"Id": "e1", "Address": "x"}
    with pytest.raises(InvalidInput, match="NUL"):
        endpoint({"Id": "e\x001"}, "row")
    with pytest.raises(InvalidInput, match="NUL"):
        endpoint({"Id": "e1", "Attributes": {"a": ["x\x00"]}}, "row")
    campaign = shapes.checker(PINPOINT.shape_for("WriteCampaignRequest"))
    with pytest.raises(InvalidInput, match="integer range"):
        campaign({"Priority": 2**64}, "row")
