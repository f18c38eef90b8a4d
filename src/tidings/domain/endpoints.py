"""Endpoint write rules: upsert merging, statuses, opt-out, cohorts and Pinpoint's limits.

An endpoint document holds what a campaign payload carries for the endpoint: every
EndpointResponse member except ``Id`` and ``ApplicationId``.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

import orjson

from tidings.domain.common import normalize_date
from tidings.domain.errors import InvalidInput

PUSH_CHANNELS = frozenset(
    {"ADM", "GCM", "APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "BAIDU"}
)
# Custom attribute maps and the attribute-type names RemoveAttributes uses for them.
ATTRIBUTE_TYPES = {
    "endpoint-custom-attributes": "Attributes",
    "endpoint-metric-attributes": "Metrics",
    "endpoint-user-attributes": "UserAttributes",
}
# Where each attribute type sits in an EndpointRequest, for error messages.
ATTRIBUTE_PATHS = {
    "endpoint-custom-attributes": "Attributes",
    "endpoint-metric-attributes": "Metrics",
    "endpoint-user-attributes": "User.UserAttributes",
}
MAX_ENDPOINT_BYTES = 15 * 1024
MAX_ATTRIBUTE_NAMES = 250
MAX_NAME_LENGTH = 50
MAX_VALUE_LENGTH = 100
MAX_VALUES = 50
MAX_ENDPOINTS_PER_USER = 15
_FORBIDDEN_ID_CHARACTERS = frozenset("${}")
_NO_DOCUMENT: dict = {}  # what a new endpoint is updated over (read, never written)


def check_id(value: str, member: str) -> str:
    if not value or not value.strip():
        raise InvalidInput(f"{member} must not be empty", member=member)
    # Three substring searches cost less than a set of the id's characters (ids are checked
    # for every imported row).
    if "$" in value or "{" in value or "}" in value:
        bad = _FORBIDDEN_ID_CHARACTERS.intersection(value)
        raise InvalidInput(
            f"{member} {value!r} contains {''.join(sorted(bad))!r}; ids may not contain $, {{ or }}",
            member=member,
        )
    return value


def apply_update(
    existing: dict | None,
    request: dict,
    *,
    now: str,
    request_id: str,
    cohort_id: int,
    filters: dict[str, list[str]],
    member: str,
) -> dict:
    """The endpoint after ``request`` is written over ``existing`` (None: a new endpoint).

    Members left out keep their stored values; a custom attribute that is sent replaces
    that attribute's stored values, and an empty list removes it. ``filters`` holds the
    RemoveAttributes patterns per attribute map: matching names are not captured.
    """
    return apply_update_encoded(
        existing, request, now=now, request_id=request_id, cohort_id=cohort_id, filters=filters, member=member
    )[0]


def apply_update_encoded(
    existing: dict | None,
    request: dict,
    *,
    now: str,
    request_id: str,
    cohort_id: int,
    filters: dict[str, list[str]],
    member: str,
) -> tuple[dict, bytes]:
    """``apply_update``, with the document as JSON (the bytes its size was checked on), for
    callers that store it as text.

    Imports run this for every row, so the document is built member by member in the order
    documents keep (ChannelType, Address, EndpointStatus, OptOut, RequestId, Location,
    Demographic, EffectiveDate, Attributes, Metrics, User, CreationDate, CohortId), each from
    the request or else from ``existing``, rather than merged and then reordered; the checks
    run in the order their errors take precedence: Address, Location, User.UserId,
    EffectiveDate, EndpointStatus, OptOut, limits.
    """
    old = existing or _NO_DOCUMENT
    doc: dict = {}
    if "ChannelType" in request:
        doc["ChannelType"] = request["ChannelType"]
    elif "ChannelType" in old:
        doc["ChannelType"] = old["ChannelType"]
    if "Address" in request:
        if not request["Address"].strip():
            # Only ids are barred from $, { and }: an address is whatever the channel uses
            # (an e-mail local part or a CUSTOM URL may hold them).
            raise InvalidInput(f"{member}.Address must not be empty", member=f"{member}.Address")
        doc["Address"] = request["Address"]
    elif "Address" in old:
        doc["Address"] = old["Address"]
    # Pinpoint marks an endpoint ACTIVE on every write unless the caller says otherwise.
    doc["EndpointStatus"] = request.get("EndpointStatus", "ACTIVE")
    if "OptOut" in request:
        doc["OptOut"] = request["OptOut"]
    elif existing is None:
        # An endpoint created without an address cannot be reached: opted out until the
        # caller adds an address and sets OptOut NONE.
        doc["OptOut"] = "NONE" if doc.get("Address") else "ALL"
    else:
        doc["OptOut"] = old.get("OptOut", "NONE")
    doc["RequestId"] = request.get("RequestId", request_id)
    if "Location" in request:
        sent = request["Location"]
        location = {**old["Location"], **sent} if "Location" in old else dict(sent)
        _check_location(location, member)
        doc["Location"] = location
    elif "Location" in old:
        doc["Location"] = old["Location"]
    if "Demographic" in request:
        sent = request["Demographic"]
        doc["Demographic"] = {**old["Demographic"], **sent} if "Demographic" in old else dict(sent)
    elif "Demographic" in old:
        doc["Demographic"] = old["Demographic"]
    doc["EffectiveDate"] = now  # its place; a date the request gives is checked below
    for key in ("Attributes", "Metrics"):
        if key in request:
            doc[key] = _merge_map(old.get(key), request[key], filters.get(key))
        elif key in old:
            doc[key] = old[key]
    if "User" in request:
        user = dict(old["User"]) if "User" in old else {}
        sent = request["User"]
        if "UserId" in sent:
            user["UserId"] = check_id(sent["UserId"], f"{member}.User.UserId")
        if "UserAttributes" in sent:
            user["UserAttributes"] = _merge_map(
                user.get("UserAttributes"), sent["UserAttributes"], filters.get("UserAttributes")
            )
        doc["User"] = user
    elif "User" in old:
        doc["User"] = old["User"]
    if existing is None:
        doc["CreationDate"] = now
        doc["CohortId"] = str(cohort_id)
    else:
        for key in ("CreationDate", "CohortId"):
            if key in old:
                doc[key] = old[key]
    if "EffectiveDate" in request:
        doc["EffectiveDate"] = normalize_date(request["EffectiveDate"], f"{member}.EffectiveDate")
    if doc["EndpointStatus"] not in _CHOICES["EndpointStatus"]:
        _check_choice(doc["EndpointStatus"], "EndpointStatus", member)
    if doc["OptOut"] not in _CHOICES["OptOut"]:
        _check_choice(doc["OptOut"], "OptOut", member)
    return doc, check_limits(doc, member)


_CHOICES = {"EndpointStatus": ("ACTIVE", "INACTIVE"), "OptOut": ("ALL", "NONE")}


def _check_choice(value: str, key: str, member: str) -> None:
    allowed = _CHOICES[key]
    if value not in allowed:
        raise InvalidInput(
            f"{member}.{key} must be {' or '.join(allowed)}, got {value!r}",
            member=f"{member}.{key}",
        )


def _merge_map(stored: dict | None, sent: dict, patterns: list[str] | None) -> dict:
    if not stored and not patterns and [] not in sent.values():
        return dict(sent)  # what the loop below makes of it
    merged = dict(stored or {})
    for name, value in sent.items():
        if patterns and _matches(name, patterns):
            continue
        if value == []:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def is_removed(kind: str, name: str, filters: dict[str, list[str]]) -> bool:
    """Whether RemoveAttributes took ``name`` out of the project's ``kind`` attributes.

    ``filters`` is keyed like ``apply_update``'s: by the endpoint map the patterns apply to.
    """
    patterns = filters.get(ATTRIBUTE_TYPES[kind])
    return bool(patterns) and _matches(name, patterns)


def _check_location(location: dict, member: str) -> None:
    """Check a Location's coordinates and round them, in place (``member`` names the
    endpoint: errors name Endpoint.Location.Latitude)."""
    if "Latitude" in location:
        location["Latitude"] = _coordinate(location["Latitude"], 90, f"{member}.Location.Latitude")
    if "Longitude" in location:
        location["Longitude"] = _coordinate(location["Longitude"], 180, f"{member}.Location.Longitude")


def _coordinate(value: float, limit: int, member: str) -> float:
    if not -limit <= value <= limit:
        raise InvalidInput(f"{member} must be between -{limit} and {limit}, got {value}", member=member)
    return round(float(value), 1)  # Pinpoint keeps coordinates to one decimal place


def check_limits(doc: dict, member: str) -> bytes:
    """Check an endpoint document against Pinpoint's limits; returns it as JSON."""
    user = doc.get("User")
    maps = (
        ("Attributes", doc.get("Attributes")),
        ("Metrics", doc.get("Metrics")),
        ("User.UserAttributes", user.get("UserAttributes") if user else None),
    )
    for where, values in maps:
        if not values:
            continue
        for name, value in values.items():
            if len(name) > MAX_NAME_LENGTH:
                raise InvalidInput(
                    f"{member}.{where} name {name!r} is {len(name)} characters; "
                    f"names may have at most {MAX_NAME_LENGTH}",
                    member=f"{member}.{where}",
                )
            if isinstance(value, list):
                if len(value) > MAX_VALUES:
                    raise InvalidInput(
                        f"{member}.{where}.{name} has {len(value)} values; at most {MAX_VALUES} are allowed",
                        member=f"{member}.{where}.{name}",
                    )
                for item in value:
                    if len(item) > MAX_VALUE_LENGTH:
                        raise InvalidInput(
                            f"{member}.{where}.{name} has a value of {len(item)} characters; "
                            f"values may have at most {MAX_VALUE_LENGTH}",
                            member=f"{member}.{where}.{name}",
                        )
    encoded = orjson.dumps(doc)
    if len(encoded) > MAX_ENDPOINT_BYTES:
        raise InvalidInput(
            f"{member} is {len(encoded)} bytes; an endpoint may be at most {MAX_ENDPOINT_BYTES} bytes",
            member=member,
        )
    return encoded


