"""The shared-address rule, as both UpdateEndpoint(s) and imports apply it."""

from tidings.domain.endpoints import address_keepers, displaced_by_address


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
