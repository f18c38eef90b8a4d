"""Endpoints: upserts (one or a batch), reads, deletes, users and RemoveAttributes."""

from __future__ import annotations

import random
from fnmatch import fnmatchcase

from tidings.domain import endpoints as endpoint_rules
from tidings.domain.common import now_iso
from tidings.domain.errors import InvalidInput, NotFound
from tidings.store import apps, endpoints
from tidings.wire.app import Call

MAX_BATCH_ITEMS = 100


def _accepted(call: Call) -> dict:
    return {"MessageBody": {"Message": "Accepted", "RequestID": call.request_id}}


def _missing(endpoint_id: str, app_id: str) -> NotFound:
    return NotFound(
        f"Endpoint {endpoint_id!r} does not exist in application {app_id!r}", resource=endpoint_id
    )


def write(call: Call, app_id: str, items: list[tuple[str, dict, str]]) -> None:
    """Apply endpoint writes (id, EndpointRequest, member name for errors) in one transaction."""
    now = now_iso()
    for endpoint_id, _, member in items:
        endpoint_rules.check_id(endpoint_id, _id_member(member))

    def work(conn):
        apps.get(conn, app_id, lock=True)
        filters = endpoints.filters(conn, app_id)
        stored = endpoints.get_many(conn, app_id, [i for i, _, _ in items], lock=True)
        pending: dict[str, dict] = {}
        joined: list[tuple[str, str]] = []  # (endpoint id, member) that joined a user
        for endpoint_id, request, member in items:
            before = pending.get(endpoint_id, stored.get(endpoint_id))
            doc = endpoint_rules.apply_update(
                before,
                request,
                now=now,
                request_id=call.request_id,
                cohort_id=random.randrange(100),
                filters=filters,
                member=member,
            )
            pending[endpoint_id] = doc
            if endpoint_rules.user_id(doc) and endpoint_rules.user_id(doc) != endpoint_rules.user_id(before or {}):
                joined.append((endpoint_id, member))
        members = {endpoint_id: member for endpoint_id, _, member in items}
        _check_attribute_names(conn, app_id, pending, members, filters)
        for index, (endpoint_id, member) in enumerate(joined):
            later = {i for i, _ in joined[index + 1 :]} - {endpoint_id}
            _make_room(conn, app_id, endpoint_id, member, pending, now, later)
        _deactivate_shared_addresses(conn, app_id, [i for i, _, _ in items], pending)
        endpoints.save(conn, app_id, pending)

    call.state.db.transact(work)


def _id_member(member: str) -> str:
    """How users name the endpoint id of ``member``: UpdateEndpoint takes it in the path."""
    return "EndpointId" if member == "EndpointRequest" else f"{member}.Id"


def _check_attribute_names(
    conn, app_id: str, docs: dict[str, dict], members: dict[str, str], filters: dict[str, list[str]]
) -> None:
    """Record the attribute names the written endpoints bring, at most 250 per project."""
    known = endpoints.known_names(conn, app_id)
    new: dict[tuple[str, str], str] = {}  # (attribute type, name) -> member path that adds it
    for endpoint_id, doc in docs.items():
        for kind, name in sorted(endpoint_rules.attribute_names(doc) - known):
            # A name RemoveAttributes took out stays on the endpoints that had it; it is not
            # captured again, nor counted again when such an endpoint is written.
            if not endpoint_rules.is_removed(kind, name, filters):
                path = f"{members[endpoint_id]}.{endpoint_rules.ATTRIBUTE_PATHS[kind]}.{name}"
                new.setdefault((kind, name), path)
    if not new:
        return
    if len(known) + len(new) > endpoint_rules.MAX_ATTRIBUTE_NAMES:
        paths = sorted(new.values())
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        raise InvalidInput(
            f"Application {app_id!r} already has {len(known)} custom attribute names and this request "
            f"adds {len(new)} ({shown}); a project may have at most "
            f"{endpoint_rules.MAX_ATTRIBUTE_NAMES} across Attributes, Metrics and User.UserAttributes. "
            "Remove unused ones with RemoveAttributes",
            member=paths[0],
        )
    endpoints.add_names(conn, app_id, set(new))


def _make_room(
    conn, app_id: str, endpoint_id: str, member: str, pending: dict, now: str, later: set[str]
) -> None:
    """Apply the per-user limit to an endpoint joining its user.

    Batch items join in order: those in ``later`` have not joined yet, so the 16th item of a
    batch is the one refused (or the one that detaches the oldest push endpoint).
    """
    doc = pending[endpoint_id]
    user = endpoint_rules.user_id(doc)
    others = endpoints.of_user(conn, app_id, user)
    for pid, pdoc in pending.items():
        if endpoint_rules.user_id(pdoc) == user and pid not in later:
            others[pid] = pdoc
        else:
            others.pop(pid, None)
    others.pop(endpoint_id, None)
    for victim in endpoint_rules.make_room_for_user(doc, sorted(others.items()), member):
        pending[victim] = endpoint_rules.detached(others[victim], now)


