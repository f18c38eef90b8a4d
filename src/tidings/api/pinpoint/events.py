"""PutEvents, the event stream setting, and campaign and application KPIs."""

from __future__ import annotations

from datetime import UTC, datetime

from tidings.api.pinpoint import endpoints
from tidings.domain import events as event_rules
from tidings.domain.common import format_date, now_iso
from tidings.domain.errors import InvalidInput, NotFound
from tidings.store import apps, campaigns, sends
from tidings.store import events as store
from tidings.wire.app import Call

# --- PutEvents -------------------------------------------------------------------------------


def put_events(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    batch = params["EventsRequest"]["BatchItem"]
    event_rules.check_batch(batch)
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
    endpoint_results = _upsert_endpoints(call, app_id, batch)
    arrival = now_iso()
    results: dict[str, dict] = {}
    accepted: list[dict] = []
    for endpoint_id, item in batch.items():
        event_results = {}
        for event_id, event in (item.get("Events") or {}).items():
            problem = event_rules.event_problem(
                event, f"EventsRequest.BatchItem.{endpoint_id}.Events.{event_id}"
            )
            event_results[event_id] = event_rules.item_result(problem)
            if problem is None:
                accepted.append(
                    {
                        "app_id": app_id,
                        "endpoint_id": endpoint_id,
                        "event_id": event_id,
                        "event_type": event["EventType"],
                        "timestamp": event_rules.event_timestamp(event),
                        "arrival": arrival,
                        "doc": event,
                    }
                )
        results[endpoint_id] = {
            "EndpointItemResponse": endpoint_results[endpoint_id],
            "EventsItemResponse": event_results,
        }
    if accepted:
        call.state.db.transact(lambda conn: store.add_events(conn, accepted))
    return {"EventsResponse": {"Results": results}}


def _upsert_endpoints(call: Call, app_id: str, batch: dict) -> dict[str, dict]:
    """Write each item's endpoint as UpdateEndpointsBatch would; a result per endpoint.

    Events are recorded whether or not their endpoint could be written: the endpoint part
    and the events part of an item succeed or fail on their own, as Pinpoint reports them.
    """
    writes = [
        (i, item["Endpoint"], f"EventsRequest.BatchItem.{i}.Endpoint") for i, item in batch.items()
    ]
    try:
        endpoints.write(call, app_id, writes)
        return {i: event_rules.item_result(None) for i in batch}
    except InvalidInput:
        pass
    # One bad endpoint must not cost the others theirs: write them one at a time and
    # report each one's fate.
    results = {}
    for write in writes:
        try:
            endpoints.write(call, app_id, [write])
            results[write[0]] = event_rules.item_result(None)
        except InvalidInput as error:
            results[write[0]] = event_rules.item_result(error.message)
    return results


# --- event stream ----------------------------------------------------------------------------


def _no_stream(app_id: str) -> NotFound:
    return NotFound(
        f"Application {app_id!r} has no event stream; PutEventStream sets one up",
        resource=app_id,
    )


def put_event_stream(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    request = params["WriteEventStream"]
    destination = event_rules.check_stream_arn(request["DestinationStreamArn"])
    role = request["RoleArn"]
    if not role.strip():
        raise InvalidInput(
            "WriteEventStream.RoleArn must name the IAM role that may write to the stream",
            member="WriteEventStream.RoleArn",
        )
    doc = {
        "ApplicationId": app_id,
        "DestinationStreamArn": destination,
        "RoleArn": role,
        "LastModifiedDate": now_iso(),
    }

    def work(conn):
        apps.get(conn, app_id, lock=True)
        store.put_stream(conn, app_id, doc)
        return doc

    return {"EventStream": call.state.db.transact(work)}


def get_event_stream(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        doc = store.get_stream(conn, app_id)
    if doc is None:
        raise _no_stream(app_id)
    return {"EventStream": doc}


def delete_event_stream(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]

    def work(conn):
        apps.get(conn, app_id, lock=True)
        doc = store.delete_stream(conn, app_id)
        if doc is None:
            raise _no_stream(app_id)
        return doc

    return {"EventStream": call.state.db.transact(work)}


# --- KPIs ------------------------------------------------------------------------------------


def _kpi(call: Call, params: dict, campaign_id: str | None) -> dict:
    """The members a date-range KPI response shares; ``campaign_id`` None for the whole app."""
    app_id = params["ApplicationId"]
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        if campaign_id is not None:
            campaigns.head(conn, app_id, campaign_id)
        kpi = event_rules.find_kpi(params["KpiName"], application=campaign_id is None)
        start, end = event_rules.date_range(
            params.get("StartTime"), params.get("EndTime"), datetime.now(UTC)
        )
        counts = []
        if kpi.measure != "none":
            counts = sends.delivery_counts(
                conn,
                app_id,
                start=format_date(start),
                end=format_date(end),
                campaign_id=campaign_id,
                group_by=kpi.group_by,
            )
    # Campaign and application metrics are not paged: NextToken stays out.
    return {
        "ApplicationId": app_id,
        "KpiName": kpi.name,
        "StartTime": format_date(start),
        "EndTime": format_date(end),
        "KpiResult": event_rules.kpi_result(kpi, counts),
    }


def get_campaign_date_range_kpi(call: Call, params: dict) -> dict:
    campaign_id = params["CampaignId"]
    return {
        "CampaignDateRangeKpiResponse": {
            **_kpi(call, params, campaign_id),
            "CampaignId": campaign_id,
        }
    }


def get_application_date_range_kpi(call: Call, params: dict) -> dict:
    return {"ApplicationDateRangeKpiResponse": _kpi(call, params, None)}