def attribute_maps(doc: dict) -> tuple[tuple[str, dict | None], ...]:
    """An endpoint's custom attribute maps (or None where it has none), by attribute type."""
    user = doc.get("User")
    return (
        ("endpoint-custom-attributes", doc.get("Attributes")),
        ("endpoint-metric-attributes", doc.get("Metrics")),
        ("endpoint-user-attributes", user.get("UserAttributes") if user else None),
    )


def attribute_names(doc: dict) -> set[tuple[str, str]]:
    """The (attribute-type, name) pairs of an endpoint's custom attributes."""
    return {(kind, name) for kind, values in attribute_maps(doc) if values for name in values}


def user_id(doc: dict) -> str | None:
    return (doc.get("User") or {}).get("UserId")


def address_keepers(written: Iterable[tuple[str, str | None, str]]) -> dict[str, str]:
    """The shared-address rule, first half: of the endpoints written, as (id, address,
    status) in the order written, which one keeps each address: the last ACTIVE one."""
    return {address: endpoint_id for endpoint_id, address, status in written if address and status == "ACTIVE"}


def displaced_by_address(keepers: dict[str, str], rivals: dict[str, dict]) -> list[str]:
    """The shared-address rule, second half: an endpoint written with an address makes the
    other ACTIVE endpoints with that address INACTIVE. ``rivals`` are the endpoints that
    hold the keepers' addresses (id -> document, stored or written); returns the ids to
    deactivate (with ``deactivated``)."""
    return [
        rival_id
        for rival_id, rival in rivals.items()
        if rival["EndpointStatus"] == "ACTIVE" and keepers.get(rival.get("Address")) not in (None, rival_id)
    ]