def _deactivate_shared_addresses(conn, app_id: str, written: list[str], pending: dict) -> None:
    """The shared-address rule (``domain.endpoints.address_keepers``) over what this request writes."""
    keepers = endpoint_rules.address_keepers((i, pending[i].get("Address"), pending[i]["EndpointStatus"]) for i in written)
    if not keepers:
        return
    stored = endpoints.active_with_addresses(conn, app_id, list(keepers))
    # An endpoint this request writes is judged by what it writes, not by what is stored.
    rivals = {i: d for i, d in stored.items() if i not in pending}
    rivals.update({i: d for i, d in pending.items() if d.get("Address") in keepers})
    for rival_id in endpoint_rules.displaced_by_address(keepers, rivals):
        pending[rival_id] = endpoint_rules.deactivated(rivals[rival_id])


def update_endpoint(call: Call, params: dict) -> dict:
    write(
        call,
        params["ApplicationId"],
        [(params["EndpointId"], params["EndpointRequest"], "EndpointRequest")],
    )
    return _accepted(call)


def update_endpoints_batch(call: Call, params: dict) -> dict:
    items = params["EndpointBatchRequest"]["Item"]
    if not items:
        raise InvalidInput(
            "EndpointBatchRequest.Item must hold at least one endpoint",
            member="EndpointBatchRequest.Item",
        )
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidInput(
            f"EndpointBatchRequest.Item holds {len(items)} endpoints; at most {MAX_BATCH_ITEMS} are allowed per call",
            member="EndpointBatchRequest.Item",
        )
    writes = []
    for index, item in enumerate(items):
        member = f"EndpointBatchRequest.Item[{index}]"
        if not item.get("Id"):
            raise InvalidInput(f"{member}.Id is required", member=f"{member}.Id")
        writes.append((item["Id"], {k: v for k, v in item.items() if k != "Id"}, member))
    write(call, params["ApplicationId"], writes)
    return _accepted(call)


def get_endpoint(call: Call, params: dict) -> dict:
    app_id, endpoint_id = params["ApplicationId"], params["EndpointId"]
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        doc = endpoints.get(conn, app_id, endpoint_id)
    if doc is None:
        raise _missing(endpoint_id, app_id)
    return {"EndpointResponse": endpoint_rules.to_response(app_id, endpoint_id, doc)}


def delete_endpoint(call: Call, params: dict) -> dict:
    app_id, endpoint_id = params["ApplicationId"], params["EndpointId"]

    def work(conn):
        apps.get(conn, app_id)
        doc = endpoints.get(conn, app_id, endpoint_id)
        if doc is None:
            raise _missing(endpoint_id, app_id)
        endpoints.delete_ids(conn, app_id, [endpoint_id])
        return endpoint_rules.to_response(app_id, endpoint_id, doc)

    return {"EndpointResponse": call.state.db.transact(work)}


def _user_endpoints(conn, app_id: str, user: str) -> dict[str, dict]:
    apps.get(conn, app_id)
    found = endpoints.of_user(conn, app_id, user)
    if not found:
        raise NotFound(f"User {user!r} has no endpoints in application {app_id!r}", resource=user)
    return found


def get_user_endpoints(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    with call.state.db.read() as conn:
        found = _user_endpoints(conn, app_id, params["UserId"])
    return {
        "EndpointsResponse": {"Item": [endpoint_rules.to_response(app_id, i, d) for i, d in found.items()]}
    }


def delete_user_endpoints(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]

    def work(conn):
        found = _user_endpoints(conn, app_id, params["UserId"])
        endpoints.delete_ids(conn, app_id, list(found))
        return [endpoint_rules.to_response(app_id, i, d) for i, d in found.items()]

    return {"EndpointsResponse": {"Item": call.state.db.transact(work)}}


def remove_attributes(call: Call, params: dict) -> dict:
    app_id, kind = params["ApplicationId"], params["AttributeType"]
    if kind not in endpoint_rules.ATTRIBUTE_TYPES:
        raise InvalidInput(
            f"AttributeType (attribute-type in the path) must be one of "
            f"{', '.join(endpoint_rules.ATTRIBUTE_TYPES)}, got {kind!r}",
            member="AttributeType",
        )
    patterns = params["UpdateAttributesRequest"].get("Blacklist") or []
    if not patterns:
        raise InvalidInput(
            "UpdateAttributesRequest.Blacklist must list at least one attribute name or pattern",
            member="UpdateAttributesRequest.Blacklist",
        )

    def work(conn):
        apps.get(conn, app_id, lock=True)
        known = sorted(name for k, name in endpoints.known_names(conn, app_id) if k == kind)
        removed = [name for name in known if any(fnmatchcase(name, p) for p in patterns)]
        endpoints.add_filters(conn, app_id, kind, patterns)
        endpoints.forget_names(conn, app_id, kind, removed)
        return removed

    removed = call.state.db.transact(work)
    return {
        "AttributesResource": {
            "ApplicationId": app_id,
            "AttributeType": kind,
            "Attributes": removed,
        }
    }
