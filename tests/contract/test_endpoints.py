"""Endpoints through boto3 and the AWS CLI against a live server.

Upserts (one and a batch), reads, deletes, user endpoints, RemoveAttributes, and the
rules Pinpoint applies on every write: merging, statuses, opt-out, cohorts, the
15-endpoints-per-user and same-address rules, and the size limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from botocore.exceptions import ClientError

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
COHORTS = {str(n) for n in range(100)}


# --- helpers ---------------------------------------------------------------------------


def put(pinpoint, app_id: str, endpoint_id: str, **request) -> dict:
    return pinpoint.update_endpoint(
        ApplicationId=app_id, EndpointId=endpoint_id, EndpointRequest=request
    )


def batch(pinpoint, app_id: str, items: list[dict]) -> dict:
    return pinpoint.update_endpoints_batch(
        ApplicationId=app_id, EndpointBatchRequest={"Item": items}
    )


def get(pinpoint, app_id: str, endpoint_id: str) -> dict:
    return pinpoint.get_endpoint(ApplicationId=app_id, EndpointId=endpoint_id)["EndpointResponse"]


def user_ids(pinpoint, app_id: str, user: str) -> set[str]:
    found = pinpoint.get_user_endpoints(ApplicationId=app_id, UserId=user)
    return {e["Id"] for e in found["EndpointsResponse"]["Item"]}


@contextmanager
def refused(*members: str, code: str = "BadRequestException") -> Iterator[None]:
    """The block fails with ``code`` and a message naming every one of ``members``."""
    with pytest.raises(ClientError) as caught:
        yield
    error = caught.value.response["Error"]
    assert error["Code"] == code, error
    for member in members:
        assert member in error["Message"], error["Message"]


def absent(pinpoint, app_id: str, endpoint_id: str) -> None:
    with refused(endpoint_id, code="NotFoundException"):
        get(pinpoint, app_id, endpoint_id)


class RawBodies:
    """A boto3 client whose request bodies can be swapped for raw JSON.

    botocore checks and converts parameters before sending (a string for a number fails in
    the client), so bodies a looser client could send are put in place just before the call.
    """

    def __init__(self, client) -> None:
        self.client = client
        self.body: bytes | None = None
        client.meta.events.register("before-call.pinpoint", self._swap)

    def _swap(self, params: dict, **_) -> None:
        if self.body is not None:
            params["body"] = self.body

    def put(self, app_id: str, endpoint_id: str, request: dict) -> None:
        self.body = json.dumps(request).encode()
        try:
            self.client.update_endpoint(
                ApplicationId=app_id, EndpointId=endpoint_id, EndpointRequest={}
            )
        finally:
            self.body = None

    def batch(self, app_id: str, items: list[dict]) -> None:
        self.body = json.dumps({"Item": items}).encode()
        try:
            self.client.update_endpoints_batch(
                ApplicationId=app_id, EndpointBatchRequest={"Item": []}
            )
        finally:
            self.body = None


# --- UpdateEndpoint / GetEndpoint ------------------------------------------------------


def test_update_endpoint_creates_and_get_endpoint_returns_it(pinpoint, app_id):
    written = put(pinpoint, app_id, "e1", ChannelType="EMAIL", Address="ana@example.com")
    assert written["ResponseMetadata"]["HTTPStatusCode"] == 202
    body = written["MessageBody"]
    assert body["RequestID"] == written["ResponseMetadata"]["RequestId"]

    endpoint = get(pinpoint, app_id, "e1")
    assert endpoint["ApplicationId"] == app_id
    assert endpoint["Id"] == "e1"
    assert endpoint["ChannelType"] == "EMAIL"
    assert endpoint["Address"] == "ana@example.com"
    assert endpoint["EndpointStatus"] == "ACTIVE"
    assert endpoint["OptOut"] == "NONE"
    assert endpoint["CohortId"] in COHORTS
    assert DATE.fullmatch(endpoint["CreationDate"])
    assert endpoint["EffectiveDate"] == endpoint["CreationDate"]
    assert endpoint["RequestId"] == body["RequestID"]


def test_update_endpoint_merges_into_the_stored_endpoint(pinpoint, app_id):
    put(
        pinpoint,
        app_id,
        "e1",
        ChannelType="SMS",
        Address="+15555550100",
        OptOut="NONE",
        EffectiveDate="2020-01-02T03:04:05Z",
        Attributes={"color": ["red", "blue"], "size": ["L"], "shape": ["round"]},
        Metrics={"score": 1.5, "visits": 2},
        Demographic={"Locale": "en_US", "Timezone": "America/Los_Angeles"},
        Location={"City": "Seattle", "Country": "US"},
        User={"UserId": "u1", "UserAttributes": {"plan": ["gold"]}},
    )
    first = get(pinpoint, app_id, "e1")
    assert first["EffectiveDate"] == "2020-01-02T03:04:05.000Z"

    second = put(
        pinpoint,
        app_id,
        "e1",
        Attributes={"color": ["green"], "size": []},
        Metrics={"score": 9.0},
        Demographic={"Platform": "ios"},
        Location={"PostalCode": "98101"},
        User={"UserAttributes": {"pet": ["cat"]}},
    )
    endpoint = get(pinpoint, app_id, "e1")
    assert endpoint["ChannelType"] == "SMS"
    assert endpoint["Address"] == "+15555550100"
    assert endpoint["OptOut"] == "NONE"
    # A sent attribute replaces that attribute's values; [] removes it; others are kept.
    assert endpoint["Attributes"] == {"color": ["green"], "shape": ["round"]}
    assert endpoint["Metrics"] == {"score": 9.0, "visits": 2}
    assert endpoint["Demographic"] == {
        "Locale": "en_US",
        "Timezone": "America/Los_Angeles",
        "Platform": "ios",
    }
    assert endpoint["Location"] == {"City": "Seattle", "Country": "US", "PostalCode": "98101"}
    assert endpoint["User"] == {
        "UserId": "u1",
        "UserAttributes": {"plan": ["gold"], "pet": ["cat"]},
    }
    # The server's own members: cohort and creation kept, effective date and request id moved on.
    assert endpoint["CohortId"] == first["CohortId"]
    assert endpoint["CreationDate"] == first["CreationDate"]
    assert DATE.fullmatch(endpoint["EffectiveDate"])
    assert endpoint["EffectiveDate"] > first["EffectiveDate"]
    assert endpoint["RequestId"] == second["MessageBody"]["RequestID"] != first["RequestId"]


def test_every_write_makes_the_endpoint_active_unless_it_says_otherwise(pinpoint, app_id):
    put(pinpoint, app_id, "e1", ChannelType="EMAIL", Address="a@example.com")
    put(pinpoint, app_id, "e1", EndpointStatus="INACTIVE")
    assert get(pinpoint, app_id, "e1")["EndpointStatus"] == "INACTIVE"
    put(pinpoint, app_id, "e1", Attributes={"seen": ["yes"]})
    assert get(pinpoint, app_id, "e1")["EndpointStatus"] == "ACTIVE"


def test_an_endpoint_created_without_address_is_opted_out(pinpoint, app_id):
    put(pinpoint, app_id, "e1", ChannelType="EMAIL")
    assert get(pinpoint, app_id, "e1")["OptOut"] == "ALL"
    # Adding the address later does not opt the endpoint in: the caller must say so.
    put(pinpoint, app_id, "e1", Address="late@example.com")
    assert get(pinpoint, app_id, "e1")["OptOut"] == "ALL"
    put(pinpoint, app_id, "e1", OptOut="NONE")
    assert get(pinpoint, app_id, "e1")["OptOut"] == "NONE"
    put(pinpoint, app_id, "e2", ChannelType="EMAIL", OptOut="NONE")
    assert get(pinpoint, app_id, "e2")["OptOut"] == "NONE"


def test_coordinates_are_rounded_to_one_decimal(pinpoint, app_id):
    put(pinpoint, app_id, "e1", Location={"Latitude": 47.6062, "Longitude": -122.3351})
    assert get(pinpoint, app_id, "e1")["Location"] == {"Latitude": 47.6, "Longitude": -122.3}


def test_ids_with_spaces_slashes_and_colons_round_trip(pinpoint, app_id):
    ids = ["with space", "a/b", "urn:shop:42", "a%2Fb", "x+y/z:w v"]
    for endpoint_id in ids:
        put(pinpoint, app_id, endpoint_id, ChannelType="CUSTOM", User={"UserId": "team/a b:1"})
    for endpoint_id in ids:
        assert get(pinpoint, app_id, endpoint_id)["Id"] == endpoint_id
    assert user_ids(pinpoint, app_id, "team/a b:1") == set(ids)
    deleted = pinpoint.delete_endpoint(ApplicationId=app_id, EndpointId="a/b")
    assert deleted["EndpointResponse"]["Id"] == "a/b"
    absent(pinpoint, app_id, "a/b")
    assert get(pinpoint, app_id, "a%2Fb")["Id"] == "a%2Fb"


def test_addresses_may_hold_what_ids_may_not(pinpoint, app_id):
    address = "https://hooks.example.com/{tenant}?fee=$5"
    put(pinpoint, app_id, "e1", ChannelType="CUSTOM", Address=address)
    put(pinpoint, app_id, "e2", ChannelType="EMAIL", Address="pay$me{1}@example.com")
    assert get(pinpoint, app_id, "e1")["Address"] == address
    assert get(pinpoint, app_id, "e2")["Address"] == "pay$me{1}@example.com"


def test_ids_with_dollar_or_braces_are_refused(pinpoint, app_id):
    for endpoint_id in ("a$b", "a{b", "b}"):
        with refused(endpoint_id, "EndpointId"):
            put(pinpoint, app_id, endpoint_id, ChannelType="CUSTOM")
    with refused("EndpointRequest.User.UserId"):
        put(pinpoint, app_id, "e1", ChannelType="CUSTOM", User={"UserId": "${user}"})
    with refused("EndpointBatchRequest.Item[1].Id"):
        batch(pinpoint, app_id, [{"Id": "ok", "ChannelType": "CUSTOM"}, {"Id": "{x}"}])
    for endpoint_id in ("a$b", "e1", "ok"):
        absent(pinpoint, app_id, endpoint_id)


def test_aws_cli_updates_and_reads_an_endpoint(server, app_id):
    request = '{"ChannelType": "EMAIL", "Address": "cli@example.com", "Attributes": {"a": ["1"]}}'
    args = ("--application-id", app_id, "--endpoint-id", "cli/e 1")
    written = server.aws("pinpoint", "update-endpoint", *args, "--endpoint-request", request)
    assert written.json["MessageBody"]["Message"]
    read = server.aws("pinpoint", "get-endpoint", *args).json["EndpointResponse"]
    assert read["Id"] == "cli/e 1"
    assert read["Address"] == "cli@example.com"
    assert read["Attributes"] == {"a": ["1"]}


# --- UpdateEndpointsBatch --------------------------------------------------------------


def test_batch_writes_up_to_100_endpoints(pinpoint, app_id):
    put(pinpoint, app_id, "e000", ChannelType="EMAIL", Attributes={"kept": ["yes"]})
    cohort = get(pinpoint, app_id, "e000")["CohortId"]
    items = [{"Id": f"e{n:03}", "ChannelType": "CUSTOM", "Address": f"a{n}"} for n in range(100)]
    written = batch(pinpoint, app_id, items)
    assert written["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert written["MessageBody"]["RequestID"]

    cohorts = set()
    for n in (0, 1, 57, 99):
        endpoint = get(pinpoint, app_id, f"e{n:03}")
        assert endpoint["Address"] == f"a{n}"
        assert endpoint["ChannelType"] == "CUSTOM"
        cohorts.add(endpoint["CohortId"])
    first = get(pinpoint, app_id, "e000")
    assert first["Attributes"] == {"kept": ["yes"]}
    assert first["CohortId"] == cohort
    assert cohorts <= COHORTS


def test_cohorts_spread_over_0_to_99(pinpoint, app_id):
    items = [
        {"Id": f"e{n:03}", "ChannelType": "CUSTOM", "User": {"UserId": f"u{n % 7}"}}
        for n in range(100)
    ]
    batch(pinpoint, app_id, items)
    cohorts = []
    for user in range(7):
        found = pinpoint.get_user_endpoints(ApplicationId=app_id, UserId=f"u{user}")
        cohorts += [e["CohortId"] for e in found["EndpointsResponse"]["Item"]]
    assert len(cohorts) == 100
    assert set(cohorts) <= COHORTS
    assert len(set(cohorts)) > 20  # assigned at random, not one cohort for everyone


def test_batch_refuses_more_than_100_items_and_items_without_id(pinpoint, app_id):
    items = [{"Id": f"e{n:03}", "ChannelType": "CUSTOM"} for n in range(101)]
    with refused("EndpointBatchRequest.Item", "101"):
        batch(pinpoint, app_id, items)
    with refused("EndpointBatchRequest.Item[1].Id"):
        batch(pinpoint, app_id, [{"Id": "e000", "ChannelType": "CUSTOM"}, {"ChannelType": "SMS"}])
    # A refused batch writes nothing, not even its valid items.
    with refused("EndpointBatchRequest.Item[1].ChannelType"):
        batch(pinpoint, app_id, [{"Id": "e000"}, {"Id": "e001", "ChannelType": "FAX"}])
    absent(pinpoint, app_id, "e000")


# --- DeleteEndpoint, users -------------------------------------------------------------


def test_delete_endpoint_returns_the_deleted_endpoint(pinpoint, app_id):
    put(pinpoint, app_id, "e1", ChannelType="EMAIL", Address="d@example.com")
    stored = get(pinpoint, app_id, "e1")
    deleted = pinpoint.delete_endpoint(ApplicationId=app_id, EndpointId="e1")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert deleted["EndpointResponse"] == stored
    absent(pinpoint, app_id, "e1")
    with refused("e1", code="NotFoundException"):
        pinpoint.delete_endpoint(ApplicationId=app_id, EndpointId="e1")


def test_user_endpoints_are_read_and_deleted_together(pinpoint, app_id):
    batch(
        pinpoint,
        app_id,
        [
            {"Id": "e1", "ChannelType": "EMAIL", "User": {"UserId": "ana"}},
            {"Id": "e2", "ChannelType": "SMS", "User": {"UserId": "ana"}},
            {"Id": "e3", "ChannelType": "SMS", "User": {"UserId": "bo"}},
        ],
    )
    found = pinpoint.get_user_endpoints(ApplicationId=app_id, UserId="ana")
    items = found["EndpointsResponse"]["Item"]
    assert sorted(e["Id"] for e in items) == ["e1", "e2"]
    assert all(e["User"]["UserId"] == "ana" and e["ApplicationId"] == app_id for e in items)

    deleted = pinpoint.delete_user_endpoints(ApplicationId=app_id, UserId="ana")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert sorted(deleted["EndpointsResponse"]["Item"], key=lambda e: e["Id"]) == sorted(
        items, key=lambda e: e["Id"]
    )
    absent(pinpoint, app_id, "e1")
    absent(pinpoint, app_id, "e2")
    assert user_ids(pinpoint, app_id, "bo") == {"e3"}
    for call in (pinpoint.get_user_endpoints, pinpoint.delete_user_endpoints):
        with refused("ana", code="NotFoundException"):
            call(ApplicationId=app_id, UserId="ana")


def test_a_user_that_changes_moves_the_endpoint(pinpoint, app_id):
    put(pinpoint, app_id, "e1", ChannelType="EMAIL", User={"UserId": "ana"})
    put(pinpoint, app_id, "e1", User={"UserId": "bo"})
    assert user_ids(pinpoint, app_id, "bo") == {"e1"}
    with refused("ana", code="NotFoundException"):
        pinpoint.get_user_endpoints(ApplicationId=app_id, UserId="ana")


def test_unknown_app_is_not_found_everywhere(pinpoint):
    app = "0" * 32
    calls = [
        lambda: put(pinpoint, app, "e1", ChannelType="EMAIL"),
        lambda: batch(pinpoint, app, [{"Id": "e1", "ChannelType": "EMAIL"}]),
        lambda: get(pinpoint, app, "e1"),
        lambda: pinpoint.delete_endpoint(ApplicationId=app, EndpointId="e1"),
        lambda: pinpoint.get_user_endpoints(ApplicationId=app, UserId="u"),
        lambda: pinpoint.delete_user_endpoints(ApplicationId=app, UserId="u"),
        lambda: pinpoint.remove_attributes(
            ApplicationId=app,
            AttributeType="endpoint-custom-attributes",
            UpdateAttributesRequest={"Blacklist": ["a"]},
        ),
    ]
    for call in calls:
        with refused(app, code="NotFoundException"):
            call()


# --- RemoveAttributes ------------------------------------------------------------------


def test_remove_attributes_stops_capturing_names_and_keeps_values(server, pinpoint, app_id):
    put(
        pinpoint,
        app_id,
        "e1",
        ChannelType="CUSTOM",
        Attributes={"color": ["red"], "colour": ["blue"], "size": ["L"]},
        Metrics={"score": 1.0, "scale": 2.0, "age": 3.0},
        User={"UserId": "u1", "UserAttributes": {"plan": ["gold"], "pet": ["cat"]}},
    )

    def remove(kind: str, *patterns: str) -> dict:
        return pinpoint.remove_attributes(
            ApplicationId=app_id,
            AttributeType=kind,
            UpdateAttributesRequest={"Blacklist": list(patterns)},
        )

    custom = remove("endpoint-custom-attributes", "colo*", "nothing-matches")
    assert custom["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert custom["AttributesResource"] == {
        "ApplicationId": app_id,
        "AttributeType": "endpoint-custom-attributes",
        "Attributes": ["color", "colour"],
    }
    assert remove("endpoint-metric-attributes", "sc*")["AttributesResource"]["Attributes"] == [
        "scale",
        "score",
    ]
    by_cli = server.aws(
        "pinpoint", "remove-attributes", "--application-id", app_id,
        "--attribute-type", "endpoint-user-attributes",
        "--update-attributes-request", '{"Blacklist": ["p?an"]}',
    )  # fmt: skip
    assert by_cli.json["AttributesResource"]["Attributes"] == ["plan"]

    # Existing values stay; the removed names are no longer captured on later writes.
    assert get(pinpoint, app_id, "e1")["Attributes"]["color"] == ["red"]
    put(
        pinpoint,
        app_id,
        "e1",
        Attributes={"color": ["green"], "colorful": ["yes"], "size": ["XL"]},
        Metrics={"score": 9.0, "age": 4.0},
        User={"UserAttributes": {"plan": ["silver"], "pet": ["dog"]}},
    )
    endpoint = get(pinpoint, app_id, "e1")
    assert endpoint["Attributes"] == {"color": ["red"], "colour": ["blue"], "size": ["XL"]}
    assert endpoint["Metrics"] == {"score": 1.0, "scale": 2.0, "age": 4.0}
    assert endpoint["User"]["UserAttributes"] == {"plan": ["gold"], "pet": ["dog"]}
    put(pinpoint, app_id, "e2", ChannelType="CUSTOM", Attributes={"color": ["x"], "shape": ["o"]})
    assert get(pinpoint, app_id, "e2")["Attributes"] == {"shape": ["o"]}
    # The names were removed from the project: removing them again finds none.
    assert remove("endpoint-custom-attributes", "colo*")["AttributesResource"]["Attributes"] == []

    with refused("AttributeType", "endpoint-device-attributes"):
        remove("endpoint-device-attributes", "x")


def test_removed_names_free_room_under_the_project_name_limit(pinpoint, app_id):
    names = {f"a{n:03}": ["v"] for n in range(250)}
    put(pinpoint, app_id, "e1", ChannelType="CUSTOM", Attributes=names)
    with refused("EndpointRequest.Metrics", "250"):
        put(pinpoint, app_id, "e2", ChannelType="CUSTOM", Metrics={"late": 1.0})
    absent(pinpoint, app_id, "e2")

    removed = pinpoint.remove_attributes(
        ApplicationId=app_id,
        AttributeType="endpoint-custom-attributes",
        UpdateAttributesRequest={"Blacklist": ["a000"]},
    )
    assert removed["AttributesResource"]["Attributes"] == ["a000"]
    put(pinpoint, app_id, "e2", ChannelType="CUSTOM", Metrics={"late": 1.0})
    # e1 still carries its a000 value; writing it again must not count the name again.
    put(pinpoint, app_id, "e1", Address="e1")
    endpoint = get(pinpoint, app_id, "e1")
    assert endpoint["Address"] == "e1"
    assert endpoint["Attributes"]["a000"] == ["v"]


# --- users: at most 15 endpoints -------------------------------------------------------


def test_a_user_has_at_most_15_endpoints_and_a_new_push_endpoint_detaches_the_oldest(
    pinpoint, app_id
):
    items = [
        {"Id": f"mail{n:02}", "ChannelType": "EMAIL", "Address": f"m{n}@example.com"}
        for n in range(13)
    ]
    items += [
        {"Id": "push-a", "ChannelType": "APNS", "Address": "tok-a", "EffectiveDate": "2021-01-01T00:00:00Z"},
        {"Id": "push-z", "ChannelType": "GCM", "Address": "tok-z", "EffectiveDate": "2020-01-01T00:00:00Z"},
    ]  # fmt: skip
    for item in items:
        item["User"] = {"UserId": "ana", "UserAttributes": {"plan": ["gold"]}}
    batch(pinpoint, app_id, items)
    assert len(user_ids(pinpoint, app_id, "ana")) == 15

    # An endpoint already counted may be written again.
    put(pinpoint, app_id, "mail00", User={"UserId": "ana"}, Attributes={"x": ["1"]})
    with refused("EndpointRequest.User.UserId", "15"):
        put(pinpoint, app_id, "mail13", ChannelType="SMS", User={"UserId": "ana"})
    absent(pinpoint, app_id, "mail13")

    put(pinpoint, app_id, "push-new", ChannelType="ADM", Address="tok-n", User={"UserId": "ana"})
    members = user_ids(pinpoint, app_id, "ana")
    assert len(members) == 15
    assert "push-new" in members and "push-z" not in members
    oldest = get(pinpoint, app_id, "push-z")
    assert oldest["EndpointStatus"] == "INACTIVE"
    assert "UserId" not in oldest.get("User", {})
    assert get(pinpoint, app_id, "push-a")["EndpointStatus"] == "ACTIVE"

    # With no push endpoint to detach, a 16th push endpoint is refused too.
    others = [
        {"Id": f"bo{n:02}", "ChannelType": "SMS", "User": {"UserId": "bo"}} for n in range(16)
    ]
    with refused("EndpointBatchRequest.Item[15].User.UserId"):
        batch(pinpoint, app_id, others)
    with refused("bo", code="NotFoundException"):
        pinpoint.get_user_endpoints(ApplicationId=app_id, UserId="bo")
    batch(pinpoint, app_id, others[:15])
    with refused("EndpointRequest.User.UserId"):
        put(pinpoint, app_id, "bo-push", ChannelType="GCM", User={"UserId": "bo"})

    # Batch items join in order: the 16th push item detaches the oldest of the 15 before it.
    pushes = [
        {"Id": f"cy{n:02}", "ChannelType": "GCM", "User": {"UserId": "cy"},
         "EffectiveDate": "2020-01-01T00:00:00Z" if n == 3 else "2024-01-01T00:00:00Z"}
        for n in range(16)
    ]  # fmt: skip
    batch(pinpoint, app_id, pushes)
    assert user_ids(pinpoint, app_id, "cy") == {f"cy{n:02}" for n in range(16)} - {"cy03"}
    assert get(pinpoint, app_id, "cy03")["EndpointStatus"] == "INACTIVE"


# --- same address ----------------------------------------------------------------------


def test_writing_an_endpoint_deactivates_others_with_its_address(pinpoint, app_id):
    put(pinpoint, app_id, "old", ChannelType="EMAIL", Address="ana@example.com")
    put(pinpoint, app_id, "other", ChannelType="EMAIL", Address="bo@example.com")
    put(pinpoint, app_id, "new", ChannelType="EMAIL", Address="ana@example.com")
    assert get(pinpoint, app_id, "old")["EndpointStatus"] == "INACTIVE"
    assert get(pinpoint, app_id, "new")["EndpointStatus"] == "ACTIVE"
    assert get(pinpoint, app_id, "other")["EndpointStatus"] == "ACTIVE"

    # Any write of the old endpoint makes it active again, and the other one inactive.
    put(pinpoint, app_id, "old", Attributes={"seen": ["1"]})
    assert get(pinpoint, app_id, "old")["EndpointStatus"] == "ACTIVE"
    assert get(pinpoint, app_id, "new")["EndpointStatus"] == "INACTIVE"

    # An endpoint written INACTIVE leaves the active one alone.
    put(pinpoint, app_id, "quiet", Address="ana@example.com", EndpointStatus="INACTIVE")
    assert get(pinpoint, app_id, "old")["EndpointStatus"] == "ACTIVE"

    # Within one batch the last item with the address wins.
    batch(
        pinpoint,
        app_id,
        [{"Id": "b1", "Address": "cy@example.com"}, {"Id": "b2", "Address": "cy@example.com"}],
    )
    assert get(pinpoint, app_id, "b1")["EndpointStatus"] == "INACTIVE"
    assert get(pinpoint, app_id, "b2")["EndpointStatus"] == "ACTIVE"

    # An endpoint that moves to another address in the same batch keeps its status.
    batch(
        pinpoint,
        app_id,
        [{"Id": "b2", "Address": "dee@example.com"}, {"Id": "b3", "Address": "cy@example.com"}],
    )
    assert get(pinpoint, app_id, "b2")["EndpointStatus"] == "ACTIVE"
    assert get(pinpoint, app_id, "b3")["EndpointStatus"] == "ACTIVE"


# --- limits and invalid input ----------------------------------------------------------


def test_size_limits_are_refused_naming_the_member(pinpoint, app_id):
    long_name = "n" * 51
    cases = [
        ({"Attributes": {long_name: ["v"]}}, "EndpointRequest.Attributes"),
        ({"Metrics": {long_name: 1.0}}, "EndpointRequest.Metrics"),
        ({"User": {"UserAttributes": {long_name: ["v"]}}}, "EndpointRequest.User.UserAttributes"),
        ({"Attributes": {"a": ["v" * 101]}}, "EndpointRequest.Attributes.a"),
        ({"User": {"UserAttributes": {"u": ["v"] * 51}}}, "EndpointRequest.User.UserAttributes.u"),
        ({"Attributes": {f"big{n}": ["v" * 100] * 5 for n in range(40)}}, "EndpointRequest"),
    ]
    for request, member in cases:
        with refused(member):
            put(pinpoint, app_id, "e1", ChannelType="CUSTOM", **request)
    absent(pinpoint, app_id, "e1")
    with refused("EndpointBatchRequest.Item[0].Attributes.a"):
        batch(pinpoint, app_id, [{"Id": "e1", "Attributes": {"a": ["v"] * 51}}])

    # Exactly at the limits is fine.
    at_limit = {"n" * 50: ["v" * 100] * 50}
    put(pinpoint, app_id, "e1", ChannelType="CUSTOM", Attributes=at_limit)
    assert get(pinpoint, app_id, "e1")["Attributes"] == at_limit


def test_invalid_types_and_enums_are_refused_naming_the_member_path(pinpoint, app_id):
    raw = RawBodies(pinpoint)
    cases = [
        ({"ChannelType": "FAX"}, "EndpointRequest.ChannelType"),
        ({"Metrics": {"score": "high"}}, "EndpointRequest.Metrics.score"),
        ({"Attributes": {"color": "red"}}, "EndpointRequest.Attributes.color"),
        ({"Attributes": {"color": [1]}}, "EndpointRequest.Attributes.color[0]"),
        ({"User": {"UserId": 7}}, "EndpointRequest.User.UserId"),
        ({"EndpointStatus": "PAUSED"}, "EndpointRequest.EndpointStatus"),
        ({"OptOut": "SOME"}, "EndpointRequest.OptOut"),
        ({"EffectiveDate": "yesterday"}, "EndpointRequest.EffectiveDate"),
        ({"Location": {"Latitude": "north"}}, "EndpointRequest.Location.Latitude"),
        ({"Location": {"Latitude": 95.0}}, "EndpointRequest.Location.Latitude"),
        ({"Address": " "}, "EndpointRequest.Address"),
        ({"Colour": "red"}, "EndpointRequest.Colour"),
    ]
    for request, member in cases:
        with refused(member):
            raw.put(app_id, "e1", request)
    with refused("EndpointBatchRequest.Item[1].OptOut"):
        raw.batch(app_id, [{"Id": "e1"}, {"Id": "e2", "OptOut": "maybe"}])
    with refused("EndpointBatchRequest.Item[0].Metrics.m"):
        raw.batch(app_id, [{"Id": "e1", "Metrics": {"m": True}}])
    with refused("EndpointBatchRequest.Item"):
        raw.batch(app_id, [])
    absent(pinpoint, app_id, "e1")
