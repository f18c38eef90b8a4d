"""When a campaign runs, who gets it when, and who is left out: schedules, local time,
quiet time, treatments and limits.

Everything here is pure: datetimes in, UTC-aware datetimes out. Every datetime passed in must
be timezone-aware (a naive one raises ``ValueError``, because guessing its zone hides bugs).

Where Pinpoint documents a rule we follow it; where it is silent we chose as follows.

Recurrence
    ``HOURLY``/``DAILY``/``WEEKLY``/``MONTHLY`` runs fall on a grid anchored at ``StartTime``:
    anchor + n·period for n = 0, 1, 2, ... up to ``EndTime`` (inclusive). The grid is laid
    out in the schedule's ``Timezone``, a fixed UTC offset such as ``UTC+05:30`` (UTC when
    absent). A fixed offset has no daylight saving, so an hour, a day and a week are always
    exactly 3,600, 86,400 and 604,800 seconds; the offset only matters for ``MONTHLY``,
    where it decides which calendar day the anchor falls on. A ``StartTime`` without an
    offset is read as UTC, as everywhere else in Tidings.

Month ends
    A ``MONTHLY`` series runs on the anchor's day of the month, or on the month's last day
    when the month is shorter: Jan 31 -> Feb 28 (29 in leap years) -> Mar 31 -> Apr 30. Each
    occurrence is computed from the anchor, never from the previous run, so a short month
    never drags the rest of the series onto an earlier day.

Missed runs
    ``next_run`` returns the first occurrence strictly after the run it is given. When the
    engine was down for a while, the occurrences it missed are skipped, not replayed in a
    burst.

Local time (``IsLocalTime: true``)
    A run instant is read as a wall-clock date-time in the schedule's ``Timezone``, and each
    endpoint gets the run when its own clock (``Demographic.Timezone``, an IANA name) shows
    that same date-time. Endpoints without a valid zone are not targeted. When that wall-clock
    time does not exist in the endpoint's zone (the hour skipped when daylight saving
    starts) the send moves forward to the first valid time after the gap, i.e. the instant
    the clocks jump; when it exists twice (the hour repeated when daylight saving ends) the
    first occurrence is used, so nobody gets the message twice or an hour late. Because the
    same mapping is applied to ``EndTime``, a run that is before ``EndTime`` has every local
    slot before that endpoint's local ``EndTime`` too.

Quiet time
    An endpoint is quiet when its local time, to the minute, is at or after ``Start`` and at
    or before ``End`` (both ends included, as Pinpoint words it). A window whose ``Start`` is
    later than its ``End`` (22:00-07:00) wraps around midnight. Endpoints without a valid
    zone are never quiet, as in Pinpoint.

Treatments
    Cohorts 0..99 are split in this order: the holdout first, then each additional treatment
    in turn, and the default treatment "0" gets what is left. Cohorts are fixed per endpoint,
    so an endpoint stays in the same arm across runs.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tidings.domain.common import require_date

# Not imported from tidings.domain.campaigns: that module builds on this one.
EVENT_FREQUENCIES = ("EVENT", "IN_APP_EVENT")
COHORTS = 100  # CohortId runs from 0 to 99
LIMIT_KEYS = ("Daily", "Total", "MessagesPerSecond", "MaximumDuration", "Session")
# For these caps Pinpoint treats 0 as "off" rather than "send nothing".
ZERO_MEANS_UNLIMITED = ("Daily", "Total")

_FIXED_STEPS = {
    "HOURLY": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(weeks=1),
}
_OFFSET = re.compile(r"UTC(?:(?P<sign>[+-])(?P<hours>\d{2})(?::(?P<minutes>[0-5]\d))?)?")
_HHMM = re.compile(r"(?P<hours>[01]\d|2[0-3]):(?P<minutes>[0-5]\d)")


# --- schedules ---------------------------------------------------------------------------


def offset_of(timezone_name: str | None) -> timedelta:
    """The fixed UTC offset a ``Schedule.Timezone`` names.

    ``"UTC+05:30"`` -> +5 h 30 min, ``"UTC-08"`` -> -8 h, ``None`` or ``"UTC"`` -> 0.
    """
    if timezone_name is None:
        return timedelta(0)
    match = _OFFSET.fullmatch(timezone_name)
    if match is None or int(match["hours"] or 0) > 14:
        raise ValueError(
            f"Schedule.Timezone must look like UTC, UTC+05 or UTC-03:30, got {timezone_name!r}"
        )
    if match["sign"] is None:
        return timedelta(0)
    size = timedelta(hours=int(match["hours"]), minutes=int(match["minutes"] or 0))
    return size if match["sign"] == "+" else -size


def first_run(schedule: dict, now: datetime) -> datetime | None:
    """The instant the first run of ``schedule`` is due, or None when the clock never starts it.

    ``StartTime: "IMMEDIATE"`` is due ``now``; a date-time is due then. Event-triggered
    campaigns (``EVENT``, ``IN_APP_EVENT``) are started by events, not by the clock, so they
    get None, as does a start that falls after ``EndTime``.
    """
    now = _as_utc(now)
    if _frequency(schedule) in EVENT_FREQUENCIES:
        return None
    start = _start_of(schedule, now)
    return None if _after_end(schedule, start) else start


def next_run(
    schedule: dict, previous: datetime, *, first_run_at: datetime | None = None
) -> datetime | None:
    """The first occurrence of a recurring ``schedule`` strictly after ``previous``.

    The series is anchored at ``StartTime``. For ``StartTime: "IMMEDIATE"`` it is anchored at
    the first run: pass that instant as ``first_run_at`` (otherwise ``previous`` is taken to be
    the first run, which is right for every frequency except a ``MONTHLY`` series whose first
    run fell on the 29th-31st). Returns None for ``ONCE`` and event-triggered schedules, and
    when the next occurrence is after ``EndTime``. Occurrences between the anchor and
    ``previous`` are skipped, however many there are.
    """
    previous = _as_utc(previous)
    frequency = _frequency(schedule)
    if frequency not in _FIXED_STEPS and frequency != "MONTHLY":
        return None
    anchor = _start_of(schedule, _as_utc(first_run_at) if first_run_at is not None else previous)
    if anchor > previous:
        upcoming = anchor
    elif frequency == "MONTHLY":
        upcoming = _next_monthly(anchor, previous, _fixed_zone(schedule))
    else:
        step = _FIXED_STEPS[frequency]
        # Jump straight past `previous` instead of stepping through every missed run.
        upcoming = anchor + ((previous - anchor) // step + 1) * step
    return None if _after_end(schedule, upcoming) else upcoming


# The earliest clock on Earth (UTC+14, Kiribati) reaches a wall-clock time this long before
# UTC does; a local-time run starts then, when its first time zone is due.
EARLIEST_OFFSET = timedelta(hours=14)


def local_lead(schedule: dict) -> timedelta:
    """How long before its run instant a run of ``schedule`` starts: zero, or for an
    ``IsLocalTime`` schedule the time between the earliest zone's slot and the run instant."""
    if not schedule.get("IsLocalTime"):
        return timedelta(0)
    return EARLIEST_OFFSET - offset_of(schedule.get("Timezone"))


