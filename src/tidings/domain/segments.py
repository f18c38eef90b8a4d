"""Segments: request checks, and the condition a segment version stands for.

A segment version compiles to a small condition tree. The store pushes the parts it can
into SQL and this module's :func:`matches` evaluates the rest, so both places share one
meaning of every dimension:

- Attributes / UserAttributes: INCLUSIVE = the endpoint has any listed value; EXCLUSIVE =
  it has none of them (an endpoint without the attribute matches); CONTAINS = one of its
  values contains a listed value (case-sensitive); BEFORE / AFTER / ON / BETWEEN compare
  values as ISO 8601 instants (ON compares the UTC date; BETWEEN is inclusive).
- Demographic (AppVersion, Channel = ChannelType, Make, Model, Platform) and
  Location.Country: SetDimension, exact and case-sensitive. Endpoints carry no device
  type, so DeviceType INCLUSIVE matches nothing and EXCLUSIVE everything.
- Location.GPSPoint: great-circle distance to the endpoint's coordinates, at most
  RangeInKilometers (100 km when left out).
- Metrics: the endpoint's metric compared with Value; a missing metric never matches.
- Behavior.Recency: the endpoint was last written (EffectiveDate) within the Duration
  (ACTIVE) or not (INACTIVE).
- SegmentGroups: a group is (its SourceSegments combined by SourceType, default ANY) and
  (its Dimensions combined by Type, default ALL); groups combine by Include (default ALL).
- Imported segments (SegmentType IMPORT, made by import jobs): the endpoints the version's
  import listed, and only those. Only SQL can answer that (the list is a table).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tidings.domain.common import format_date, parse_date
from tidings.domain.errors import InvalidInput, NotFound

MAX_DIMENSIONS = 100
DEFAULT_RANGE_KM = 100.0
RECENCY = {
    "HR_24": timedelta(hours=24),
    "DAY_7": timedelta(days=7),
    "DAY_14": timedelta(days=14),
    "DAY_30": timedelta(days=30),
}
COMPARISONS = ("GREATER_THAN", "LESS_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN_OR_EQUAL", "EQUAL")
# SegmentDemographics member -> the endpoint field it compares (None: no such field).
DEMOGRAPHIC_FIELDS = {
    "AppVersion": "Demographic.AppVersion",
    "Channel": "ChannelType",
    "DeviceType": None,
    "Make": "Demographic.Make",
    "Model": "Demographic.Model",
    "Platform": "Demographic.Platform",
}
EARTH_RADIUS_KM = 6371.0088


# --- the condition tree ---------------------------------------------------------------


class Cond:
    __slots__ = ()


@dataclass(frozen=True)
class Const(Cond):
    value: bool


@dataclass(frozen=True)
class AllOf(Cond):
    parts: tuple[Cond, ...]


@dataclass(frozen=True)
class AnyOf(Cond):
    parts: tuple[Cond, ...]


@dataclass(frozen=True)
class Not(Cond):
    part: Cond


@dataclass(frozen=True)
class FieldIn(Cond):
    """A scalar endpoint field (``ChannelType``, ``Demographic.Platform``, ...) is one of values."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class AttributeIn(Cond):
    """A custom attribute (``Attributes`` or ``UserAttributes``) has any of the values."""

    source: str
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class AttributeContains(Cond):
    source: str
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class AttributeDate(Cond):
    source: str
    name: str
    operator: str  # BEFORE, AFTER, ON, BETWEEN
    bounds: tuple[datetime, ...]


@dataclass(frozen=True)
class MetricCompare(Cond):
    name: str
    operator: str
    value: float


@dataclass(frozen=True)
class Near(Cond):
    latitude: float
    longitude: float
    kilometers: float


@dataclass(frozen=True)
class WrittenSince(Cond):
    """EffectiveDate is at or after ``since`` (an ISO string in the stored form)."""

    since: str


@dataclass(frozen=True)
class Imported(Cond):
    """The endpoint is on the member list of an imported segment's version."""

    segment_id: str
    version: int


def all_of(parts: list[Cond]) -> Cond:
    flat: list[Cond] = []
    for part in parts:
        if isinstance(part, Const):
            if not part.value:
                return part
            continue
        flat.extend(part.parts if isinstance(part, AllOf) else (part,))
    if not flat:
        return Const(True)
    return flat[0] if len(flat) == 1 else AllOf(tuple(flat))


