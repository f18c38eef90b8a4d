"""Campaign and application-settings rules: what Pinpoint accepts, and the stored documents.

Settings shared by apps and campaigns (Limits, QuietTime, CampaignHook) are checked here
once for both.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from tidings.domain import schedules
from tidings.domain.addresses import is_loopback_host
from tidings.domain.common import require_date
from tidings.domain.errors import InvalidInput

TIMEZONES = frozenset(
    ["UTC", "UTC+01", "UTC+02", "UTC+03", "UTC+03:30", "UTC+04", "UTC+04:30", "UTC+05",
     "UTC+05:30", "UTC+05:45", "UTC+06", "UTC+06:30", "UTC+07", "UTC+08", "UTC+09", "UTC+09:30",
     "UTC+10", "UTC+10:30", "UTC+11", "UTC+12", "UTC+13", "UTC-02", "UTC-03", "UTC-04", "UTC-05",
     "UTC-06", "UTC-07", "UTC-08", "UTC-09", "UTC-10", "UTC-11"]
)  # fmt: skip
RECURRING = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY")
EVENT_FREQUENCIES = ("EVENT", "IN_APP_EVENT")
MAX_ADDITIONAL_TREATMENTS = 4
MAX_CUSTOM_DATA_BYTES = 5 * 1024
START_TIME_SKEW = timedelta(minutes=1)
# The members of WriteCampaignRequest that a CampaignResponse echoes.
WRITE_MEMBERS = (
    "Name", "Description", "SegmentId", "SegmentVersion", "Schedule", "MessageConfiguration",
    "TemplateConfiguration", "AdditionalTreatments", "HoldoutPercent", "Hook", "IsPaused", "Limits",
    "TreatmentName", "TreatmentDescription", "CustomDeliveryConfiguration", "Priority",
)  # fmt: skip
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_FUNCTION_NAME = re.compile(
    r"(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?(\d{12}:function:)?"
    r"[a-zA-Z0-9_-]{1,64}(:(\$LATEST|[a-zA-Z0-9_-]+))?"
)
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~?/#:=&%+@!$'()*,;\[\]]+")


# --- shared settings -------------------------------------------------------------------


def check_limits(limits: dict, where: str) -> None:
    for key, low, high in (
        ("Daily", 0, 100),
        ("Total", 0, 100),
        ("MessagesPerSecond", 1, 20_000),
        ("MaximumDuration", 60, None),
        ("Session", 0, None),
    ):
        if key not in limits:
            continue
        value = limits[key]
        if value < low or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise InvalidInput(
                f"{where}.{key} must be {span}, got {value}", member=f"{where}.{key}"
            )


def check_quiet_time(quiet: dict, where: str) -> None:
    if not quiet:
        return
    for key in ("Start", "End"):
        value = quiet.get(key)
        if value is None:
            raise InvalidInput(
                f"{where}.{key} is required when quiet time is set (HH:MM, 24-hour)",
                member=f"{where}.{key}",
            )
        if not _HHMM.fullmatch(value):
            raise InvalidInput(
                f"{where}.{key} must be a 24-hour time HH:MM such as 22:00, got {value!r}",
                member=f"{where}.{key}",
            )


def check_hook(hook: dict, where: str) -> None:
    if not hook:
        return
    name = hook.get("LambdaFunctionName")
    if name is not None and not _FUNCTION_NAME.fullmatch(name):
        raise InvalidInput(
            f"{where}.LambdaFunctionName must be a function name or a Lambda function ARN, got {name!r}",
            member=f"{where}.LambdaFunctionName",
        )
    if (name or hook.get("WebUrl")) and "Mode" not in hook:
        raise InvalidInput(
            f"{where}.Mode is required with a function: FILTER (customise the segment) or DELIVERY",
            member=f"{where}.Mode",
        )
    if "Mode" in hook and not (name or hook.get("WebUrl")):
        raise InvalidInput(
            f"{where}.LambdaFunctionName is required when {where}.Mode is set",
            member=f"{where}.LambdaFunctionName",
        )
    if hook.get("WebUrl"):
        check_https_url(hook["WebUrl"], f"{where}.WebUrl", allow_http_loopback=False)


def check_https_url(url: str, where: str, *, allow_http_loopback: bool) -> None:
    parts = urlsplit(url)
    if not _URL_CHARACTERS.fullmatch(url) or not parts.hostname:
        raise InvalidInput(f"{where} is not a valid URL: {url!r}", member=where)
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and allow_http_loopback and is_loopback_host(parts.hostname):
        return
    hint = (
        " (plain http is accepted only for loopback addresses when the server runs with "
        "--allow-http-loopback)"
    )
    raise InvalidInput(f"{where} must be an https:// URL, got {url!r}{hint}", member=where)



def is_function_reference(uri: str) -> bool:
    return bool(_FUNCTION_NAME.fullmatch(uri))


def check_custom_delivery(config: dict, where: str, *, allow_http_loopback: bool) -> None:
    uri = config["DeliveryUri"]
    if uri.startswith(("https://", "http://")):
        check_https_url(uri, f"{where}.DeliveryUri", allow_http_loopback=allow_http_loopback)
    elif not is_function_reference(uri):
        raise InvalidInput(
            f"{where}.DeliveryUri must be a Lambda function name or ARN, or an https:// URL, got {uri!r}",
            member=f"{where}.DeliveryUri",
        )
    if "EndpointTypes" in config and not config["EndpointTypes"]:
        raise InvalidInput(
            f"{where}.EndpointTypes must list at least one endpoint type (or be left out for CUSTOM)",
            member=f"{where}.EndpointTypes",
        )


def settings_response(app_id: str, settings: dict, modified: str) -> dict:
    return {
        "ApplicationId": app_id,
        "CampaignHook": settings.get("CampaignHook", {}),
        "LastModifiedDate": modified,
        "Limits": settings.get("Limits", {}),
        "QuietTime": settings.get("QuietTime", {}),
        "JourneyLimits": settings.get("JourneyLimits"),
    }


def update_settings(settings: dict, request: dict) -> dict:
    """Members present replace the stored ones; members left out are kept."""
    where = "WriteApplicationSettingsRequest"
    check_hook(request.get("CampaignHook") or {}, f"{where}.CampaignHook")
    check_limits(request.get("Limits") or {}, f"{where}.Limits")
    check_quiet_time(request.get("QuietTime") or {}, f"{where}.QuietTime")
    journey = request.get("JourneyLimits") or {}
    for key in ("DailyCap", "TotalCap"):
        if key in journey and not 0 <= journey[key] <= 100:
            raise InvalidInput(
                f"{where}.JourneyLimits.{key} must be between 0 and 100", member=f"{where}.JourneyLimits.{key}"
            )
    frame = journey.get("TimeframeCap") or {}
    for key, high in (("Cap", 100), ("Days", 30)):
        if key in frame and not 0 <= frame[key] <= high:
            raise InvalidInput(
                f"{where}.JourneyLimits.TimeframeCap.{key} must be between 0 and {high}",
                member=f"{where}.JourneyLimits.TimeframeCap.{key}",
            )
    return {**settings, **request}


# --- campaigns -------------------------------------------------------------------------


def write_request_of(doc: dict) -> dict:
    """The WriteCampaignRequest members of a stored campaign document."""
    request = {key: doc[key] for key in WRITE_MEMBERS if key in doc}
    if "AdditionalTreatments" in request:
        request["AdditionalTreatments"] = [
            {k: v for k, v in t.items() if k not in ("Id", "State")} for t in request["AdditionalTreatments"]
        ]
    return request


def check_campaign(
    request: dict,
    *,
    now: datetime,
    previous: dict | None,
    allow_http_loopback: bool,
) -> None:
    """Raise InvalidInput for a (merged) WriteCampaignRequest that Pinpoint would refuse.

    ``previous`` is the stored request on update, so that a start time already in the past
    is only refused when the caller changes it.
    """
    root = "WriteCampaignRequest"
    if not request.get("SegmentId"):
        raise InvalidInput(f"{root}.SegmentId is required: the segment the campaign sends to", member=f"{root}.SegmentId")
    if "Schedule" not in request:
        raise InvalidInput(
            f"{root}.Schedule is required, e.g. {{\"StartTime\": \"IMMEDIATE\", \"Frequency\": \"ONCE\"}}",
            member=f"{root}.Schedule",
        )
    old_start = ((previous or {}).get("Schedule") or {}).get("StartTime")
    _check_schedule(request["Schedule"], f"{root}.Schedule", now, old_start)
    check_limits(request.get("Limits") or {}, f"{root}.Limits")
    check_hook(request.get("Hook") or {}, f"{root}.Hook")
    holdout = request.get("HoldoutPercent", 0)
    if not 0 <= holdout <= 100:
        raise InvalidInput(f"{root}.HoldoutPercent must be between 0 and 100, got {holdout}", member=f"{root}.HoldoutPercent")
    treatments = request.get("AdditionalTreatments") or []
    if len(treatments) > MAX_ADDITIONAL_TREATMENTS:
        raise InvalidInput(
            f"{root}.AdditionalTreatments has {len(treatments)} treatments; a campaign may have at most "
            f"{MAX_ADDITIONAL_TREATMENTS} besides the default one",
            member=f"{root}.AdditionalTreatments",
        )
    total = holdout
    for i, treatment in enumerate(treatments):
        where = f"{root}.AdditionalTreatments[{i}]"
        size = treatment["SizePercent"]
        if not 1 <= size <= 100:
            raise InvalidInput(f"{where}.SizePercent must be between 1 and 100, got {size}", member=f"{where}.SizePercent")
        total += size
        if "Schedule" in treatment:
            old = None
            if previous and i < len(previous.get("AdditionalTreatments") or []):
                old = (previous["AdditionalTreatments"][i].get("Schedule") or {}).get("StartTime")
            _check_schedule(treatment["Schedule"], f"{where}.Schedule", now, old)
        _check_message(treatment, request, where, allow_http_loopback)
    if total > 100:
        raise InvalidInput(
            f"{root}: HoldoutPercent ({holdout}) plus the SizePercent of the additional treatments "
            f"adds up to {total}; it may be at most 100 (the default treatment gets what is left)",
            member=f"{root}.AdditionalTreatments",
        )
    _check_message(request, None, root, allow_http_loopback)


def _check_message(part: dict, campaign: dict | None, where: str, allow_http_loopback: bool) -> None:
    message = part.get("MessageConfiguration") or {}
    custom = message.get("CustomMessage")
    delivery = part.get("CustomDeliveryConfiguration")
    if delivery:
        check_custom_delivery(delivery, f"{where}.CustomDeliveryConfiguration", allow_http_loopback=allow_http_loopback)
    if custom is not None:
        if not delivery and not (campaign or {}).get("CustomDeliveryConfiguration"):
            raise InvalidInput(
                f"{where}.CustomDeliveryConfiguration is required with MessageConfiguration.CustomMessage: "
                "set its DeliveryUri to a function name or ARN, or to an https:// URL",
                member=f"{where}.CustomDeliveryConfiguration",
            )
        data = custom.get("Data", "")
        if len(data.encode()) > MAX_CUSTOM_DATA_BYTES:
            raise InvalidInput(
                f"{where}.MessageConfiguration.CustomMessage.Data is {len(data.encode())} bytes; "
                f"at most {MAX_CUSTOM_DATA_BYTES} are allowed",
                member=f"{where}.MessageConfiguration.CustomMessage.Data",
            )


def _check_schedule(schedule: dict, where: str, now: datetime, old_start: str | None) -> None:
    start_text = schedule["StartTime"]
    start = None
    if start_text != "IMMEDIATE":
        start = require_date(start_text, f"{where}.StartTime")
        if start_text != old_start and start < now - START_TIME_SKEW:
            raise InvalidInput(
                f"{where}.StartTime {start_text} is in the past; use a future time or IMMEDIATE",
                member=f"{where}.StartTime",
            )
    frequency = schedule.get("Frequency", "ONCE")
    if "EndTime" in schedule:
        end = require_date(schedule["EndTime"], f"{where}.EndTime")
        if end <= (start or now):
            raise InvalidInput(f"{where}.EndTime must be after StartTime", member=f"{where}.EndTime")
    elif frequency in RECURRING:
        raise InvalidInput(
            f"{where}.EndTime is required for a {frequency} campaign: recurring campaigns run until their end time",
            member=f"{where}.EndTime",
        )
    if frequency in EVENT_FREQUENCIES and "EventFilter" not in schedule:
        raise InvalidInput(
            f"{where}.EventFilter is required when Frequency is {frequency}", member=f"{where}.EventFilter"
        )
    if "EventFilter" in schedule and frequency not in EVENT_FREQUENCIES:
        raise InvalidInput(
            f"{where}.EventFilter applies only when Frequency is EVENT, not {frequency}",
            member=f"{where}.EventFilter",
        )
    if frequency in EVENT_FREQUENCIES and start_text == "IMMEDIATE":
        raise InvalidInput(
            f"{where}.StartTime must be a date-time for an event-triggered campaign, not IMMEDIATE",
            member=f"{where}.StartTime",
        )
    timezone = schedule.get("Timezone")
    if timezone is not None and timezone not in TIMEZONES:
        raise InvalidInput(
            f"{where}.Timezone must be one of {', '.join(sorted(TIMEZONES))}; got {timezone!r}",
            member=f"{where}.Timezone",
        )
    check_quiet_time(schedule.get("QuietTime") or {}, f"{where}.QuietTime")


def starts_at_once(request: dict) -> bool:
    """Whether writing this campaign starts a run right away."""
    schedule = request.get("Schedule") or {}
    return not request.get("IsPaused") and schedule.get("StartTime") == "IMMEDIATE"


def initial_status(request: dict) -> str:
    return "PAUSED" if request.get("IsPaused") else "SCHEDULED"


def after_update(
    current: str, previous: dict, request: dict, now: datetime, *, running: bool, schedule_written: bool = False
) -> tuple[str, datetime | None, bool]:
    """The campaign's status after an update, when its next run starts, and whether the
    next run already planned stands (True: keep it, ignore the second value).

    Pausing stops sending (a completed campaign has nothing left to pause). Resuming
    before the run in progress noticed the pause lets that run go on; otherwise the campaign
    is scheduled again and a one-off campaign starts from the beginning. A completed
    campaign, or a series waiting for its next run, stays as it is unless its schedule
    changes; a new schedule written while a run is in progress applies after it. A series
    with no occurrence left is completed.

    A finished campaign (COMPLETED, or INVALID after a run that could not work) runs again
    when the update changes its schedule, or writes ``StartTime: IMMEDIATE``
    (``schedule_written``): IMMEDIATE means "now", which is new at every write. An update
    that leaves Schedule out never starts a run.
    """
    schedule_changed = request.get("Schedule") != previous.get("Schedule")
    rerun = schedule_changed or (schedule_written and request["Schedule"].get("StartTime") == "IMMEDIATE")
    if current == "DELETED":
        return current, None, True
    if request.get("IsPaused"):
        return ("COMPLETED", None, True) if current == "COMPLETED" else ("PAUSED", None, False)
    if current == "EXECUTING" or (current == "PAUSED" and running):
        if current == "EXECUTING" and not schedule_changed:
            return "EXECUTING", None, True
        return "EXECUTING", _run_after_current(request["Schedule"], now), False
    if current == "PENDING_NEXT_RUN" and not schedule_changed:
        return current, None, True
    if current in ("COMPLETED", "INVALID") and not rerun:
        return current, None, True
    next_run = next_run_after_write("SCHEDULED", request, now, update=True)
    if next_run is None and request["Schedule"].get("Frequency") not in EVENT_FREQUENCIES:
        return "COMPLETED", None, False
    return "SCHEDULED", next_run, False


def _run_after_current(schedule: dict, now: datetime) -> datetime | None:
    """The start of the first run of ``schedule`` after the one in progress."""
    run_at = schedules.first_run(schedule, now)
    if run_at is not None and run_at <= now:
        run_at = schedules.next_run(schedule, now)
    return None if run_at is None else run_at - schedules.local_lead(schedule)


def next_run_after_write(status: str, request: dict, now: datetime, *, update: bool = False) -> datetime | None:
    """When the scheduler should start the campaign's next run, after a create or update:
    the run's instant, or for a local-time run the moment its earliest time zone is due.
    An executing campaign plans its next run when the current one ends."""
    if status != "SCHEDULED":
        return None
    schedule = request["Schedule"]
    run_at = schedules.first_run(schedule, now)
    # A start a moment ago still counts on create; an updated series (resumed, or given a
    # new schedule) whose start has passed goes on with its next occurrence. A one-off run
    # whose time has passed runs now, from the beginning.
    late = now if update else now - START_TIME_SKEW
    if run_at is not None and run_at < late and schedule.get("Frequency") in RECURRING:
        run_at = schedules.next_run(schedule, now)
    return None if run_at is None else run_at - schedules.local_lead(schedule)


def campaign_document(
    request: dict, *, app_id: str, campaign_id: str, arn: str, version: int, created: str, modified: str
) -> dict:
    """The stored CampaignResponse of one version (State and tags are added on read)."""
    doc: dict = {
        "Id": campaign_id,
        "ApplicationId": app_id,
        "Arn": arn,
        "CreationDate": created,
        "LastModifiedDate": modified,
        "Version": version,
    }
    for key in WRITE_MEMBERS:
        if key in request:
            doc[key] = request[key]
    if "AdditionalTreatments" in doc:
        doc["AdditionalTreatments"] = [
            {"Id": str(i + 1), **t} for i, t in enumerate(doc["AdditionalTreatments"])
        ]
    doc.setdefault("HoldoutPercent", 0)
    doc.setdefault("IsPaused", False)
    return doc


def with_state(doc: dict, status: str) -> dict:
    state = {"CampaignStatus": status}
    result = dict(doc)
    result["State"] = state
    if result.get("AdditionalTreatments"):
        result["DefaultState"] = state
        result["AdditionalTreatments"] = [{**t, "State": state} for t in result["AdditionalTreatments"]]
    return result