def make_room_for_user(doc: dict, others: list[tuple[str, dict]], member: str) -> list[str]:
    """Apply the 15-endpoints-per-user rule for an endpoint joining a user.

    ``others`` are the user's other endpoints. Returns the ids of push endpoints that must
    be detached (made INACTIVE, their UserId removed) to make room; raises when the
    endpoint may not join.
    """
    if len(others) < MAX_ENDPOINTS_PER_USER:
        return []
    if doc.get("ChannelType") in PUSH_CHANNELS:
        pushes = [
            (o.get("EffectiveDate", ""), oid)
            for oid, o in others
            if o.get("ChannelType") in PUSH_CHANNELS
        ]
        if pushes:
            return [min(pushes)[1]]
    raise InvalidInput(
        f"{member}.User.UserId: user {user_id(doc)!r} already has {len(others)} endpoints; a user "
        f"may have at most {MAX_ENDPOINTS_PER_USER}. Delete one (DeleteEndpoint) or give this "
        "endpoint another UserId",
        member=f"{member}.User.UserId",
    )


def detached(doc: dict, now: str) -> dict:
    """A push endpoint pushed out of its user to make room for a newer one."""
    result = dict(doc)
    user = dict(result.get("User") or {})
    user.pop("UserId", None)
    result["User"] = user
    result["EndpointStatus"] = "INACTIVE"
    result["EffectiveDate"] = now
    return result


def deactivated(doc: dict) -> dict:
    return {**doc, "EndpointStatus": "INACTIVE"}


def to_response(app_id: str, endpoint_id: str, doc: dict) -> dict:
    return {"ApplicationId": app_id, "Id": endpoint_id, **doc}
