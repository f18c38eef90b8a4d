"""Segments and their versions."""

from __future__ import annotations

from datetime import UTC, datetime

from tidings.api.pinpoint.common import version_number
from tidings.domain import segments as segment_rules
from tidings.domain.common import new_id, now_iso
from tidings.domain.errors import InvalidInput
from tidings.domain.paging import page_size
from tidings.store import apps, campaigns, segments, tags
from tidings.wire.app import Call

_WRITE_MEMBERS = ("Name", "Dimensions", "SegmentGroups")


def _with_tags(conn, doc: dict) -> dict:
    return {**doc, "tags": tags.of(conn, doc["Arn"])}


def _check(conn, app_id: str, segment_id: str, request: dict, doc: dict) -> None:
    """Refuse what Pinpoint refuses, and groups that lead back to this segment."""
    segment_rules.check_request(request, lambda ref, version: ref == segment_id or segments.exists(conn, app_id, ref, version))

    def lookup(ref: str, version: int | None) -> dict:
        if ref == segment_id and version in (None, doc["Version"]):
            return doc
        return segments.get(conn, app_id, ref, version)

    try:
        cond = segment_rules.condition_for(doc, lookup, datetime.now(UTC))
    except InvalidInput:
        raise InvalidInput(
            "WriteSegmentRequest.SegmentGroups refer back to this segment, directly or through other "
            "segments; a segment cannot include itself",
            member="WriteSegmentRequest.SegmentGroups",
        ) from None
    segment_rules.check_imported_alone(cond, "WriteSegmentRequest.SegmentGroups")


def create_segment(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    request = params["WriteSegmentRequest"]
    segment_id, now = new_id(), now_iso()
    arn = call.state.child_arn(app_id, "segments", segment_id)
    doc = {
        "ApplicationId": app_id,
        "Arn": arn,
        "CreationDate": now,
        "Id": segment_id,
        "LastModifiedDate": now,
        "SegmentType": "DIMENSIONAL",
        "Version": 1,
        **{k: request[k] for k in _WRITE_MEMBERS if k in request},
    }

    def work(conn):
        apps.get(conn, app_id)
        _check(conn, app_id, segment_id, request, doc)
        segments.create(conn, app_id, segment_id, now, doc)
        tags.put(conn, arn, app_id, request.get("tags") or {})
        return _with_tags(conn, doc)

    return {"SegmentResponse": call.state.db.transact(work)}


def update_segment(call: Call, params: dict) -> dict:
    app_id, segment_id = params["ApplicationId"], params["SegmentId"]
    request = params["WriteSegmentRequest"]

    def work(conn):
        apps.get(conn, app_id, lock=True)
        old = segments.get(conn, app_id, segment_id)
        if old.get("SegmentType") == "IMPORT" and ("Dimensions" in request or "SegmentGroups" in request):
            raise InvalidInput(
                f"Segment {segment_id!r} is an imported segment: its endpoints are the ones its import "
                "listed, so only its Name can change. Refresh it with CreateImportJob and SegmentId, "
                "or create a segment whose SegmentGroups use it as a source",
                member="WriteSegmentRequest.Dimensions" if "Dimensions" in request else "WriteSegmentRequest.SegmentGroups",
            )
        doc = {**old, **{k: request[k] for k in _WRITE_MEMBERS if k in request}}
        # Dimensions and SegmentGroups exclude each other: sending one replaces the other.
        if "Dimensions" in request:
            doc.pop("SegmentGroups", None)
        if "SegmentGroups" in request:
            doc.pop("Dimensions", None)
        doc["Version"] = old["Version"] + 1
        doc["LastModifiedDate"] = now_iso()
        _check(conn, app_id, segment_id, request, doc)
        segments.add_version(conn, app_id, segment_id, doc["Version"], doc)
        return _with_tags(conn, doc)

    return {"SegmentResponse": call.state.db.transact(work)}


def get_segment(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        return {"SegmentResponse": _with_tags(conn, segments.get(conn, app_id, params["SegmentId"]))}


def get_segment_version(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    version = version_number(params["Version"])
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        doc = segments.get(conn, app_id, params["SegmentId"], version)
        return {"SegmentResponse": _with_tags(conn, doc)}


def get_segments(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    size = page_size(params.get("PageSize"))
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        docs, token = segments.page(conn, app_id, size, params.get("Token"))
        items = [_with_tags(conn, d) for d in docs]
    return {"SegmentsResponse": {"Item": items, "NextToken": token}}


def get_segment_versions(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    size = page_size(params.get("PageSize"))
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        docs, token = segments.versions_page(conn, app_id, params["SegmentId"], size, params.get("Token"))
        items = [_with_tags(conn, d) for d in docs]
    return {"SegmentsResponse": {"Item": items, "NextToken": token}}


def delete_segment(call: Call, params: dict) -> dict:
    app_id, segment_id = params["ApplicationId"], params["SegmentId"]

    def work(conn):
        apps.get(conn, app_id, lock=True)
        doc = _with_tags(conn, segments.get(conn, app_id, segment_id))
        # Pinpoint fails the campaigns that send to a deleted segment with status DELETED.
        campaigns.set_status(conn, app_id, campaigns.using_segment(conn, app_id, segment_id), "DELETED")
        segments.delete_segment(conn, app_id, segment_id)
        tags.remove_all(conn, doc["Arn"])
        return doc

    return {"SegmentResponse": call.state.db.transact(work)}
