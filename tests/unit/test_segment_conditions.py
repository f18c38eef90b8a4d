"""Segment dimensions as conditions: what each dimension means for one endpoint document.

The module docstring of ``tidings.domain.segments`` is the specification these tests pin.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tidings.domain.common import format_date
from tidings.domain.errors import InvalidInput, NotFound
from tidings.domain.segments import (
    AllOf,
    AttributeDate,
    Const,
    Near,
    check_request,
    condition_for,
    matches,
)

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


def endpoint(**doc: object) -> dict:
    """A stored endpoint document with the members every endpoint has."""
    base = {
        "ChannelType": "EMAIL",
        "Address": "a@example.com",
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "EffectiveDate": format_date(NOW - timedelta(hours=1)),
        "CreationDate": "2026-01-01T00:00:00.000Z",
        "CohortId": "7",
    }
    return {**base, **doc}


def no_lookup(ref: str, version: int | None) -> dict:
    raise AssertionError(f"unexpected lookup of {ref} v{version}")


def hits(dims: dict, doc: dict, now: datetime = NOW) -> bool:
    return matches(condition_for({"Dimensions": dims}, no_lookup, now), doc)


# --- Attributes and UserAttributes ---------------------------------------------------------


@pytest.mark.parametrize("source", ["Attributes", "UserAttributes"])
def test_inclusive_matches_any_listed_value(source):
    def doc(values):
        if source == "Attributes":
            return endpoint(Attributes={"color": values})
        return endpoint(User={"UserId": "u", "UserAttributes": {"color": values}})

    dims = {source: {"color": {"AttributeType": "INCLUSIVE", "Values": ["red", "blue"]}}}
    assert hits(dims, doc(["green", "blue"]))
    assert not hits(dims, doc(["green"]))
    assert not hits(dims, doc(["Red"]))  # exact, case-sensitive
    assert not hits(dims, endpoint())  # missing attribute: no value to match


def test_attribute_type_defaults_to_inclusive():
    dims = {"Attributes": {"color": {"Values": ["red"]}}}
    assert hits(dims, endpoint(Attributes={"color": ["red"]}))
    assert not hits(dims, endpoint(Attributes={"color": ["blue"]}))


@pytest.mark.parametrize("source", ["Attributes", "UserAttributes"])
def test_exclusive_matches_endpoints_without_any_listed_value(source):
    dims = {source: {"color": {"AttributeType": "EXCLUSIVE", "Values": ["red", "blue"]}}}
    holder = "Attributes" if source == "Attributes" else "User"

    def doc(values):
        if holder == "Attributes":
            return endpoint(Attributes={"color": values})
        return endpoint(User={"UserAttributes": {"color": values}})

    assert hits(dims, doc(["green"]))
    assert not hits(dims, doc(["green", "red"]))
    assert hits(dims, endpoint())  # an endpoint without the attribute has none of them
    assert hits(dims, endpoint(User={"UserId": "u"}))  # User without UserAttributes


def test_attributes_and_user_attributes_are_separate_maps():
    dims = {"UserAttributes": {"color": {"Values": ["red"]}}}
    assert not hits(dims, endpoint(Attributes={"color": ["red"]}))
    dims = {"Attributes": {"color": {"Values": ["red"]}}}
    assert not hits(dims, endpoint(User={"UserAttributes": {"color": ["red"]}}))


def test_contains_is_a_case_sensitive_substring_match():
    dims = {"Attributes": {"name": {"AttributeType": "CONTAINS", "Values": ["ell", "zz"]}}}
    assert hits(dims, endpoint(Attributes={"name": ["hello"]}))
    assert hits(dims, endpoint(Attributes={"name": ["abc", "pizza"]}))
    assert not hits(dims, endpoint(Attributes={"name": ["HELLO"]}))
    assert not hits(dims, endpoint(Attributes={"name": ["el"]}))
    assert not hits(dims, endpoint())


def date_dims(kind: str, *values: str) -> dict:
    return {"Attributes": {"signup": {"AttributeType": kind, "Values": list(values)}}}


def signed_up(*values: str) -> dict:
    return endpoint(Attributes={"signup": list(values)})


def test_before_and_after_compare_instants():
    before = date_dims("BEFORE", "2026-03-01T00:00:00Z")
    after = date_dims("AFTER", "2026-03-01T00:00:00Z")
    assert hits(before, signed_up("2026-02-28T23:59:59Z"))
    assert not hits(before, signed_up("2026-03-01T00:00:00Z"))  # strictly before
    assert hits(after, signed_up("2026-03-01T00:00:01Z"))
    assert not hits(after, signed_up("2026-03-01T00:00:00Z"))  # strictly after
    # Instants, not strings: 01:00 at +02:00 is 23:00 UTC the day before.
    assert hits(before, signed_up("2026-03-01T01:00:00+02:00"))
    assert not hits(after, signed_up("2026-03-01T01:00:00+02:00"))


def test_date_operators_match_when_any_value_qualifies_and_skip_non_dates():
    dims = date_dims("AFTER", "2026-03-01T00:00:00Z")
    assert hits(dims, signed_up("not a date", "2020-01-01T00:00:00Z", "2027-01-01T00:00:00Z"))
    assert not hits(dims, signed_up("not a date"))
    assert not hits(dims, endpoint())


def test_date_only_values_are_midnight_utc():
    dims = date_dims("BEFORE", "2026-03-01T00:00:01Z")
    assert hits(dims, signed_up("2026-03-01"))
    assert not hits(date_dims("AFTER", "2026-03-01T00:00:00Z"), signed_up("2026-03-01"))


def test_on_compares_the_utc_date():
    dims = date_dims("ON", "2026-03-01T15:00:00Z")
    assert hits(dims, signed_up("2026-03-01T00:00:00Z"))
    assert hits(dims, signed_up("2026-03-01T23:59:59.999Z"))
    assert not hits(dims, signed_up("2026-03-02T00:00:00Z"))
    # 22:00 on 28 February at -05:00 is 03:00 UTC on 1 March.
    assert hits(dims, signed_up("2026-02-28T22:00:00-05:00"))
    # 01:00 on 1 March at +02:00 is 23:00 UTC on 28 February.
    assert not hits(dims, signed_up("2026-03-01T01:00:00+02:00"))


def test_on_takes_the_utc_date_of_the_bound_too():
    # The bound is 1 March in UTC although it is written as a time on 28 February.
    dims = date_dims("ON", "2026-02-28T20:00:00-05:00")
    assert hits(dims, signed_up("2026-03-01T12:00:00Z"))
    assert not hits(dims, signed_up("2026-02-28T12:00:00Z"))


def test_between_is_inclusive():
    dims = date_dims("BETWEEN", "2026-03-01T00:00:00Z", "2026-03-31T00:00:00Z")
    assert hits(dims, signed_up("2026-03-01T00:00:00Z"))
    assert hits(dims, signed_up("2026-03-31T00:00:00Z"))
    assert hits(dims, signed_up("2026-03-15T08:00:00+05:00"))
    assert not hits(dims, signed_up("2026-02-28T23:59:59Z"))
    assert not hits(dims, signed_up("2026-03-31T00:00:01Z"))
    assert not hits(dims, signed_up("2026-03-31T01:00:00+00:30"))  # 00:30 UTC: after the end


# --- Metrics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "passing", "failing"),
    [
        ("GREATER_THAN", [5.5, 10], [5, 4]),
        ("LESS_THAN", [4.9, -1], [5, 6]),
        ("GREATER_THAN_OR_EQUAL", [5, 5.0, 6], [4.99]),
        ("LESS_THAN_OR_EQUAL", [5, 0], [5.01]),
        ("EQUAL", [5, 5.0], [5.1, 4]),
    ],
)
def test_metric_operators(operator, passing, failing):
    dims = {"Metrics": {"score": {"ComparisonOperator": operator, "Value": 5}}}
    for value in passing:
        assert hits(dims, endpoint(Metrics={"score": value})), (operator, value)
    for value in failing:
        assert not hits(dims, endpoint(Metrics={"score": value})), (operator, value)


@pytest.mark.parametrize("operator", ["LESS_THAN", "LESS_THAN_OR_EQUAL", "EQUAL", "GREATER_THAN"])
def test_a_missing_metric_never_matches(operator):
    dims = {"Metrics": {"score": {"ComparisonOperator": operator, "Value": 0}}}
    assert not hits(dims, endpoint())
    assert not hits(dims, endpoint(Metrics={"other": 0}))


# --- Location -------------------------------------------------------------------------------


def located(lat: float | None, lon: float | None, **more: object) -> dict:
    location = {k: v for k, v in (("Latitude", lat), ("Longitude", lon)) if v is not None}
    return endpoint(Location={**location, **more})


def gps(lat: float, lon: float, km: float | None = None) -> dict:
    point: dict = {"Coordinates": {"Latitude": lat, "Longitude": lon}}
    if km is not None:
        point["RangeInKilometers"] = km
    return {"Location": {"GPSPoint": point}}


def test_gps_point_range_is_great_circle_distance():
    # One degree of longitude at the equator is about 111.2 km.
    assert hits(gps(0, 0, 112), located(0.0, 1.0))
    assert not hits(gps(0, 0, 110), located(0.0, 1.0))
    # Paris (48.9, 2.4) to London (51.5, -0.1) is about 339 km.
    assert hits(gps(48.9, 2.4, 345), located(51.5, -0.1))
    assert not hits(gps(48.9, 2.4, 335), located(51.5, -0.1))
    # Across the antimeridian: 179.5 E to 179.5 W is one degree apart.
    assert hits(gps(0, 179.5, 112), located(0.0, -179.5))


def test_gps_point_range_defaults_to_100_km():
    assert hits(gps(0, 0), located(0.0, 0.8))  # about 89 km
    assert not hits(gps(0, 0), located(0.0, 1.0))  # about 111 km


def test_gps_point_needs_both_coordinates():
    assert not hits(gps(0, 0, 20000), located(None, None))
    assert not hits(gps(0, 0, 20000), located(0.0, None))
    assert not hits(gps(0, 0, 20000), located(None, 0.0))
    assert not hits(gps(0, 0, 20000), endpoint())


def test_country_is_an_exact_set_dimension():
    inclusive = {"Location": {"Country": {"Values": ["US", "CA"]}}}
    exclusive = {"Location": {"Country": {"DimensionType": "EXCLUSIVE", "Values": ["US"]}}}
    assert hits(inclusive, located(None, None, Country="CA"))
    assert not hits(inclusive, located(None, None, Country="us"))
    assert not hits(inclusive, endpoint())
    assert hits(exclusive, located(None, None, Country="FR"))
    assert hits(exclusive, endpoint())  # no country: not in the set
    assert not hits(exclusive, located(None, None, Country="US"))


# --- Demographic ----------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["AppVersion", "Make", "Model", "Platform"])
def test_demographic_members_compare_the_endpoint_demographic(member):
    inclusive = {"Demographic": {member: {"DimensionType": "INCLUSIVE", "Values": ["x1", "x2"]}}}
    exclusive = {"Demographic": {member: {"DimensionType": "EXCLUSIVE", "Values": ["x1"]}}}
    assert hits(inclusive, endpoint(Demographic={member: "x2"}))
    assert not hits(inclusive, endpoint(Demographic={member: "X2"}))
    assert not hits(inclusive, endpoint(Demographic={"Other": "x2"}))
    assert not hits(inclusive, endpoint())
    assert hits(exclusive, endpoint(Demographic={member: "x2"}))
    assert hits(exclusive, endpoint())
    assert not hits(exclusive, endpoint(Demographic={member: "x1"}))


def test_demographic_channel_is_the_channel_type():
    dims = {"Demographic": {"Channel": {"Values": ["SMS", "CUSTOM"]}}}
    assert hits(dims, endpoint(ChannelType="CUSTOM"))
    assert not hits(dims, endpoint(ChannelType="EMAIL"))
    without = endpoint()
    del without["ChannelType"]
    assert not hits(dims, without)
    excluded = {"Demographic": {"Channel": {"DimensionType": "EXCLUSIVE", "Values": ["EMAIL"]}}}
    assert hits(excluded, without)
    assert not hits(excluded, endpoint(ChannelType="EMAIL"))


def test_device_type_matches_nothing_inclusive_and_everything_exclusive():
    inclusive = {"Demographic": {"DeviceType": {"Values": ["PHONE"]}}}
    exclusive = {"Demographic": {"DeviceType": {"DimensionType": "EXCLUSIVE", "Values": ["PHONE"]}}}
    doc = endpoint(Demographic={"DeviceType": "PHONE", "Platform": "ios"})
    assert not hits(inclusive, doc)
    assert hits(exclusive, doc)
    assert condition_for({"Dimensions": inclusive}, no_lookup, NOW) == Const(False)
    assert condition_for({"Dimensions": exclusive}, no_lookup, NOW) == Const(True)


# --- Behavior.Recency -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "window"),
    [
        ("HR_24", timedelta(hours=24)),
        ("DAY_7", timedelta(days=7)),
        ("DAY_14", timedelta(days=14)),
        ("DAY_30", timedelta(days=30)),
    ],
)
def test_recency_uses_the_effective_date_and_the_given_now(duration, window):
    active = {"Behavior": {"Recency": {"Duration": duration, "RecencyType": "ACTIVE"}}}
    inactive = {"Behavior": {"Recency": {"Duration": duration, "RecencyType": "INACTIVE"}}}
    inside = endpoint(EffectiveDate=format_date(NOW - window + timedelta(seconds=1)))
    edge = endpoint(EffectiveDate=format_date(NOW - window))
    outside = endpoint(EffectiveDate=format_date(NOW - window - timedelta(seconds=1)))
    for doc, is_active in ((inside, True), (edge, True), (outside, False)):
        assert hits(active, doc) is is_active, doc["EffectiveDate"]
        assert hits(inactive, doc) is not is_active, doc["EffectiveDate"]
    # The same endpoint, judged a day later, may have become inactive.
    later = NOW + timedelta(days=1)
    assert not hits(active, inside, now=later)
    assert hits(inactive, inside, now=later)


# --- combining ------------------------------------------------------------------------------


def test_dimension_members_combine_with_and():
    dims = {
        "Attributes": {"color": {"Values": ["red"]}},
        "Demographic": {"Platform": {"Values": ["ios"]}},
        "Metrics": {"score": {"ComparisonOperator": "GREATER_THAN", "Value": 1}},
    }
    full = endpoint(
        Attributes={"color": ["red"]}, Demographic={"Platform": "ios"}, Metrics={"score": 2}
    )
    assert hits(dims, full)
    assert not hits(dims, {**full, "Metrics": {"score": 0}})
    assert not hits(dims, {**full, "Demographic": {"Platform": "android"}})


def test_empty_dimensions_match_every_endpoint():
    assert condition_for({"Dimensions": {}}, no_lookup, NOW) == Const(True)
    assert condition_for({}, no_lookup, NOW) == Const(True)
    assert hits({}, endpoint())


def test_date_and_gps_dimensions_compile_to_their_nodes():
    dims = {**date_dims("BEFORE", "2026-03-01T00:00:00Z"), **gps(1, 2)}
    cond = condition_for({"Dimensions": dims}, no_lookup, NOW)
    assert isinstance(cond, AllOf)
    kinds = {type(p) for p in cond.parts}
    assert kinds == {AttributeDate, Near}
    near = next(p for p in cond.parts if isinstance(p, Near))
    assert near.kilometers == 100.0


RED = {"Attributes": {"color": {"Values": ["red"]}}}
IOS = {"Demographic": {"Platform": {"Values": ["ios"]}}}
HIGH = {"Metrics": {"score": {"ComparisonOperator": "GREATER_THAN_OR_EQUAL", "Value": 10}}}


def doc_with(red: bool, ios: bool, high: bool) -> dict:
    return endpoint(
        Attributes={"color": ["red" if red else "blue"]},
        Demographic={"Platform": "ios" if ios else "android"},
        Metrics={"score": 10 if high else 1},
    )


EVERY_DOC = [(r, i, h) for r in (False, True) for i in (False, True) for h in (False, True)]


def group_hits(groups: dict, doc: dict, segments: dict | None = None) -> bool:
    stored = segments or {}

    def lookup(ref: str, version: int | None) -> dict:
        return stored[(ref, version)]

    return matches(condition_for({"SegmentGroups": groups}, lookup, NOW), doc)


@pytest.mark.parametrize(
    ("how", "rule"),
    [
        (None, lambda r, i: r and i),  # Type defaults to ALL
        ("ALL", lambda r, i: r and i),
        ("ANY", lambda r, i: r or i),
        ("NONE", lambda r, i: not (r or i)),
    ],
)
def test_group_type_combines_its_dimension_sets(how, rule):
    group: dict = {"Dimensions": [RED, IOS]}
    if how:
        group["Type"] = how
    for red, ios, high in EVERY_DOC:
        assert group_hits({"Groups": [group]}, doc_with(red, ios, high)) is rule(red, ios), (
            red,
            ios,
        )


@pytest.mark.parametrize(
    ("how", "rule"),
    [
        (None, lambda a, b: a and b),  # Include defaults to ALL
        ("ALL", lambda a, b: a and b),
        ("ANY", lambda a, b: a or b),
        ("NONE", lambda a, b: not (a or b)),
    ],
)
def test_include_combines_the_groups(how, rule):
    groups: dict = {"Groups": [{"Dimensions": [RED]}, {"Dimensions": [HIGH]}]}
    if how:
        groups["Include"] = how
    for red, ios, high in EVERY_DOC:
        assert group_hits(groups, doc_with(red, ios, high)) is rule(red, high), (red, high)


SOURCES = {
    ("red", None): {"Id": "red", "Version": 2, "Dimensions": RED},
    ("red", 1): {"Id": "red", "Version": 1, "Dimensions": HIGH},  # an older version
    ("ios", None): {"Id": "ios", "Version": 1, "Dimensions": IOS},
}


@pytest.mark.parametrize(
    ("how", "rule"),
    [
        (None, lambda r, i: r or i),  # SourceType defaults to ANY
        ("ANY", lambda r, i: r or i),
        ("ALL", lambda r, i: r and i),
        ("NONE", lambda r, i: not (r or i)),
    ],
)
def test_source_type_combines_the_source_segments(how, rule):
    group: dict = {"SourceSegments": [{"Id": "red"}, {"Id": "ios"}]}
    if how:
        group["SourceType"] = how
    for red, ios, high in EVERY_DOC:
        got = group_hits({"Groups": [group]}, doc_with(red, ios, high), SOURCES)
        assert got is rule(red, ios), (red, ios)


def test_a_source_segment_version_is_that_version():
    group = {"SourceSegments": [{"Id": "red", "Version": 1}]}
    for red, ios, high in EVERY_DOC:
        assert group_hits({"Groups": [group]}, doc_with(red, ios, high), SOURCES) is high


def test_group_sources_and_dimensions_must_both_hold():
    group = {"SourceSegments": [{"Id": "red"}], "Dimensions": [IOS, HIGH], "Type": "ANY"}
    for red, ios, high in EVERY_DOC:
        got = group_hits({"Groups": [group]}, doc_with(red, ios, high), SOURCES)
        assert got is (red and (ios or high)), (red, ios, high)


def test_source_segments_may_be_segment_groups_themselves():
    nested = {
        ("either", None): {
            "SegmentGroups": {"Groups": [{"Dimensions": [RED, IOS], "Type": "ANY"}]}
        },
        **SOURCES,
    }
    groups = {"Groups": [{"SourceSegments": [{"Id": "either"}], "Dimensions": [HIGH]}]}
    for red, ios, high in EVERY_DOC:
        assert group_hits(groups, doc_with(red, ios, high), nested) is ((red or ios) and high)


def test_segments_referring_in_a_loop_are_refused():
    loop = {"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": "me"}]}]}}
    with pytest.raises(InvalidInput, match="10 levels"):
        condition_for(loop, lambda ref, version: loop, NOW)


# --- check_request --------------------------------------------------------------------------


def always(ref: str, version: int | None) -> bool:
    return True


def refused(request: dict, exists=always) -> InvalidInput | NotFound:
    with pytest.raises((InvalidInput, NotFound)) as caught:
        check_request(request, exists)
    return caught.value


def test_a_valid_request_passes():
    check_request(
        {
            "Dimensions": {
                **RED,
                **IOS,
                **HIGH,
                **date_dims("BETWEEN", "2026-01-01T00:00:00Z", "2026-02-01"),
                **gps(10, 20, 5),
                "Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "ACTIVE"}},
            }
        },
        always,
    )
    check_request(
        {"SegmentGroups": {"Groups": [{"SourceSegments": [{"Id": "s", "Version": 2}]}]}}, always
    )


def test_dimensions_and_segment_groups_exclude_each_other():
    error = refused({"Dimensions": RED, "SegmentGroups": {"Groups": [{"Dimensions": [IOS]}]}})
    assert isinstance(error, InvalidInput)
    assert error.extra["member"] == "WriteSegmentRequest.SegmentGroups"


def test_unknown_metric_operator_is_named():
    error = refused(
        {"Dimensions": {"Metrics": {"score": {"ComparisonOperator": "ABOUT", "Value": 1}}}}
    )
    assert (
        error.extra["member"] == "WriteSegmentRequest.Dimensions.Metrics.score.ComparisonOperator"
    )
    assert "ABOUT" in error.message and "GREATER_THAN" in error.message


@pytest.mark.parametrize(
    ("dims", "member"),
    [
        ({"Attributes": {"color": {"Values": []}}}, "Dimensions.Attributes.color.Values"),
        ({"UserAttributes": {"plan": {"Values": []}}}, "Dimensions.UserAttributes.plan.Values"),
        ({"Demographic": {"Make": {"Values": []}}}, "Dimensions.Demographic.Make.Values"),
        ({"Location": {"Country": {"Values": []}}}, "Dimensions.Location.Country.Values"),
    ],
)
def test_empty_values_are_named(dims, member):
    error = refused({"Dimensions": dims})
    assert error.extra["member"] == f"WriteSegmentRequest.{member}"
    assert "at least one value" in error.message


@pytest.mark.parametrize(
    ("kind", "values", "says"),
    [
        ("BEFORE", ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"], "exactly 1"),
        ("BETWEEN", ["2026-01-01T00:00:00Z"], "exactly 2"),
        ("ON", ["yesterday"], "'yesterday' is not an ISO 8601"),
        ("BETWEEN", ["2026-02-01T00:00:00Z", "2026-01-01T00:00:00Z"], "must not be after its end"),
    ],
)
def test_bad_date_values_are_named(kind, values, says):
    error = refused(
        {"Dimensions": {"Attributes": {"signup": {"AttributeType": kind, "Values": values}}}}
    )
    assert error.extra["member"] == "WriteSegmentRequest.Dimensions.Attributes.signup.Values"
    assert says in error.message


@pytest.mark.parametrize(
    ("point", "member"),
    [
        ({"Coordinates": {"Latitude": 91, "Longitude": 0}}, "Coordinates.Latitude"),
        ({"Coordinates": {"Latitude": 0, "Longitude": -180.5}}, "Coordinates.Longitude"),
        (
            {"Coordinates": {"Latitude": 0, "Longitude": 0}, "RangeInKilometers": 0},
            "RangeInKilometers",
        ),
    ],
)
def test_bad_gps_points_are_named(point, member):
    error = refused({"Dimensions": {"Location": {"GPSPoint": point}}})
    assert error.extra["member"] == f"WriteSegmentRequest.Dimensions.Location.GPSPoint.{member}"


def test_errors_inside_groups_name_the_group_and_dimension_set():
    request = {
        "SegmentGroups": {"Groups": [{"Dimensions": [RED, {"Attributes": {"x": {"Values": []}}}]}]}
    }
    error = refused(request)
    assert (
        error.extra["member"]
        == "WriteSegmentRequest.SegmentGroups.Groups[0].Dimensions[1].Attributes.x.Values"
    )


def test_a_missing_source_segment_is_not_found_and_named():
    request = {
        "SegmentGroups": {
            "Groups": [{"SourceSegments": [{"Id": "here"}, {"Id": "gone", "Version": 3}]}]
        }
    }
    error = refused(request, exists=lambda ref, version: ref == "here")
    assert isinstance(error, NotFound)
    assert (
        error.extra["member"] == "WriteSegmentRequest.SegmentGroups.Groups[0].SourceSegments[1].Id"
    )
    assert "'gone' version 3" in error.message


def test_at_most_100_dimensions():
    many = {"Attributes": {f"a{i}": {"Values": ["x"]} for i in range(101)}}
    error = refused({"Dimensions": many})
    assert "101 dimensions" in error.message and "at most 100" in error.message
    check_request(
        {"Dimensions": {"Attributes": dict(list(many["Attributes"].items())[:100])}}, always
    )
    # The limit counts across every dimension set of the groups.
    split = {
        "Groups": [
            {"Dimensions": [{"Attributes": {f"a{i}": {"Values": ["x"]}}} for i in range(101)]}
        ]
    }
    assert "101 dimensions" in refused({"SegmentGroups": split}).message