def any_of(parts: list[Cond]) -> Cond:
    flat: list[Cond] = []
    for part in parts:
        if isinstance(part, Const):
            if part.value:
                return part
            continue
        flat.extend(part.parts if isinstance(part, AnyOf) else (part,))
    if not flat:
        return Const(False)
    return flat[0] if len(flat) == 1 else AnyOf(tuple(flat))


def negate(part: Cond) -> Cond:
    if isinstance(part, Const):
        return Const(not part.value)
    if isinstance(part, Not):
        return part.part
    return Not(part)


def combine(how: str, parts: list[Cond]) -> Cond:
    if how == "ANY":
        return any_of(parts)
    if how == "NONE":
        return negate(any_of(parts))
    return all_of(parts)


# --- from request to condition ---------------------------------------------------------

# Resolves a referenced segment to its stored SegmentResponse document.
SegmentLookup = Callable[[str, int | None], dict]


def condition_for(segment: dict, lookup: SegmentLookup, now: datetime, _depth: int = 0) -> Cond:
    """The condition a stored segment version stands for."""
    if _depth > 10:
        raise InvalidInput("segment groups refer to each other more than 10 levels deep")
    if segment.get("SegmentType") == "IMPORT":
        return Imported(segment["Id"], segment["Version"])
    if segment.get("SegmentGroups"):
        return _groups(segment["SegmentGroups"], lookup, now, _depth)
    return _dimensions(segment.get("Dimensions") or {}, now)


def _groups(groups: dict, lookup: SegmentLookup, now: datetime, depth: int) -> Cond:
    group_conds = []
    for group in groups.get("Groups") or []:
        sources = [
            condition_for(lookup(ref["Id"], ref.get("Version")), lookup, now, depth + 1)
            for ref in group.get("SourceSegments") or []
        ]
        dims = [_dimensions(d, now) for d in group.get("Dimensions") or []]
        parts = []
        if sources:
            parts.append(combine(group.get("SourceType") or "ANY", sources))
        if dims:
            parts.append(combine(group.get("Type") or "ALL", dims))
        group_conds.append(all_of(parts))
    return combine(groups.get("Include") or "ALL", group_conds)


def _dimensions(dims: dict, now: datetime) -> Cond:
    parts: list[Cond] = []
    for source in ("Attributes", "UserAttributes"):
        for name, dim in (dims.get(source) or {}).items():
            parts.append(_attribute(source, name, dim))
    for name, dim in (dims.get("Metrics") or {}).items():
        parts.append(MetricCompare(name, dim["ComparisonOperator"], float(dim["Value"])))
    recency = (dims.get("Behavior") or {}).get("Recency")
    if recency:
        since = format_date(now - RECENCY[recency["Duration"]])
        written = WrittenSince(since)
        parts.append(written if recency["RecencyType"] == "ACTIVE" else negate(written))
    for key, dim in (dims.get("Demographic") or {}).items():
        field = DEMOGRAPHIC_FIELDS[key]
        has = FieldIn(field, tuple(dim["Values"])) if field else Const(False)
        parts.append(negate(has) if dim.get("DimensionType") == "EXCLUSIVE" else has)
    location = dims.get("Location") or {}
    if "Country" in location:
        dim = location["Country"]
        has = FieldIn("Location.Country", tuple(dim["Values"]))
        parts.append(negate(has) if dim.get("DimensionType") == "EXCLUSIVE" else has)
    if "GPSPoint" in location:
        point = location["GPSPoint"]
        coords = point["Coordinates"]
        parts.append(
            Near(
                coords["Latitude"],
                coords["Longitude"],
                point.get("RangeInKilometers", DEFAULT_RANGE_KM),
            )
        )
    return all_of(parts)


def _attribute(source: str, name: str, dim: dict) -> Cond:
    kind = dim.get("AttributeType") or "INCLUSIVE"
    values = tuple(dim["Values"])
    if kind == "INCLUSIVE":
        return AttributeIn(source, name, values)
    if kind == "EXCLUSIVE":
        return negate(AttributeIn(source, name, values))
    if kind == "CONTAINS":
        return AttributeContains(source, name, values)
    bounds = tuple(parse_date(v) for v in values)
    return AttributeDate(source, name, kind, bounds)  # type: ignore[arg-type]


# --- evaluating a condition on one endpoint document -----------------------------------