def local_send_time(schedule: dict, run_at: datetime, zone: str | None) -> datetime | None:
    """The instant an endpoint in IANA time zone ``zone`` should get the run due at ``run_at``.

    For an ``IsLocalTime`` schedule: the wall-clock date-time ``run_at`` shows in the
    schedule's ``Timezone``, placed in ``zone`` (forward to the end of a daylight-saving gap;
    the first of two repeated times). None when ``zone`` is missing or not a known IANA
    name: Pinpoint does not target such endpoints. For any other schedule every endpoint
    gets the run at ``run_at``, whatever its zone.
    """
    run_at = _as_utc(run_at)
    if not schedule.get("IsLocalTime"):
        return run_at
    endpoint_zone = _zone(zone)
    if endpoint_zone is None:
        return None
    wall_clock = run_at.astimezone(_fixed_zone(schedule)).replace(tzinfo=None)
    return _place_wall_clock(wall_clock, endpoint_zone)


def valid_zone(zone: object) -> bool:
    """Whether ``zone`` is an IANA time zone name we can use, such as ``"Asia/Kolkata"``."""
    return _zone(zone) is not None


# --- quiet time ----------------------------------------------------------------------------


def in_quiet_time(quiet: dict | None, zone: str | None, at: datetime) -> bool:
    """Whether an endpoint in IANA zone ``zone`` is in its quiet time at instant ``at``.

    True only when ``quiet`` has both ``Start`` and ``End`` (``"HH:MM"``), the zone is valid
    and the local time, to the minute, is within [Start, End]; a window with Start > End
    wraps around midnight. An endpoint without a valid zone is never quiet.
    """
    window = _quiet_window(quiet)
    endpoint_zone = _zone(zone)
    if window is None or endpoint_zone is None:
        return False
    local = _as_utc(at).astimezone(endpoint_zone)
    minute = local.hour * 60 + local.minute
    start, end = window
    if start <= end:
        return start <= minute <= end
    return minute >= start or minute <= end


