"""Campaigns, their versions and their activities."""

from __future__ import annotations

from datetime import UTC, datetime

from tidings import outbound
from tidings.api.pinpoint.common import version_number
from tidings.channels import webhook
from tidings.domain import campaigns as campaign_rules
from tidings.domain import delivery
from tidings.domain.common import new_id, now_iso
from tidings.domain.errors import InvalidInput
from tidings.domain.paging import page_size
from tidings.store import apps, campaigns, runs, segments, sends, tags
from tidings.wire.app import Call


def _response(conn, doc: dict, status: str) -> dict:
    return {**campaign_rules.with_state(doc, status), "tags": tags.of(conn, doc["Arn"])}


def _pin_segment(conn, app_id: str, request: dict) -> dict:
    """Check the segment exists and pin its version (the latest when none is given)."""
    segment_id = request.get("SegmentId")
    if not segment_id:
        return request
    doc = segments.get(conn, app_id, segment_id, request.get("SegmentVersion"))
    return {**request, "SegmentVersion": doc["Version"]}


def create_campaign(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    request = {k: v for k, v in params["WriteCampaignRequest"].items() if k != "tags"}
    campaign_id, now = new_id(), now_iso()
    arn = call.state.child_arn(app_id, "campaigns", campaign_id)
    _check_addresses(call, request, previous=None)
    campaign_rules.check_campaign(
        request,
        now=datetime.now(UTC),
        previous=None,
        allow_http_loopback=call.state.settings.allow_http_loopback,
    )
    _check_functions(call, app_id, request, arn, created=True)
    # Outside the transaction: a slow webhook must not hold database locks.
    _check_ownership(call, request, previous=None)

    def work(conn):
        # Locked: an app gaining a Daily cap meanwhile must see this campaign (to index it).
        app = apps.get(conn, app_id, lock=True)
        pinned = _pin_segment(conn, app_id, request)
        doc = campaign_rules.campaign_document(
            pinned, app_id=app_id, campaign_id=campaign_id, arn=arn, version=1, created=now, modified=now
        )
        status = campaign_rules.initial_status(pinned)
        next_run = campaign_rules.next_run_after_write(status, pinned, datetime.now(UTC))
        campaigns.create(conn, app_id, campaign_id, status, doc, next_run)
        sends.index_where_rules_look(conn, app_id, app.settings, [doc])
        tags.put(conn, arn, app_id, params["WriteCampaignRequest"].get("tags") or {})
        return _response(conn, doc, status)

    response = call.state.db.transact(work)
    _wake_scheduler(call)
    return {"CampaignResponse": response}


# Members whose change may point a campaign at another function or start a run.
CHANNEL_MEMBERS = {"CustomDeliveryConfiguration", "Hook", "AdditionalTreatments", "Schedule", "IsPaused"}


def _check_functions(call: Call, app_id: str, request: dict, campaign_arn: str, *, created: bool) -> None:
    """Refuse a write that starts a run at once (StartTime IMMEDIATE) when that run could not
    invoke its function: the function does not exist, or its resource policy does not let
    the campaign invoke it. A later start is accepted: it leaves time to create the function
    and grant the permission (the run reports INVALID if they are still missing then)."""
    engine = call.state.campaigns
    if engine is None or not campaign_rules.starts_at_once(request):
        return
    with call.state.db.read() as conn:
        app_settings = apps.get(conn, app_id).settings
    for via, reference in delivery.function_references(request, app_settings):
        _, problem = engine.function_channel.authorize(reference, campaign_arn)
        if problem is None:
            continue
        if created:
            app_wide = campaign_arn.rsplit("/", 1)[0] + "/*"
            problem += (
                f". The campaign starts at once (StartTime IMMEDIATE), so it was not created: create the "
                f"function and grant the permission first (--source-arn {app_wide} covers every campaign of "
                "the app), or create the campaign with a later StartTime or IsPaused and grant it for the "
                "campaign's own ARN before it runs"
            )
        else:
            problem += ". The update starts a run at once (StartTime IMMEDIATE), so it was not applied"
        raise InvalidInput(f"{via}: {problem}")


def _check_addresses(call: Call, request: dict, previous: dict | None) -> None:
    """The URLs a request brings in (webhooks, the hook's WebUrl) must lead to addresses
    the rules allow. Checked first, so that a refused address is named as such even when
    the URL breaks other rules too (plain http)."""
    loopback = call.state.settings.allow_http_loopback
    for member, url in webhook.new_delivery_urls(request, previous).items():
        outbound.check_url(url, member, allow_loopback=loopback)
    url = (request.get("Hook") or {}).get("WebUrl")
    if url and url != ((previous or {}).get("Hook") or {}).get("WebUrl"):
        outbound.check_url(url, "WriteCampaignRequest.Hook.WebUrl", allow_loopback=loopback)


def _check_ownership(call: Call, request: dict, previous: dict | None) -> None:
    settings = call.state.settings
    if settings.webhook_ownership_check:
        webhook.check_new_delivery_uris(
            request, settings.account_id, previous=previous, allow_loopback=settings.allow_http_loopback
        )


def _wake_scheduler(call: Call) -> None:
    if call.state.campaigns is not None:
        call.state.campaigns.wake()


def update_campaign(call: Call, params: dict) -> dict:
    app_id, campaign_id = params["ApplicationId"], params["CampaignId"]
    # `tags` on update is deprecated in Pinpoint and ignored; TagResource changes tags.
    changes = {k: v for k, v in params["WriteCampaignRequest"].items() if k != "tags"}
    # URLs and functions the update brings in are checked before the transaction (a slow
    # webhook must not hold locks), after the merged request passed validation; URLs the
    # stored campaign already names were checked when they came in.
    settings = call.state.settings
    if changes.keys() & CHANNEL_MEMBERS:
        with call.state.db.read() as conn:
            apps.get(conn, app_id)
            stored_doc = campaigns.get(conn, app_id, campaign_id)[0]
        stored = campaign_rules.write_request_of(stored_doc)
        merged = {**stored, **changes}
        _check_addresses(call, merged, previous=stored)
        campaign_rules.check_campaign(
            merged, now=datetime.now(UTC), previous=stored, allow_http_loopback=settings.allow_http_loopback
        )
        # Only a write of the Schedule, or a resume, starts a run (campaign_rules.after_update).
        resumed = stored.get("IsPaused") and changes.get("IsPaused") is False
        if not merged.get("IsPaused") and ("Schedule" in changes or resumed):
            _check_functions(call, app_id, merged, stored_doc["Arn"], created=False)
        _check_ownership(call, merged, previous=stored)

    def work(conn):
        app = apps.get(conn, app_id, lock=True)  # as in create_campaign
        head = campaigns.head(conn, app_id, campaign_id, lock=True)
        old_doc, _ = campaigns.get(conn, app_id, campaign_id)
        previous = campaign_rules.write_request_of(old_doc)
        merged = {**previous, **changes}
        # A new SegmentId without a SegmentVersion means that segment's latest version, not the
        # version number that was pinned for the old segment.
        if merged.get("SegmentId") != previous.get("SegmentId") and "SegmentVersion" not in changes:
            merged.pop("SegmentVersion", None)
        campaign_rules.check_campaign(
            merged,
            now=datetime.now(UTC),
            previous=previous,
            allow_http_loopback=call.state.settings.allow_http_loopback,
        )
        merged = _pin_segment(conn, app_id, merged)
        doc = campaign_rules.campaign_document(
            merged,
            app_id=app_id,
            campaign_id=campaign_id,
            arn=old_doc["Arn"],
            version=head.version + 1,
            created=old_doc["CreationDate"],
            modified=now_iso(),
        )
        running = runs.has_active_run(conn, app_id, campaign_id)
        status, next_run, keep = campaign_rules.after_update(
            head.status, previous, merged, datetime.now(UTC), running=running, schedule_written="Schedule" in changes
        )
        campaigns.add_version(conn, app_id, campaign_id, status, doc, next_run, keep_next_run=keep)
        sends.index_where_rules_look(conn, app_id, app.settings, [doc])
        return _response(conn, doc, status)

    response = call.state.db.transact(work)
    _wake_scheduler(call)
    return {"CampaignResponse": response}


def get_campaign(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        doc, status = campaigns.get(conn, app_id, params["CampaignId"])
        return {"CampaignResponse": _response(conn, doc, status)}


def get_campaign_version(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    version = version_number(params["Version"])
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        doc, status = campaigns.get(conn, app_id, params["CampaignId"], version)
        return {"CampaignResponse": _response(conn, doc, status)}


def get_campaigns(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    size = page_size(params.get("PageSize"))
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        found, token = campaigns.page(conn, app_id, size, params.get("Token"))
        items = [_response(conn, doc, status) for doc, status in found]
    return {"CampaignsResponse": {"Item": items, "NextToken": token}}


def get_campaign_versions(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    size = page_size(params.get("PageSize"))
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        found, token = campaigns.versions_page(conn, app_id, params["CampaignId"], size, params.get("Token"))
        items = [_response(conn, doc, status) for doc, status in found]
    return {"CampaignsResponse": {"Item": items, "NextToken": token}}


def delete_campaign(call: Call, params: dict) -> dict:
    app_id, campaign_id = params["ApplicationId"], params["CampaignId"]

    def work(conn):
        apps.get(conn, app_id)
        campaigns.head(conn, app_id, campaign_id, lock=True)
        doc, _ = campaigns.get(conn, app_id, campaign_id)
        response = _response(conn, doc, "DELETED")
        campaigns.delete_campaign(conn, app_id, campaign_id)
        tags.remove_all(conn, doc["Arn"])
        return response

    return {"CampaignResponse": call.state.db.transact(work)}


def get_campaign_activities(call: Call, params: dict) -> dict:
    app_id, campaign_id = params["ApplicationId"], params["CampaignId"]
    size = page_size(params.get("PageSize"))
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        rows, token = campaigns.activities_page(conn, app_id, campaign_id, size, params.get("Token"))
    items = [activity_response(row) for row in rows]
    return {"ActivitiesResponse": {"Item": items, "NextToken": token}}


# Local-time runs keep these in the activity's metrics; ActivityResponse has members for them.
ZONE_COUNTS = ("TimezonesTotalCount", "TimezonesCompletedCount")


def activity_response(row) -> dict:
    metrics = {name: str(count) for name, count in (row.metrics or {}).items()}
    zones = {name: int(metrics.pop(name)) for name in ZONE_COUNTS if name in metrics}
    if row.failed_endpoint_count:
        metrics["FAILED_ENDPOINT_COUNT"] = str(row.failed_endpoint_count)
    if row.message:
        # ActivityResponse has no member for a reason; people find it here.
        metrics["Message"] = row.message
    response = {
        "ApplicationId": row.app_id,
        "CampaignId": row.campaign_id,
        "Id": row.id,
        "TreatmentId": row.treatment_id,
        "State": row.state,
        "Result": row.result,
        "ScheduledStart": row.scheduled_start,
        "Start": row.start,
        "End": row.end,
        "TotalEndpointCount": row.total_endpoint_count,
        "SuccessfulEndpointCount": row.successful_endpoint_count,
        **zones,
        "ExecutionMetrics": metrics,
    }
    return {key: value for key, value in response.items() if value is not None}
