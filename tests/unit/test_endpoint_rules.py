"""Endpoint write rules, as both UpdateEndpoint(s) and imports apply them: the shared-address
rule, the document an update makes, and which fault a request is refused for."""

import pytest

from tidings.domain.endpoints import address_keepers, apply_update, displaced_by_address
from tidings.domain.errors import InvalidInput


def test_the_last_active_endpoint_written_with_an_address_keeps_it():
    written = [("a", "+1", "ACTIVE"), ("b", "+1", "ACTIVE"), ("c", None, "ACTIVE"), ("d", "+2", "INACTIVE")]
    assert address_keepers(written) == {"+1": "b"}


def test_other_active_holders_of_a_kept_address_are_displaced():
    keepers = {"+1": "b", "+3": "e"}
    rivals = {
        "a": {"Address": "+1", "EndpointStatus": "ACTIVE"},  # written earlier in the same batch
        "b": {"Address": "+1", "EndpointStatus": "ACTIVE"},  # the keeper itself
        "old": {"Address": "+1", "EndpointStatus": "INACTIVE"},  # already inactive
        "x": {"Address": "+3", "EndpointStatus": "ACTIVE"},  # stored, loses +3 to e
    }
    assert displaced_by_address(keepers, rivals) == ["a", "x"]


NOW = "2026-01-02T03:04:05.000Z"


def _update(existing, request):
    return apply_update(existing, request, now=NOW, request_id="req", cohort_id=42, filters={}, member="Endpoint")


def test_an_endpoint_document_keeps_one_order_of_members_whatever_the_request_order():
    request = {"User": {"UserId": "u"}, "Metrics": {"m": 1}, "Attributes": {"a": ["x"]}, "Demographic": {"Make": "A"},
               "Location": {"City": "Oslo"}, "Address": "+1", "ChannelType": "SMS"}  # fmt: skip
    created = _update(None, request)
    order = ["ChannelType", "Address", "EndpointStatus", "OptOut", "RequestId", "Location", "Demographic",
             "EffectiveDate", "Attributes", "Metrics", "User", "CreationDate", "CohortId"]  # fmt: skip
    assert list(created) == order
    assert created["CohortId"] == "42" and created["CreationDate"] == created["EffectiveDate"] == NOW
    updated = _update({**created, "CreationDate": "2020-01-01T00:00:00.000Z"}, {"OptOut": "ALL", "Metrics": {"n": 2}})
    assert list(updated) == order and updated["Metrics"] == {"m": 1, "n": 2}
    assert updated["CreationDate"] == "2020-01-01T00:00:00.000Z" and updated["CohortId"] == "42"


def test_a_new_endpoint_without_an_address_is_opted_out_and_an_update_keeps_its_opt_out():
    created = _update(None, {"ChannelType": "SMS"})
    assert created["OptOut"] == "ALL" and "Address" not in created
    assert _update(created, {"Address": "+1"})["OptOut"] == "ALL"
    assert _update(None, {"ChannelType": "SMS", "Address": "+1"})["OptOut"] == "NONE"


@pytest.mark.parametrize(
    ("request_", "member"),
    [
        ({"Address": " ", "Location": {"Latitude": 91}, "EndpointStatus": "X"}, "Endpoint.Address"),
        ({"Location": {"Latitude": 91}, "User": {"UserId": "$"}}, "Endpoint.Location.Latitude"),
        ({"User": {"UserId": "a$"}, "EffectiveDate": "soon"}, "Endpoint.User.UserId"),
        ({"EffectiveDate": "soon", "EndpointStatus": "X"}, "Endpoint.EffectiveDate"),
        ({"EndpointStatus": "X", "OptOut": "Y"}, "Endpoint.EndpointStatus"),
        ({"OptOut": "Y", "Attributes": {"a": ["v" * 101]}}, "Endpoint.OptOut"),
    ],
)
def test_a_request_with_several_faults_is_refused_for_the_first_in_a_fixed_order(request_, member):
    with pytest.raises(InvalidInput) as caught:
        _update(None, {"ChannelType": "SMS", **request_})
    assert caught.value.message.startswith(f"{member} "), caught.value.message