def effective_quiet_time(campaign_schedule: dict | None, app_settings: dict | None) -> dict | None:
    """The quiet time that applies to a campaign: its own ``Schedule.QuietTime`` when that has
    ``Start`` and ``End``, else the app's ``QuietTime``, else None."""
    for owner in (campaign_schedule, app_settings):
        quiet = (owner or {}).get("QuietTime")
        if quiet and quiet.get("Start") and quiet.get("End"):
            return quiet
    return None


# --- treatments ----------------------------------------------------------------------------


def treatment_ranges(holdout_percent: int, sizes: list[int]) -> dict[str, tuple[int, int]]:
    """Each treatment id's half-open range of cohorts, in cohort order.

    ``sizes`` are the ``SizePercent`` of the additional treatments "1", "2", ...; the default
    treatment "0" gets what the holdout and they leave. The holdout is ``[0, holdout_percent)``
    and has no entry. A treatment of size 0 gets an empty range.
    """
    if holdout_percent < 0 or any(size < 0 for size in sizes):
        raise ValueError("HoldoutPercent and SizePercent cannot be negative")
    if holdout_percent + sum(sizes) > COHORTS:
        raise ValueError(
            f"HoldoutPercent ({holdout_percent}) plus the treatments' SizePercent "
            f"({sum(sizes)}) must not exceed 100"
        )
    ranges: dict[str, tuple[int, int]] = {}
    low = holdout_percent
    for number, size in enumerate(sizes, start=1):
        ranges[str(number)] = (low, low + size)
        low += size
    ranges["0"] = (low, COHORTS)
    return ranges


def cohort_arms(holdout_percent: int, sizes: list[int]) -> tuple[str | None, ...]:
    """For each cohort 0-99, the treatment id its endpoints belong to (None: held out), so a
    run looks an endpoint's arm up instead of walking the ranges."""
    ranges = treatment_ranges(holdout_percent, sizes)
    return tuple(
        next((treatment for treatment, (low, high) in ranges.items() if low <= cohort < high), None)
        for cohort in range(COHORTS)
    )


def treatment_of(cohort: int, holdout_percent: int, sizes: list[int]) -> str | None:
    """The treatment id an endpoint in ``cohort`` (0-99) belongs to, or None if it is held out."""
    if not 0 <= cohort < COHORTS:
        raise ValueError(f"CohortId must be between 0 and 99, got {cohort}")
    return cohort_arms(holdout_percent, sizes)[cohort]


# --- limits --------------------------------------------------------------------------------


def effective_limits(campaign_limits: dict | None, app_limits: dict | None) -> dict:
    """The limits a campaign runs under, key by key: the campaign's value, else the app's.

    An explicit campaign value overrides the app's, 0 included. ``Daily`` and ``Total`` of 0
    mean "no cap" and are left out, so a missing key always means unlimited.
    """
    campaign_limits, app_limits = campaign_limits or {}, app_limits or {}
    limits: dict = {}
    for key in LIMIT_KEYS:
        value = campaign_limits.get(key)
        if value is None:
            value = app_limits.get(key)
        if value is None or (value == 0 and key in ZERO_MEANS_UNLIMITED):
            continue
        limits[key] = value
    return limits