def field_value(doc: dict, field: str) -> object:
    value: object = doc
    for part in field.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def attribute_values(doc: dict, source: str, name: str) -> list:
    holder = (
        doc.get("Attributes")
        if source == "Attributes"
        else (doc.get("User") or {}).get("UserAttributes")
    )
    values = (holder or {}).get(name)
    return values if isinstance(values, list) else []


def matches(cond: Cond, doc: dict) -> bool:
    if isinstance(cond, AllOf):
        return all(matches(p, doc) for p in cond.parts)
    if isinstance(cond, AnyOf):
        return any(matches(p, doc) for p in cond.parts)
    if isinstance(cond, Not):
        return not matches(cond.part, doc)
    if isinstance(cond, Const):
        return cond.value
    if isinstance(cond, FieldIn):
        return field_value(doc, cond.field) in cond.values
    if isinstance(cond, AttributeIn):
        return any(v in cond.values for v in attribute_values(doc, cond.source, cond.name))
    if isinstance(cond, AttributeContains):
        return any(
            needle in v
            for v in attribute_values(doc, cond.source, cond.name)
            for needle in cond.values
        )
    if isinstance(cond, AttributeDate):
        return any(
            _date_matches(cond, parse_date(v))
            for v in attribute_values(doc, cond.source, cond.name)
        )
    if isinstance(cond, MetricCompare):
        value = (doc.get("Metrics") or {}).get(cond.name)
        return isinstance(value, int | float) and compare(value, cond.operator, cond.value)
    if isinstance(cond, Near):
        location = doc.get("Location") or {}
        lat, lon = location.get("Latitude"), location.get("Longitude")
        if lat is None or lon is None:
            return False
        return distance_km(cond.latitude, cond.longitude, lat, lon) <= cond.kilometers
    if isinstance(cond, WrittenSince):
        return (doc.get("EffectiveDate") or "") >= cond.since
    if isinstance(cond, Imported):
        # Member lists are tables: only SQL reads them, and check_imported_alone keeps them
        # out of the conditions left to Python.
        raise TypeError(f"imported segment {cond.segment_id!r} reached Python evaluation")
    raise TypeError(f"unknown condition {cond!r}")


def compare(left: float, operator: str, right: float) -> bool:
    if operator == "GREATER_THAN":
        return left > right
    if operator == "LESS_THAN":
        return left < right
    if operator == "GREATER_THAN_OR_EQUAL":
        return left >= right
    if operator == "LESS_THAN_OR_EQUAL":
        return left <= right
    return left == right


def _date_matches(cond: AttributeDate, value: datetime | None) -> bool:
    if value is None:
        return False
    bounds = cond.bounds
    if cond.operator == "BEFORE":
        return value < bounds[0]
    if cond.operator == "AFTER":
        return value > bounds[0]
    if cond.operator == "ON":
        # The UTC date on both sides: .date() alone keeps each value's own offset, so
        # 22:00 at -05:00 would land on the day before the UTC one.
        return _utc_date(value) == _utc_date(bounds[0])
    return bounds[0] <= value <= bounds[1]


def _utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _contains(cond: Cond, kinds: tuple[type, ...]) -> bool:
    if isinstance(cond, kinds):
        return True
    if isinstance(cond, AllOf | AnyOf):
        return any(_contains(p, kinds) for p in cond.parts)
    return isinstance(cond, Not) and _contains(cond.part, kinds)


def check_imported_alone(cond: Cond, member: str) -> None:
    """Refuse a condition that joins an imported segment's list with a dimension only Python
    can evaluate (GPSPoint, date attributes) under ANY or NONE: the store evaluates each
    top-level conjunct either in SQL or in Python, and only SQL can read a member list."""
    parts = cond.parts if isinstance(cond, AllOf) else (cond,)
    for part in parts:
        if _contains(part, (Imported,)) and _contains(part, (Near, AttributeDate)):
            raise InvalidInput(
                f"{member} combine an imported segment with a GPSPoint or date dimension under ANY or "
                "NONE, which Tidings cannot evaluate; put the imported segment in a group of its own, "
                "combined with the others by ALL",
                member=member,
            )


# --- checking a WriteSegmentRequest ---------------------------------------------------


