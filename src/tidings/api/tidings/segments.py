"""Who a segment holds right now."""

from __future__ import annotations

from tidings.store import apps
from tidings.store.audience import preview
from tidings.wire.app import Call

PREVIEW_ENDPOINTS = 10


def get_segment_preview(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
    count, first = preview(
        call.state.db, app_id, params["SegmentId"], params.get("Version"), params.get("EndpointCount", PREVIEW_ENDPOINTS)
    )
    return {"Count": count, "Endpoints": first}
