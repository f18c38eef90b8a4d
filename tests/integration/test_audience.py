"""Streaming a segment's endpoints out of a real store (SQLite and PostgreSQL).

The property test stores random endpoints and random segments (single-dimension ones,
several-dimension ones with versions, SegmentGroups over them), streams every segment
version through ``tidings.store.audience`` (SQL push-down, Python residual, keyset pages
of 3) and compares the ids and their order with a plain reference evaluator written here
from the semantics in ``tidings.domain.segments``' docstring; the reference shares no code
with that module. ``TIDINGS_AUDIENCE_EXAMPLES=2000`` runs a longer search.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis import target as aim_for

from tests.conftest import Server
from tests.services import migrated_store
from tidings.domain import segments as seg
from tidings.domain.endpoints import apply_update
from tidings.store import audience, schema
from tidings.store import endpoints as endpoint_store
from tidings.store import segments as segment_store
from tidings.store.db import Database

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
PAGE_SIZE = 3  # small, so that most audiences span several keyset pages


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request, tmp_path_factory) -> Iterator[Database]:
    """One migrated store per backend for the whole module; each example uses a fresh app id."""
    with migrated_store(request.param, tmp_path_factory.mktemp("audience")) as db:
        yield db


def put_endpoints(db: Database, app_id: str, requests: dict[str, dict]) -> dict[str, dict]:
    """Store endpoints as the API does (apply_update builds the documents)."""
    docs = endpoint_docs(requests)
    with db.write() as conn:
        endpoint_store.save(conn, app_id, docs)
    return docs


def endpoint_docs(requests: dict[str, dict]) -> dict[str, dict]:
    return {
        endpoint_id: apply_update(
            None,
            request,
            now="2026-01-01T00:00:00.000Z",
            request_id="r",
            cohort_id=i % 100,
            filters={},
            member=f"EndpointRequest[{endpoint_id}]",
        )
        for i, (endpoint_id, request) in enumerate(requests.items())
    }


def put_segment(db: Database, app_id: str, segment_id: str, versions: list[dict]) -> None:
    """Store a segment with one version per element of ``versions`` (Dimensions or SegmentGroups)."""
    with db.write() as conn:
        save_segment(conn, app_id, segment_id, versions)


def save_segment(conn, app_id: str, segment_id: str, versions: list[dict]) -> None:
    for number, body in enumerate(versions, start=1):
        doc = {"Id": segment_id, "Version": number, "SegmentType": "DIMENSIONAL", **body}
        if number == 1:
            segment_store.create(conn, app_id, segment_id, "2026-01-01T00:00:00.000Z", doc)
        else:
            segment_store.add_version(conn, app_id, segment_id, number, doc)


def streamed(
    db: Database, app_id: str, segment_id: str, version: int | None = None, **options
) -> list[audience.Member]:
    with db.read() as conn:
        cond = audience.condition(conn, app_id, segment_id, version, NOW)
    return list(audience.stream(db, app_id, cond, page_size=PAGE_SIZE, **options))


# --- the reference evaluator ------------------------------------------------------------------
# Deliberately plain: one function per dimension, straight from the documented semantics.

RECENCY_WINDOWS = {
    "HR_24": timedelta(hours=24),
    "DAY_7": timedelta(days=7),
    "DAY_14": timedelta(days=14),
    "DAY_30": timedelta(days=30),
}


def ref_instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ref_attribute(dim: dict, values: list[str]) -> bool:
    kind = dim.get("AttributeType", "INCLUSIVE")
    wanted = dim["Values"]
    if kind == "INCLUSIVE":
        return any(v in wanted for v in values)
    if kind == "EXCLUSIVE":
        return not any(v in wanted for v in values)
    if kind == "CONTAINS":
        return any(w in v for v in values for w in wanted)
    bounds = [ref_instant(b) for b in wanted]
    instants = [i for i in (ref_instant(v) for v in values) if i is not None]
    if kind == "BEFORE":
        return any(i < bounds[0] for i in instants)
    if kind == "AFTER":
        return any(i > bounds[0] for i in instants)
    if kind == "ON":
        day = bounds[0].astimezone(UTC).date()
        return any(i.astimezone(UTC).date() == day for i in instants)
    assert kind == "BETWEEN"
    return any(bounds[0] <= i <= bounds[1] for i in instants)


def ref_metric(dim: dict, value: float | None) -> bool:
    if value is None:
        return False
    target = dim["Value"]
    return {
        "GREATER_THAN": value > target,
        "LESS_THAN": value < target,
        "GREATER_THAN_OR_EQUAL": value >= target,
        "LESS_THAN_OR_EQUAL": value <= target,
        "EQUAL": value == target,
    }[dim["ComparisonOperator"]]


def ref_set(dim: dict, value: str | None) -> bool:
    inside = value is not None and value in dim["Values"]
    return not inside if dim.get("DimensionType") == "EXCLUSIVE" else inside


def ref_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    # Haversine on a sphere of the Earth's mean radius.
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.atan2(math.sqrt(h), math.sqrt(max(0.0, 1 - h)))


def ref_dimensions(dims: dict, ep: dict) -> bool:
    attributes = ep.get("Attributes", {})
    user_attributes = ep.get("User", {}).get("UserAttributes", {})
    for name, dim in dims.get("Attributes", {}).items():
        if not ref_attribute(dim, attributes.get(name, [])):
            return False
    for name, dim in dims.get("UserAttributes", {}).items():
        if not ref_attribute(dim, user_attributes.get(name, [])):
            return False
    for name, dim in dims.get("Metrics", {}).items():
        if not ref_metric(dim, ep.get("Metrics", {}).get(name)):
            return False
    recency = dims.get("Behavior", {}).get("Recency")
    if recency:
        written = datetime.fromisoformat(ep["EffectiveDate"])
        active = written >= NOW - RECENCY_WINDOWS[recency["Duration"]]
        if active != (recency["RecencyType"] == "ACTIVE"):
            return False
    demographic = ep.get("Demographic", {})
    for member, dim in dims.get("Demographic", {}).items():
        if member == "Channel":
            value = ep.get("ChannelType")
        elif member == "DeviceType":
            value = None  # endpoints carry no device type
        else:
            value = demographic.get(member)
        if not ref_set(dim, value):
            return False
    location = dims.get("Location", {})
    where = ep.get("Location", {})
    if "Country" in location and not ref_set(location["Country"], where.get("Country")):
        return False
    if "GPSPoint" in location:
        point = location["GPSPoint"]
        if "Latitude" not in where or "Longitude" not in where:
            return False
        centre = point["Coordinates"]
        km = ref_km(centre["Latitude"], centre["Longitude"], where["Latitude"], where["Longitude"])
        if km > point.get("RangeInKilometers", 100):
            return False
    return True


def ref_combine(how: str, results: list[bool]) -> bool:
    if how == "ALL":
        return all(results)
    if how == "ANY":
        return any(results)
    assert how == "NONE"
    return not any(results)


def ref_segment(segment: dict, ep: dict, library: dict[str, list[dict]]) -> bool:
    """Whether ``ep`` is in ``segment``; ``library`` maps a segment id to its versions."""
    groups = segment.get("SegmentGroups")
    if not groups:
        return ref_dimensions(segment.get("Dimensions", {}), ep)
    results = []
    for group in groups["Groups"]:
        ok = True
        refs = group.get("SourceSegments", [])
        if refs:
            sources = []
            for ref in refs:
                versions = library[ref["Id"]]
                body = versions[ref["Version"] - 1] if "Version" in ref else versions[-1]
                sources.append(ref_segment(body, ep, library))
            ok = ok and ref_combine(group.get("SourceType", "ANY"), sources)
        sets = group.get("Dimensions", [])
        if sets:
            ok = ok and ref_combine(group.get("Type", "ALL"), [ref_dimensions(d, ep) for d in sets])
        results.append(ok)
    return ref_combine(groups.get("Include", "ALL"), results)


# --- what to generate ------------------------------------------------------------------------

# Ids mixing case, digits, punctuation and a non-ASCII letter, many the prefix of another:
# keyset pages must still come out in code point order, as Python's sorted() has it.
ID_POOL = sorted(
    {a + b for a in "aAbZ09_-é" for b in ["", "a", "0", "_", "é"]}, key=lambda i: (len(i), i)
)
CHANNELS = ["EMAIL", "SMS", "GCM", "CUSTOM"]
DEMOGRAPHIC_FIELDS = ["AppVersion", "Make", "Model", "Platform"]
DEMOGRAPHIC_VALUES = ["a", "A", "b", "1.0"]
COUNTRIES = ["US", "FR", "us"]
# "color" and "Color" mostly hold words, DATE_NAME mostly dates; a few values cross over.
WORD_NAMES = ["color", "Color"]
DATE_NAME = 'a.b, {"c"}'  # a name that is no valid JSON path or array literal as it stands
METRIC_NAMES = ["score", DATE_NAME]
METRIC_VALUES = [-1, 0, 1, 2.5, 3, 10, 0.001]
WORDS = ["red", "Red", "dark red", "blue", "é", ""]
DATES = [
    "2026-03-01T00:00:00Z",
    "2026-03-01T23:30:00-05:00",  # 2 March in UTC
    "2026-02-28T22:00:00-05:00",  # 1 March in UTC
    "2026-03-01T01:00:00+02:00",  # 28 February in UTC
    "2026-02-28T23:59:59Z",
    "2026-03-01",
    "2026-03-01T12:00:00.250Z",
    "2026-03-15T12:00:00Z",
    "soon",  # not a date: date operators skip it
]
BOUNDS = [d for d in DATES if d != "soon"]
CENTRES = [(48.9, 2.4), (-33.9, 151.2), (0.0, 179.9)]  # the last one straddles 180
RANGES = [1, 20, 50, 150, 500, 20000]
AGES = [
    timedelta(0),
    timedelta(hours=1),
    timedelta(hours=24) - timedelta(milliseconds=1),
    timedelta(hours=24),
    timedelta(hours=24, milliseconds=1),
    timedelta(days=7),
    timedelta(days=8),
    timedelta(days=14, seconds=1),
    timedelta(days=29),
    timedelta(days=30),
    timedelta(days=31),
    timedelta(hours=-3),  # a date in the future
]
HOW = ["ALL", "ANY", "NONE"]

small = st.sampled_from


# Endpoint parts (and GPS centres) come from fixed lists of variants, the first one empty,
# so that an endpoint is a handful of choices: examples stay short and shrink fast.
_rng = random.Random(20261124)


def _coordinates() -> tuple[float, float]:
    lat, lon = _rng.choice(CENTRES)
    lat = round(max(-90.0, min(90.0, lat + _rng.randint(-15, 15) / 10)), 1)
    lon = lon + _rng.randint(-15, 15) / 10
    return lat, round(lon - 360 if lon > 180 else lon, 1)


def _location() -> dict:
    location: dict = {}
    if _rng.random() < 0.5:
        location["Country"] = _rng.choice(COUNTRIES)
    shape = _rng.choice(["both", "both", "none", "latitude only"])
    if shape != "none":
        lat, lon = _coordinates()
        location["Latitude"] = lat
        if shape == "both":
            location["Longitude"] = lon
    return location


def _attributes() -> dict[str, list[str]]:
    words, dates = [*WORDS, DATES[0]], [*DATES, "red"]
    names = _rng.sample([*WORD_NAMES, DATE_NAME], _rng.randint(1, 3))
    return {
        name: _rng.sample(dates if name == DATE_NAME else words, _rng.randint(1, 3))
        for name in names
    }


DEMOGRAPHIC_VARIANTS = [{}] + [
    {
        f: _rng.choice(DEMOGRAPHIC_VALUES)
        for f in _rng.sample(DEMOGRAPHIC_FIELDS, _rng.randint(1, 3))
    }
    for _ in range(40)
]
LOCATION_VARIANTS = [{}] + [_location() for _ in range(60)]
GPS_CENTRES = [_coordinates() for _ in range(60)]
ATTRIBUTE_VARIANTS = [{}] + [_attributes() for _ in range(80)]
METRIC_VARIANTS = [{}] + [
    {m: _rng.choice(METRIC_VALUES) for m in _rng.sample(METRIC_NAMES, _rng.randint(1, 2))}
    for _ in range(30)
]


@st.composite
def endpoint_requests(draw) -> dict:
    request: dict = {}
    if draw(st.integers(0, 4)):
        request["ChannelType"] = draw(small(CHANNELS))
    for member, variants in (
        ("Demographic", DEMOGRAPHIC_VARIANTS),
        ("Location", LOCATION_VARIANTS),
        ("Attributes", ATTRIBUTE_VARIANTS),
        ("Metrics", METRIC_VARIANTS),
    ):
        if value := draw(small(variants)):
            request[member] = value
    if user_attributes := draw(small(ATTRIBUTE_VARIANTS)):
        request["User"] = {"UserId": "u1", "UserAttributes": user_attributes}
    written = NOW - draw(small(AGES))
    offset = timezone(timedelta(hours=draw(small([0, 2, -5]))))
    request["EffectiveDate"] = written.astimezone(offset).isoformat()
    return request


@st.composite
def attribute_maps(draw) -> dict[str, dict]:
    """One or two AttributeDimensions by name; the kind is drawn first, then a name that
    mostly holds values of that kind (dates for BEFORE/AFTER/ON/BETWEEN)."""
    result = {}
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(
            small(
                [None, "INCLUSIVE", "EXCLUSIVE", "CONTAINS", "CONTAINS"]
                + ["BEFORE", "AFTER", "ON", "BETWEEN"]
            )
        )
        if kind == "BETWEEN":
            pair = draw(st.lists(small(BOUNDS), min_size=2, max_size=2))
            values = sorted(pair, key=ref_instant)
        elif kind in ("BEFORE", "AFTER", "ON"):
            values = [draw(small(BOUNDS))]
        elif kind == "CONTAINS":
            needles = ["re", "Re", "ed", "red", "Red", "dark", "03-01", "-05:00", "é", ""]
            values = draw(st.lists(small(needles), min_size=1, max_size=2))
        else:
            values = draw(st.lists(small([*WORDS, *DATES[:3]]), min_size=1, max_size=3))
        usual = [DATE_NAME] if kind in ("BEFORE", "AFTER", "ON", "BETWEEN") else WORD_NAMES
        name = draw(small([*usual, *usual, *usual, *WORD_NAMES, DATE_NAME]))
        dim: dict = {"Values": values}
        if kind:
            dim["AttributeType"] = kind
        result[name] = dim
    return result


def set_dimensions(values: list[str]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"Values": st.lists(small(values), min_size=1, max_size=2)},
        optional={"DimensionType": small(["INCLUSIVE", "EXCLUSIVE"])},
    )


@st.composite
def gps_points(draw) -> dict:
    lat, lon = draw(small(GPS_CENTRES))
    point: dict = {"Coordinates": {"Latitude": lat, "Longitude": lon}}
    if draw(st.booleans()):
        point["RangeInKilometers"] = draw(small(RANGES))
    return point


DEMOGRAPHIC_DIMENSIONS = st.one_of(
    st.fixed_dictionaries({"Channel": set_dimensions(CHANNELS)}),
    st.fixed_dictionaries({"DeviceType": set_dimensions(["PHONE", "TABLET"])}),
    st.dictionaries(
        small(DEMOGRAPHIC_FIELDS), set_dimensions(DEMOGRAPHIC_VALUES), min_size=1, max_size=2
    ),
)

OPERATORS = ["GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL"]
METRIC_DIMENSIONS = st.fixed_dictionaries(
    {"ComparisonOperator": small(OPERATORS), "Value": small(METRIC_VALUES)}
)
RECENCY_DIMENSIONS = st.fixed_dictionaries(
    {"Duration": small(list(RECENCY_WINDOWS)), "RecencyType": small(["ACTIVE", "INACTIVE"])}
)
LOCATION_DIMENSIONS = st.one_of(
    st.fixed_dictionaries({"Country": set_dimensions(COUNTRIES)}),
    st.fixed_dictionaries({"GPSPoint": gps_points()}),
    st.fixed_dictionaries({"Country": set_dimensions(COUNTRIES), "GPSPoint": gps_points()}),
)
MEMBERS = {
    "Attributes": attribute_maps(),
    "UserAttributes": attribute_maps(),
    "Metrics": st.dictionaries(small(METRIC_NAMES), METRIC_DIMENSIONS, min_size=1, max_size=2),
    "Behavior": st.fixed_dictionaries({"Recency": RECENCY_DIMENSIONS}),
    "Demographic": DEMOGRAPHIC_DIMENSIONS,
    "Location": LOCATION_DIMENSIONS,
}


@st.composite
def dimensions(draw) -> dict:
    """SegmentDimensions with a few members: the more members, the fewer endpoints pass them all."""
    chosen = draw(st.lists(small(list(MEMBERS)), max_size=3, unique=True))
    return {member: draw(MEMBERS[member]) for member in chosen}


DIMENSIONS = dimensions()


@st.composite
def probes(draw) -> dict:
    """SegmentDimensions holding a single dimension, which alone decides who is in."""
    # Attribute members have eight kinds and two maps between them: draw them more often.
    member = draw(small([*MEMBERS, "Attributes", "UserAttributes", "Attributes", "Location"]))
    value = draw(MEMBERS[member])
    if member in ("Attributes", "UserAttributes", "Metrics", "Demographic"):
        name = draw(small(sorted(value)))
        value = {name: value[name]}
    return {member: value}


def segment_groups(library: dict[str, list[dict]]) -> st.SearchStrategy[dict]:
    """SegmentGroups whose SourceSegments refer to the segments (and versions) of ``library``."""
    references = st.one_of(
        [st.just({"Id": sid}) for sid in library]
        + [
            st.just({"Id": sid, "Version": n})
            for sid, versions in library.items()
            for n in range(1, len(versions) + 1)
        ]
    )
    group = st.fixed_dictionaries(
        {},
        optional={
            "Dimensions": st.lists(DIMENSIONS, min_size=1, max_size=2),
            "Type": small(HOW),
            "SourceSegments": st.lists(references, min_size=1, max_size=2),
            "SourceType": small(HOW),
        },
    )
    return st.fixed_dictionaries(
        {"Groups": st.lists(group, min_size=1, max_size=2)}, optional={"Include": small(HOW)}
    )


@st.composite
def endpoint_sets(draw) -> dict[str, dict]:
    """EndpointRequests by id."""
    size = draw(st.integers(0, 20))
    ids = draw(st.permutations(ID_POOL))[:size]
    return {endpoint_id: draw(endpoint_requests()) for endpoint_id in ids}


@st.composite
def libraries(draw) -> dict[str, list[dict]]:
    """Stored segments by id, each a list of versions: single-dimension probes, segments of
    several dimensions (some with two versions), groups over them, and last a ``target``."""
    library: dict[str, list[dict]] = {}
    # A segment of one dimension is decided by that dimension alone: cheap to stream, and a
    # wrong dimension shows at once. Several per example, so every kind comes up often.
    for n, probe in enumerate(draw(st.lists(probes(), min_size=4, max_size=12))):
        library[f"probe{n}"] = [{"Dimensions": probe}]
    for n in range(draw(st.integers(1, 2))):
        versions = draw(st.lists(DIMENSIONS, min_size=1, max_size=2))
        library[f"base{n}"] = [{"Dimensions": d} for d in versions]
    # A source segment may itself be made of groups over the ones before it.
    if draw(st.booleans()):
        library["grouped"] = [{"SegmentGroups": draw(segment_groups(dict(library)))}]
    if draw(st.booleans()):
        library["target"] = [{"Dimensions": draw(DIMENSIONS)}]
    else:
        library["target"] = [{"SegmentGroups": draw(segment_groups(library))}]
    return library


# --- the properties --------------------------------------------------------------------------


@settings(
    max_examples=int(os.environ.get("TIDINGS_AUDIENCE_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    report_multiple_bugs=False,  # report the first disagreement as soon as it is shrunk
)
@given(requests=endpoint_sets(), library=libraries(), data=st.data())
@pytest.mark.timeout(900)  # a failure takes minutes to shrink; let it report its example
def test_stream_yields_exactly_the_reference_members_in_id_order(store, requests, library, data):
    for versions in library.values():
        for body in versions:
            seg.check_request(body, lambda ref, version: True)  # the generators make valid ones
    app_id = uuid.uuid4().hex
    docs = endpoint_docs(requests)
    with store.write() as conn:
        endpoint_store.save(conn, app_id, docs)
        for segment_id, versions in library.items():
            save_segment(conn, app_id, segment_id, versions)
    note(f"segments: {json.dumps(library)}")
    note(f"endpoints: {json.dumps(docs, ensure_ascii=False)}")

    splitting = 0  # segments that keep some endpoints and drop others: the telling ones
    for segment_id, versions in library.items():
        for number, body in enumerate(versions, start=1):
            expected = sorted(i for i, doc in docs.items() if ref_segment(body, doc, library))
            splitting += 0 < len(expected) < len(docs)
            members = streamed(store, app_id, segment_id, number)
            assert [m.id for m in members] == expected, f"{segment_id} version {number}"
            for member in members:
                assert orjson.loads(member.doc) == docs[member.id]
                assert member.cohort_id == int(docs[member.id]["CohortId"])
    aim_for(splitting, label="segments splitting the endpoints")

    # The latest version by default; resuming after any id (a checkpoint) yields the rest.
    target = library["target"][-1]
    expected = sorted(i for i, doc in docs.items() if ref_segment(target, doc, library))
    assert [m.id for m in streamed(store, app_id, "target")] == expected
    if docs:
        after = data.draw(small(sorted(docs)), label="after")
        resumed = [m.id for m in streamed(store, app_id, "target", after=after)]
        assert resumed == [i for i in expected if i > after]


ODD_NAMES = ["a,b", "{x}", 'q"', " pad ", "back\\slash", "NULL", "a.b", "it's", "$.x", "é"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_attribute_and_metric_names_are_taken_literally(store, name):
    """Names are keys, never spliced into JSON paths or array literals."""
    app_id = uuid.uuid4().hex
    put_endpoints(
        store,
        app_id,
        {
            "has": {
                "Attributes": {name: ["v1"]},
                "User": {"UserAttributes": {name: ["v1"]}},
                "Metrics": {name: 1},
                "EffectiveDate": NOW.isoformat(),
            },
            "lacks": {
                "Attributes": {"other": ["v1"]},
                "User": {"UserAttributes": {"other": ["v1"]}},
                "Metrics": {"other": 1},
                "EffectiveDate": NOW.isoformat(),
            },
        },
    )
    cases = {
        "INCLUSIVE": ["has"],
        "CONTAINS": ["has"],
        "EXCLUSIVE": ["lacks"],
        "ON": [],  # v1 is no date
    }
    for kind, wanted in cases.items():
        for source in ("Attributes", "UserAttributes"):
            values = ["2026-03-10"] if kind == "ON" else ["v1"]
            dims = {source: {name: {"AttributeType": kind, "Values": values}}}
            put_segment(store, app_id, f"{kind}-{source}", [{"Dimensions": dims}])
            assert [m.id for m in streamed(store, app_id, f"{kind}-{source}")] == wanted, (
                kind,
                source,
            )
    metric = {"Metrics": {name: {"ComparisonOperator": "EQUAL", "Value": 1}}}
    put_segment(store, app_id, "metric", [{"Dimensions": metric}])
    assert [m.id for m in streamed(store, app_id, "metric")] == ["has"]


# --- push-down -------------------------------------------------------------------------------


def compiled(dims: dict) -> seg.Cond:
    return seg.condition_for({"Dimensions": dims}, lambda ref, version: {}, NOW)


def leaves(cond: seg.Cond) -> Iterator[seg.Cond]:
    if isinstance(cond, seg.AllOf | seg.AnyOf):
        for part in cond.parts:
            yield from leaves(part)
    elif isinstance(cond, seg.Not):
        yield from leaves(cond.part)
    else:
        yield cond


SQL_DIMENSIONS = {
    "Attributes": {
        "color": {"AttributeType": "INCLUSIVE", "Values": ["red"]},
        "size": {"AttributeType": "EXCLUSIVE", "Values": ["XL"]},
        "name": {"AttributeType": "CONTAINS", "Values": ["ann"]},
    },
    "UserAttributes": {"plan": {"Values": ["pro"]}},
    "Metrics": {"score": {"ComparisonOperator": "GREATER_THAN", "Value": 3}},
    "Behavior": {"Recency": {"Duration": "DAY_7", "RecencyType": "INACTIVE"}},
    "Demographic": {
        "Platform": {"Values": ["ios"]},
        "Channel": {"DimensionType": "EXCLUSIVE", "Values": ["SMS"]},
    },
    "Location": {"Country": {"Values": ["US"]}},
}
PYTHON_DIMENSIONS = {
    "Attributes": {"signup": {"AttributeType": "BEFORE", "Values": ["2026-03-01T00:00:00Z"]}},
    "UserAttributes": {"born": {"AttributeType": "ON", "Values": ["2000-01-01"]}},
    "Location": {"GPSPoint": {"Coordinates": {"Latitude": 1.0, "Longitude": 2.0}}},
}


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_split_pushes_every_sql_dimension_into_the_database(dialect):
    where, residual = audience.split(compiled(SQL_DIMENSIONS), dialect)
    assert where is not None
    assert residual == seg.Const(True)
    # Groups of SQL-expressible dimensions go down whole, whatever combines them.
    groups = {
        "Include": "ANY",
        "Groups": [
            {
                "Dimensions": [SQL_DIMENSIONS, {"Metrics": SQL_DIMENSIONS["Metrics"]}],
                "Type": "NONE",
            },
            {"Dimensions": [{"Demographic": SQL_DIMENSIONS["Demographic"]}]},
        ],
    }
    cond = seg.condition_for({"SegmentGroups": groups}, lambda ref, version: {}, NOW)
    where, residual = audience.split(cond, dialect)
    assert where is not None and residual == seg.Const(True)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_split_leaves_only_dates_and_distances_to_python(dialect):
    where, residual = audience.split(compiled({**SQL_DIMENSIONS, **PYTHON_DIMENSIONS}), dialect)
    assert where is not None
    kinds = [type(leaf) for leaf in leaves(residual)]
    assert sorted(k.__name__ for k in kinds) == ["AttributeDate", "AttributeDate", "Near"]
    where, residual = audience.split(compiled(PYTHON_DIMENSIONS), dialect)
    assert where is None
    assert {type(leaf) for leaf in leaves(residual)} == {seg.AttributeDate, seg.Near}


def test_split_of_an_empty_segment_leaves_nothing_to_python():
    _, residual = audience.split(compiled({}), "sqlite")
    assert residual == seg.Const(True)


# --- the CLI ---------------------------------------------------------------------------------


def preview(server: Server, *args: str) -> subprocess.CompletedProcess:
    return server.tidings("segments", "preview", *args, cwd=server.log_path.parent, NO_COLOR="1")


def test_cli_preview_shows_count_and_first_endpoints(store, tmp_path):
    app_id = uuid.uuid4().hex
    with store.write() as conn:  # as CreateApp writes it: GetSegmentPreview checks the app
        conn.execute(
            schema.apps.insert(),
            {"id": app_id, "name": "preview", "creation_date": "2026-01-01T00:00:00.000Z", "settings": {},
             "settings_modified": "2026-01-01T00:00:00.000Z"},
        )  # fmt: skip
    requests = {
        f"ep{n:02d}": {
            "ChannelType": "EMAIL",
            "Address": f"user{n}@example.com",
            "Demographic": {"Platform": "ios" if n % 2 else "android"},
            "Attributes": {"team": ["blue" if n % 3 else "red"]},
            "EffectiveDate": (NOW - timedelta(days=1)).isoformat(),
        }
        for n in range(10)
    }
    put_endpoints(store, app_id, requests)
    put_segment(
        store,
        app_id,
        "ios",
        [
            {"Dimensions": {"Demographic": {"Platform": {"Values": ["ios"]}}}},
            {
                "Dimensions": {
                    "Demographic": {"Platform": {"Values": ["ios"]}},
                    "Attributes": {"team": {"Values": ["red"]}},
                }
            },
        ],
    )
    server = Server(store.url, tmp_path / "server.log").start()
    try:
        check_preview(server, app_id)
    finally:
        server.stop()


def check_preview(server: Server, app_id: str) -> None:
    latest = preview(server, app_id, "ios", "--output", "json", "--limit", "2")
    assert latest.returncode == 0, latest.stderr
    shown = json.loads(latest.stdout)
    assert shown["Count"] == 2  # ep03, ep09: odd and divisible by 3
    assert [e["Id"] for e in shown["Endpoints"]] == ["ep03", "ep09"]
    assert shown["Endpoints"][0]["Address"] == "user3@example.com"
    assert shown["Endpoints"][0]["Demographic"] == {"Platform": "ios"}

    first = json.loads(
        preview(server, app_id, "ios", "--output", "json", "--limit", "3", "--version", "1").stdout
    )
    assert first["Count"] == 5
    assert [e["Id"] for e in first["Endpoints"]] == ["ep01", "ep03", "ep05"]

    table = preview(server, app_id, "ios", "--version", "1")
    assert table.returncode == 0, table.stderr
    assert "5 endpoint(s)" in table.stdout and "user9@example.com" in table.stdout

    missing = preview(server, app_id, "nope", "--output", "json")
    assert missing.returncode == 1
    assert "'nope'" in missing.stderr and missing.stdout == ""
