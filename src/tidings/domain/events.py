"""Events: PutEvents limits, `_campaign.send` stream records and campaign KPIs.

Pure logic. The store counts deliveries with SQL; this module says which deliveries count
for what, and shapes the counts as Pinpoint's ``KpiResult`` rows.

What the KPIs count
-------------------
Every endpoint a campaign run considered has one delivery record (one `_campaign.send`
event) whose ``campaign_send_status`` says how it ended.

* **attempted**: the endpoint was handed to the channel (the function or webhook was
  called for it), whatever came back: ``SUCCESS``, ``FAILURE``, ``TRANSIENT_FAILURE``,
  ``FAILURE_PERMANENT``, ``THROTTLED``, ``UNKNOWN`` and ``CUSTOM_DELIVERY_FAILURE``.
  Endpoints skipped before delivery are not attempts: ``HOLDOUT``, ``QUIET_TIME``,
  ``DAILY_CAP``, ``CAMPAIGN_CAP``, ``EXPIRED``, ``DUPLICATE_ADDRESS``,
  ``UNSUPPORTED_CHANNEL``, ``RECOMMENDATION_FAILURE`` and ``HOOK_FAILURE`` (the FILTER hook
  failed, so the channel never saw the endpoint). This matches an activity's
  ``TotalEndpointCount``.
* **successful**: ``SUCCESS``, the channel accepted the endpoint.
* **unique deliveries**: distinct endpoints with a successful delivery; an endpoint
  reached by several runs in the range counts once (once per group when grouped).
* **successful delivery rate**: successful / attempted, 0.0 when nothing was attempted.

Rows: a single-valued KPI always answers one row (``GroupedBys`` empty). A grouped KPI
answers one row per group (run, UTC day or campaign) in which at least one endpoint was
attempted, so a campaign that never sent answers ``Rows: []``. The e-mail, push and SMS
KPIs (opens, clicks, bounces, spend) are accepted and answer zero: custom channels produce
none of those events.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson

from tidings.domain.common import format_date, parse_date
from tidings.domain.errors import InvalidInput

# --- PutEvents ----------------------------------------------------------------------------

MAX_EVENTS_PER_REQUEST = 100
MAX_REQUEST_BYTES = 4 * 1024 * 1024
MAX_EVENT_BYTES = 1000 * 1024
MAX_EVENT_KEYS = 40  # attribute plus metric names, per event
MAX_EVENT_KEY_LENGTH = 50
MAX_EVENT_VALUE_LENGTH = 200

ACCEPTED = {"StatusCode": 202, "Message": "Accepted"}


def check_batch(batch: Mapping[str, Mapping]) -> None:
    """Refuse a whole PutEvents request that breaks a per-request limit."""
    where = "EventsRequest.BatchItem"
    if not batch:
        raise InvalidInput(f"{where} must hold at least one endpoint and its events", member=where)
    total = sum(len(item.get("Events") or {}) for item in batch.values())
    if total > MAX_EVENTS_PER_REQUEST:
        raise InvalidInput(
            f"{where} holds {total} events; a PutEvents request may carry at most "
            f"{MAX_EVENTS_PER_REQUEST}. Split the events over several requests",
            member=where,
        )
    size = sum(len(orjson.dumps(item.get("Events") or {})) for item in batch.values())
    if size > MAX_REQUEST_BYTES:
        raise InvalidInput(
            f"{where} holds {size} bytes of events; a PutEvents request may carry at most "
            f"{MAX_REQUEST_BYTES} bytes. Split the events over several requests",
            member=where,
        )


def event_problem(event: Mapping, where: str) -> str | None:
    """Why Pinpoint would drop this event, or None when it is accepted."""
    if not str(event.get("EventType", "")).strip():
        return f"{where}.EventType is required: name the event, e.g. 'purchase' or '_session.start'"
    if parse_date(event.get("Timestamp", "")) is None:
        return (
            f"{where}.Timestamp must be an ISO 8601 date-time such as 2026-12-01T09:00:00Z, "
            f"got {event.get('Timestamp')!r}"
        )
    session = event.get("Session") or {}
    if session and parse_date(session.get("StartTimestamp", "")) is None:
        return (
            f"{where}.Session.StartTimestamp must be an ISO 8601 date-time, "
            f"got {session.get('StartTimestamp')!r}"
        )
    attributes = event.get("Attributes") or {}
    metrics = event.get("Metrics") or {}
    if len(attributes) + len(metrics) > MAX_EVENT_KEYS:
        return (
            f"{where} has {len(attributes)} attributes and {len(metrics)} metrics; an event may "
            f"have at most {MAX_EVENT_KEYS} attribute and metric names together"
        )
    for kind, names in (("Attributes", attributes), ("Metrics", metrics)):
        for name in names:
            if len(name) > MAX_EVENT_KEY_LENGTH:
                return (
                    f"{where}.{kind} name {name!r} is {len(name)} characters; "
                    f"names may have at most {MAX_EVENT_KEY_LENGTH}"
                )
    for name, value in attributes.items():
        if len(value) > MAX_EVENT_VALUE_LENGTH:
            # Pinpoint drops such an event rather than truncating the value.
            return (
                f"{where}.Attributes.{name} is {len(value)} characters; attribute values may "
                f"have at most {MAX_EVENT_VALUE_LENGTH}, so the event was dropped"
            )
    size = len(orjson.dumps(dict(event)))
    if size > MAX_EVENT_BYTES:
        return f"{where} is {size} bytes; an event may be at most {MAX_EVENT_BYTES} bytes"
    return None


def item_result(problem: str | None) -> dict:
    """A per-endpoint or per-event result of PutEvents."""
    return dict(ACCEPTED) if problem is None else {"StatusCode": 400, "Message": problem}


def event_timestamp(event: Mapping) -> str:
    """The event's Timestamp in Pinpoint's stored form (call after ``event_problem``)."""
    moment = parse_date(event["Timestamp"])
    assert moment is not None
    return format_date(moment)


# --- event stream -----------------------------------------------------------------------------

# Kinesis stream names: 1-128 of [a-zA-Z0-9_.-]; Firehose stream names: 1-64 of the same.
_STREAM_ARN = re.compile(
    r"arn:aws[a-z-]*:(?:kinesis:[a-z0-9-]+:\d{12}:stream/[a-zA-Z0-9_.-]{1,128}"
    r"|firehose:[a-z0-9-]+:\d{12}:deliverystream/[a-zA-Z0-9_.-]{1,64})"
)


def check_stream_arn(arn: str, member: str = "WriteEventStream.DestinationStreamArn") -> str:
    """Refuse a destination that is neither a Kinesis stream nor a Firehose stream ARN.

    Tidings keeps the ARN as an opaque name for where records go; only its form is checked.
    """
    if not _STREAM_ARN.fullmatch(arn):
        raise InvalidInput(
            f"{member} must be a Kinesis data stream ARN (arn:aws:kinesis:<region>:<account>:"
            f"stream/<name>) or a Firehose stream ARN (arn:aws:firehose:<region>:<account>:"
            f"deliverystream/<name>), got {arn!r}",
            member=member,
        )
    return arn


# --- `_campaign.send` stream records ---------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(stamp: str) -> int:
    """Unix milliseconds of an ISO 8601 date-time, exactly (no float rounding)."""
    moment = parse_date(stamp)
    if moment is None:
        raise ValueError(f"not an ISO 8601 date-time: {stamp!r}")
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def send_record(delivery: Mapping, *, account_id: str, arrival_ms: int | None = None) -> dict:
    """The event-stream record (event_version 3.1) of one delivery row.

    ``delivery`` has the columns of the ``deliveries`` table. Without ``arrival_ms`` the
    record arrives when it happened: Tidings writes the record as it settles the send.
    """
    happened = epoch_ms(delivery["at"])
    endpoint = delivery.get("endpoint")
    if isinstance(endpoint, bytes | bytearray):
        endpoint = endpoint.decode()
    if not isinstance(endpoint, str):
        endpoint = orjson.dumps(endpoint or {}).decode()
    return {
        "event_type": "_campaign.send",
        "event_timestamp": happened,
        "arrival_timestamp": happened if arrival_ms is None else arrival_ms,
        "event_version": "3.1",
        "application": {"app_id": delivery["app_id"], "sdk": {}},
        "client": {"client_id": delivery["endpoint_id"]},
        "device": {"platform": {}},
        "session": {},
        "attributes": {
            "campaign_id": delivery["campaign_id"],
            "treatment_id": str(delivery["treatment_id"]),
            "campaign_activity_id": delivery["activity_id"],
            "delivery_type": "CUSTOM",
            "campaign_send_status": delivery["status"],
        },
        "client_context": {"custom": {"endpoint": endpoint}},
        "awsAccountId": account_id,
    }


# --- KPIs -----------------------------------------------------------------------------------

SUCCESSFUL = "SUCCESS"
ATTEMPTED = (
    "SUCCESS",
    "FAILURE",
    "TRANSIENT_FAILURE",
    "FAILURE_PERMANENT",
    "THROTTLED",
    "UNKNOWN",
    "CUSTOM_DELIVERY_FAILURE",
)

MAX_RANGE = timedelta(days=31)
MAX_AGE = timedelta(days=90)

# How rows are grouped: the GroupedBys key, and what the store groups by.
BY_ACTIVITY = "CampaignActivityId"
BY_DATE = "Date"
BY_CAMPAIGN = "CampaignId"


@dataclass(frozen=True)
class Kpi:
    name: str
    value_key: str  # the Key of the row's one value
    measure: str  # "rate", "unique", "successful", "attempted" or "none" (always zero)
    group_by: str | None = None  # None, BY_ACTIVITY, BY_DATE or BY_CAMPAIGN
    application_only: bool = False  # grouped by campaign: only GetApplicationDateRangeKpi


@dataclass(frozen=True)
class DeliveryCounts:
    """What the store counts for one group (or for the whole range)."""

    group: str | None
    attempted: int
    successful: int
    unique_successful: int


def _kpis() -> dict[str, Kpi]:
    found: list[Kpi] = []

    def add(base: str, key: str, measure: str, groups: Iterable[str | None]) -> None:
        suffixes = {None: "", BY_ACTIVITY: "-grouped-by-campaign-activity", BY_DATE: "-grouped-by-date",
                    BY_CAMPAIGN: "-grouped-by-campaign"}  # fmt: skip
        for group in groups:
            found.append(Kpi(base + suffixes[group], key, measure, group, group == BY_CAMPAIGN))

    every = (None, BY_ACTIVITY, BY_DATE, BY_CAMPAIGN)
    add("successful-delivery-rate", "SuccessfulDeliveryRate", "rate", every)
    add("unique-deliveries", "UniqueDeliveries", "unique", every)
    add("successful-deliveries", "SuccessfulDeliveries", "successful", (BY_ACTIVITY, BY_CAMPAIGN))
    add("attempted-deliveries", "AttemptedDeliveries", "attempted", (BY_ACTIVITY, BY_CAMPAIGN))
    # Events only e-mail, push and SMS produce: custom channels never have any.
    add("hard-bounce-rate", "HardBounceRate", "none", (None, BY_ACTIVITY, BY_CAMPAIGN))
    add("email-open-rate", "EmailOpenRate", "none", (None, BY_ACTIVITY, BY_CAMPAIGN))
    add("direct-email-opens", "DirectEmailOpens", "none", (BY_ACTIVITY, BY_CAMPAIGN))
    add("clicks", "Clicks", "none", (BY_ACTIVITY, BY_CAMPAIGN))
    add("push-open-rate", "PushOpenRate", "none", (None, BY_ACTIVITY, BY_CAMPAIGN))
    add("direct-push-opens", "DirectPushOpens", "none", (BY_ACTIVITY, BY_CAMPAIGN))
    add("sms-spend", "SmsSpend", "none", (None,))  # in millicents
    return {kpi.name: kpi for kpi in found}


KPIS = _kpis()


def supported_kpis(*, application: bool) -> list[str]:
    return sorted(k.name for k in KPIS.values() if application or not k.application_only)


def find_kpi(name: str, *, application: bool) -> Kpi:
    """The KPI named ``name``; ``application`` is True for GetApplicationDateRangeKpi."""
    kpi = KPIS.get(name)
    if kpi is not None and kpi.application_only and not application:
        raise InvalidInput(
            f"KpiName (kpi-name in the path) {name!r} is an application metric; ask "
            "GetApplicationDateRangeKpi for it, or drop '-grouped-by-campaign' for this campaign",
            member="KpiName",
        )
    if kpi is None:
        raise InvalidInput(
            f"KpiName (kpi-name in the path) {name!r} is not a metric Tidings knows; use one of "
            + ", ".join(supported_kpis(application=application)),
            member="KpiName",
        )
    return kpi


def date_range(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """The inclusive range a KPI query covers, checked against Pinpoint's rules.

    Without a range the last 31 days are used; a missing end is 31 days after the start or
    now, whichever is earlier, and a missing start is 31 days before the end.
    """
    if end is None:
        # Up to now, and never before the start (a start ahead of now is an empty range).
        end = now if start is None else max(start, min(start + MAX_RANGE, now))
    if start is None:
        start = end - MAX_RANGE
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start > end:
        raise InvalidInput(
            f"StartTime (start-time) {format_date(start)} is after EndTime (end-time) "
            f"{format_date(end)}; give the earlier date first",
            member="StartTime",
        )
    if end - start > MAX_RANGE:
        raise InvalidInput(
            f"The range from StartTime (start-time) {format_date(start)} to EndTime (end-time) "
            f"{format_date(end)} spans {_days(end - start)} days; a KPI query may span at most 31 days",
            member="EndTime",
        )
    if start < now - MAX_AGE:
        raise InvalidInput(
            f"StartTime (start-time) {format_date(start)} is more than 90 days ago; KPI data is "
            f"kept for 90 days, so start at {format_date(now - MAX_AGE)} or later",
            member="StartTime",
        )
    return start, end


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:.0f}" if days.is_integer() else f"{days:.1f}"


def _value(kpi: Kpi, counts: DeliveryCounts) -> float:
    if kpi.measure == "rate":
        return counts.successful / counts.attempted if counts.attempted else 0.0
    if kpi.measure == "unique":
        return float(counts.unique_successful)
    if kpi.measure == "successful":
        return float(counts.successful)
    if kpi.measure == "attempted":
        return float(counts.attempted)
    return 0.0


def result_value(key: str, value: object, kind: str) -> dict:
    return {"Key": key, "Type": kind, "Value": str(value)}


def kpi_rows(kpi: Kpi, counts: Iterable[DeliveryCounts]) -> list[dict]:
    """The KpiResult rows of ``kpi`` from the store's counts.

    ``counts`` holds one entry (group None) for a single-valued KPI, else one per group in
    the order rows should appear.
    """
    if kpi.group_by is None:
        total = next(iter(counts), DeliveryCounts(None, 0, 0, 0))
        return [
            {
                "GroupedBys": [],
                "Values": [result_value(kpi.value_key, _value(kpi, total), "Double")],
            }
        ]
    if kpi.measure == "none":
        return []
    return [
        {
            "GroupedBys": [result_value(kpi.group_by, group.group, "String")],
            "Values": [result_value(kpi.value_key, _value(kpi, group), "Double")],
        }
        for group in counts
        if group.attempted
    ]


def kpi_result(kpi: Kpi, counts: Iterable[DeliveryCounts]) -> dict:
    return {"Rows": kpi_rows(kpi, counts)}