def check_request(request: dict, exists: Callable[[str, int | None], bool]) -> None:
    """Raise InvalidInput (or NotFound for a missing source segment) for a request Pinpoint
    would refuse. ``exists`` tells whether a referenced segment (and version) exists."""
    root = "WriteSegmentRequest"
    # Present is enough: an empty Dimensions next to SegmentGroups would be stored and echoed
    # with both, a segment no reader could make sense of.
    if "Dimensions" in request and "SegmentGroups" in request:
        raise InvalidInput(
            f"{root} may carry Dimensions or SegmentGroups, not both",
            member=f"{root}.SegmentGroups",
        )
    count = 0
    if "Dimensions" in request:
        count += _check_dimensions(request["Dimensions"], f"{root}.Dimensions")
    groups = request.get("SegmentGroups") or {}
    for gi, group in enumerate(groups.get("Groups") or []):
        where = f"{root}.SegmentGroups.Groups[{gi}]"
        for di, dims in enumerate(group.get("Dimensions") or []):
            count += _check_dimensions(dims, f"{where}.Dimensions[{di}]")
        for si, ref in enumerate(group.get("SourceSegments") or []):
            if not exists(ref["Id"], ref.get("Version")):
                version = f" version {ref['Version']}" if "Version" in ref else ""
                raise NotFound(
                    f"{where}.SourceSegments[{si}] refers to segment {ref['Id']!r}{version}, "
                    "which does not exist in this application",
                    member=f"{where}.SourceSegments[{si}].Id",
                )
    if count > MAX_DIMENSIONS:
        raise InvalidInput(
            f"{root} has {count} dimensions; a segment may have at most {MAX_DIMENSIONS}",
            member=f"{root}.Dimensions",
        )


def _check_dimensions(dims: dict, where: str) -> int:
    count = 0
    for source in ("Attributes", "UserAttributes"):
        for name, dim in (dims.get(source) or {}).items():
            count += 1
            _check_attribute(dim, f"{where}.{source}.{name}")
    for name, dim in (dims.get("Metrics") or {}).items():
        count += 1
        if dim["ComparisonOperator"] not in COMPARISONS:
            raise InvalidInput(
                f"{where}.Metrics.{name}.ComparisonOperator must be one of {', '.join(COMPARISONS)}, "
                f"got {dim['ComparisonOperator']!r}",
                member=f"{where}.Metrics.{name}.ComparisonOperator",
            )
    for key, dim in (dims.get("Demographic") or {}).items():
        count += 1
        _check_values(dim, f"{where}.Demographic.{key}")
    location = dims.get("Location") or {}
    if "Country" in location:
        count += 1
        _check_values(location["Country"], f"{where}.Location.Country")
    if "GPSPoint" in location:
        count += 1
        point = location["GPSPoint"]
        coords = point["Coordinates"]
        for key, limit in (("Latitude", 90), ("Longitude", 180)):
            if not -limit <= coords[key] <= limit:
                raise InvalidInput(
                    f"{where}.Location.GPSPoint.Coordinates.{key} must be between -{limit} and {limit}",
                    member=f"{where}.Location.GPSPoint.Coordinates.{key}",
                )
        if point.get("RangeInKilometers", DEFAULT_RANGE_KM) <= 0:
            raise InvalidInput(
                f"{where}.Location.GPSPoint.RangeInKilometers must be greater than 0",
                member=f"{where}.Location.GPSPoint.RangeInKilometers",
            )
    if (dims.get("Behavior") or {}).get("Recency"):
        count += 1
    return count


def _check_values(dim: dict, where: str) -> None:
    if not dim["Values"]:
        raise InvalidInput(f"{where}.Values must list at least one value", member=f"{where}.Values")


def _check_attribute(dim: dict, where: str) -> None:
    _check_values(dim, where)
    kind = dim.get("AttributeType") or "INCLUSIVE"
    values = dim["Values"]
    if kind in ("BEFORE", "AFTER", "ON", "BETWEEN"):
        wanted = 2 if kind == "BETWEEN" else 1
        if len(values) != wanted:
            raise InvalidInput(
                f"{where}.Values must hold exactly {wanted} ISO 8601 date-time(s) for AttributeType {kind}, "
                f"got {len(values)}",
                member=f"{where}.Values",
            )
        for value in values:
            if parse_date(value) is None:
                raise InvalidInput(
                    f"{where}.Values: {value!r} is not an ISO 8601 date-time (AttributeType {kind})",
                    member=f"{where}.Values",
                )
        if kind == "BETWEEN" and parse_date(values[0]) > parse_date(values[1]):  # type: ignore[operator]
            raise InvalidInput(
                f"{where}.Values: the start of a BETWEEN range must not be after its end",
                member=f"{where}.Values",
            )