def keeps_sends_per_endpoint(campaign: dict, app_settings: dict) -> bool:
    """Whether a campaign's sends must also be kept endpoint by endpoint: its runs look them
    up (a Daily or Total cap, its own or the app's; local-time waves), or the app's Daily
    cap, which counts the sends of every campaign of the app, does."""
    limits = effective_limits(campaign.get("Limits"), app_settings.get("Limits"))
    app_daily = (app_settings.get("Limits") or {}).get("Daily")
    local_time = (campaign.get("Schedule") or {}).get("IsLocalTime")
    return bool(limits.get("Daily") or limits.get("Total") or app_daily or local_time)


# --- helpers -------------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _frequency(schedule: dict) -> str:
    return schedule.get("Frequency") or "ONCE"


def _start_of(schedule: dict, immediate: datetime) -> datetime:
    """The schedule's StartTime as a UTC instant; ``immediate`` stands for "IMMEDIATE"."""
    start = schedule["StartTime"]
    if start == "IMMEDIATE":
        return immediate
    return require_date(start, "Schedule.StartTime").astimezone(UTC)


def _after_end(schedule: dict, moment: datetime) -> bool:
    end = schedule.get("EndTime")
    return end is not None and moment > require_date(end, "Schedule.EndTime")


def _quiet_window(quiet: dict | None) -> tuple[int, int] | None:
    """(Start, End) in minutes after midnight, or None without a usable Start and End.

    Malformed times are rejected when settings are written; any that slip through here
    disable quiet time rather than silence an endpoint by mistake.
    """
    if not quiet:
        return None
    bounds = []
    for key in ("Start", "End"):
        match = _HHMM.fullmatch(quiet.get(key) or "")
        if match is None:
            return None
        bounds.append(int(match["hours"]) * 60 + int(match["minutes"]))
    return bounds[0], bounds[1]


def _fixed_zone(schedule: dict) -> timezone:
    return timezone(offset_of(schedule.get("Timezone")))


def _next_monthly(anchor: datetime, previous: datetime, zone: timezone) -> datetime:
    """The first monthly occurrence after ``previous`` (which is at or after ``anchor``)."""
    local_anchor = anchor.astimezone(zone)
    local_previous = previous.astimezone(zone)
    # The occurrence in previous's own month is the only candidate that might not be after
    # it; earlier months are all before it and the month after always is after it.
    months = (local_previous.year - local_anchor.year) * 12 + (
        local_previous.month - local_anchor.month
    )
    candidate = _months_after(local_anchor, months)
    if candidate <= previous:
        candidate = _months_after(local_anchor, months + 1)
    return candidate.astimezone(UTC)


def _months_after(local_anchor: datetime, months: int) -> datetime:
    """The anchor moved ``months`` calendar months on, its day clamped to the month's end."""
    year, month_index = divmod(local_anchor.year * 12 + local_anchor.month - 1 + months, 12)
    month = month_index + 1
    last_day = calendar.monthrange(year, month)[1]
    return local_anchor.replace(year=year, month=month, day=min(local_anchor.day, last_day))


@lru_cache(maxsize=1024)
def _lookup_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    # Unknown names raise ZoneInfoNotFoundError; malformed ones (empty, absolute, "..")
    # ValueError; a directory such as "America" an OSError.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _zone(name: object) -> ZoneInfo | None:
    if not isinstance(name, str) or not name:
        return None
    return _lookup_zone(name)


def _place_wall_clock(wall_clock: datetime, zone: ZoneInfo) -> datetime:
    """The instant ``zone``'s clocks show ``wall_clock`` (naive), as UTC.

    fold=0 picks the first of two repeated times. A time inside a gap does not survive the
    round trip back to local time; then the answer is the instant of the jump itself, which
    is the first valid local time after the gap.
    """
    first = wall_clock.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall_clock:
        return instant
    # Inside a gap: fold=0 reads the time with the offset from before the jump and fold=1
    # with the offset after it, so the two readings bracket the jump. Jumps fall on whole
    # seconds: bisect over seconds for the first one that already has the later offset.
    later = wall_clock.replace(tzinfo=zone, fold=1)
    later_offset = later.utcoffset()
    before = math.floor(later.timestamp())
    after = math.ceil(instant.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == later_offset:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)
