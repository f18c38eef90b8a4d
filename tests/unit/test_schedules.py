"""Campaign scheduling rules: recurrence, local time, quiet time, treatments and limits."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.domain.campaigns import TIMEZONES
from tidings.domain.schedules import (
    effective_limits,
    effective_quiet_time,
    first_run,
    in_quiet_time,
    local_lead,
    local_send_time,
    next_run,
    offset_of,
    treatment_of,
    treatment_ranges,
    valid_zone,
)

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
STEPS = {"HOURLY": timedelta(hours=1), "DAILY": timedelta(days=1), "WEEKLY": timedelta(weeks=1)}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def run_series(schedule: dict, first: datetime, count: int) -> list[datetime]:
    runs = [first]
    while len(runs) < count:
        upcoming = next_run(schedule, runs[-1])
        if upcoming is None:
            break
        runs.append(upcoming)
    return runs


# --- offsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, timedelta(0)),
        ("UTC", timedelta(0)),
        ("UTC+05:30", timedelta(hours=5, minutes=30)),
        ("UTC+05:45", timedelta(hours=5, minutes=45)),
        ("UTC-08", timedelta(hours=-8)),
        ("UTC+13", timedelta(hours=13)),
        ("UTC-03:30", -timedelta(hours=3, minutes=30)),
    ],
)
def test_offset_of_reads_pinpoint_timezones(name, expected):
    assert offset_of(name) == expected


def test_every_timezone_pinpoint_accepts_has_its_own_offset():
    offsets = {offset_of(name) for name in TIMEZONES}
    assert len(offsets) == len(TIMEZONES)
    assert min(offsets) == timedelta(hours=-11)
    assert max(offsets) == timedelta(hours=13)


@pytest.mark.parametrize("name", ["", "GMT", "UTC+5", "UTC+05:75", "UTC+15", "America/New_York"])
def test_offset_of_rejects_other_spellings(name):
    with pytest.raises(ValueError, match="Schedule.Timezone"):
        offset_of(name)


# --- first run -------------------------------------------------------------------------------


def test_immediate_starts_now_in_utc():
    now_in_kolkata = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    start = first_run({"StartTime": "IMMEDIATE"}, now_in_kolkata)
    assert start == NOW
    assert start.tzinfo is UTC


def test_a_start_time_starts_then():
    schedule = {"StartTime": "2026-06-02T09:00:00+02:00", "Frequency": "ONCE"}
    assert first_run(schedule, NOW) == at("2026-06-02T07:00:00+00:00")


@pytest.mark.parametrize("frequency", ["EVENT", "IN_APP_EVENT"])
def test_event_campaigns_are_not_started_by_the_clock(frequency):
    schedule = {"StartTime": "2026-06-02T09:00:00Z", "Frequency": frequency}
    assert first_run(schedule, NOW) is None


def test_no_first_run_after_the_end_time():
    ended = {"StartTime": "IMMEDIATE", "EndTime": "2026-05-31T00:00:00Z"}
    assert first_run(ended, NOW) is None
    inverted = {"StartTime": "2026-06-03T00:00:00Z", "EndTime": "2026-06-02T00:00:00Z"}
    assert first_run(inverted, NOW) is None
    assert first_run({"StartTime": "IMMEDIATE", "EndTime": "2026-06-01T08:00:00Z"}, NOW) == NOW


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        first_run({"StartTime": "IMMEDIATE"}, datetime(2026, 6, 1, 8, 0))


# --- recurrence ------------------------------------------------------------------------------


def test_monthly_clamps_to_month_end_from_the_anchor_day():
    schedule = {
        "StartTime": "2027-10-31T09:00:00Z",
        "EndTime": "2028-06-01T00:00:00Z",
        "Frequency": "MONTHLY",
    }
    runs = run_series(schedule, first_run(schedule, NOW), 8)
    assert [run.date().isoformat() for run in runs] == [
        "2027-10-31", "2027-11-30", "2027-12-31", "2028-01-31",
        "2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31",
    ]  # fmt: skip
    assert {run.time().isoformat() for run in runs} == {"09:00:00"}
    assert next_run(schedule, runs[-1]) is None


def test_monthly_days_are_counted_in_the_schedule_timezone():
    # 20:00 UTC on Jan 30 is 01:30 on Jan 31 in UTC+05:30, so that series is on the 31st.
    in_utc = {
        "StartTime": "2026-01-30T20:00:00Z",
        "EndTime": "2027-01-01T00:00:00Z",
        "Frequency": "MONTHLY",
    }
    in_india = {**in_utc, "Timezone": "UTC+05:30"}
    assert next_run(in_utc, at("2026-01-30T20:00:00+00:00")) == at("2026-02-28T20:00:00+00:00")
    assert next_run(in_india, at("2026-01-30T20:00:00+00:00")) == at("2026-02-27T20:00:00+00:00")
    assert next_run(in_india, at("2026-02-27T20:00:00+00:00")) == at("2026-03-30T20:00:00+00:00")


@pytest.mark.parametrize(
    ("frequency", "end", "expected"),
    [
        (
            "HOURLY",
            "2026-06-02T12:00:00Z",
            ["2026-06-02T10:00", "2026-06-02T11:00", "2026-06-02T12:00"],
        ),
        ("DAILY", "2026-06-04T09:59:00Z", ["2026-06-02T10:00", "2026-06-03T10:00"]),
        (
            "WEEKLY",
            "2026-06-20T00:00:00Z",
            ["2026-06-02T10:00", "2026-06-09T10:00", "2026-06-16T10:00"],
        ),
    ],
)
def test_fixed_periods_stop_at_the_end_time(frequency, end, expected):
    schedule = {"StartTime": "2026-06-02T10:00:00Z", "EndTime": end, "Frequency": frequency}
    runs = run_series(schedule, first_run(schedule, NOW), 10)
    assert [run.strftime("%Y-%m-%dT%H:%M") for run in runs] == expected


def test_next_run_before_the_start_is_the_start():
    schedule = {
        "StartTime": "2026-06-02T10:00:00Z",
        "EndTime": "2026-07-01T00:00:00Z",
        "Frequency": "DAILY",
    }
    assert next_run(schedule, NOW) == at("2026-06-02T10:00:00+00:00")


def test_missed_runs_are_skipped_not_replayed():
    schedule = {
        "StartTime": "2026-06-02T10:00:00Z",
        "EndTime": "2036-01-01T00:00:00Z",
        "Frequency": "DAILY",
    }
    just_after = at("2031-03-05T10:00:00.000001+00:00")
    assert next_run(schedule, just_after) == at("2031-03-06T10:00:00+00:00")
    assert next_run(schedule, at("2031-03-05T10:00:00+00:00")) == at("2031-03-06T10:00:00+00:00")
    monthly = {**schedule, "StartTime": "2026-01-31T10:00:00Z", "Frequency": "MONTHLY"}
    assert next_run(monthly, at("2031-02-15T00:00:00+00:00")) == at("2031-02-28T10:00:00+00:00")
    assert next_run(monthly, at("2031-02-28T10:00:00+00:00")) == at("2031-03-31T10:00:00+00:00")


def test_immediate_series_is_anchored_at_the_first_run():
    daily = {"StartTime": "IMMEDIATE", "EndTime": "2026-07-01T00:00:00Z", "Frequency": "DAILY"}
    first = first_run(daily, NOW)
    assert next_run(daily, first) == NOW + timedelta(days=1)
    monthly = {"StartTime": "IMMEDIATE", "EndTime": "2027-01-01T00:00:00Z", "Frequency": "MONTHLY"}
    first = at("2026-01-31T08:00:00+00:00")
    second = next_run(monthly, first)
    assert second == at("2026-02-28T08:00:00+00:00")
    # Knowing the first run keeps the series on the 31st after a short month.
    assert next_run(monthly, second, first_run_at=first) == at("2026-03-31T08:00:00+00:00")


@pytest.mark.parametrize("frequency", [None, "ONCE", "EVENT", "IN_APP_EVENT"])
def test_no_next_run_for_single_and_event_schedules(frequency):
    schedule = {"StartTime": "2026-06-02T10:00:00Z", "EndTime": "2026-07-01T00:00:00Z"}
    if frequency:
        schedule["Frequency"] = frequency
    assert next_run(schedule, NOW) is None
    assert next_run(schedule, at("2026-06-02T10:00:00+00:00")) is None


def months_between(earlier: datetime, later: datetime) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def monthly_occurrence(local_anchor: datetime, months: int) -> datetime:
    year, month = divmod(local_anchor.year * 12 + local_anchor.month - 1 + months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return local_anchor.replace(year=year, month=month + 1, day=min(local_anchor.day, last))


@given(
    frequency=st.sampled_from(["HOURLY", "DAILY", "WEEKLY", "MONTHLY"]),
    anchor=st.datetimes(datetime(2000, 1, 1), datetime(2090, 12, 31), timezones=st.just(UTC)),
    zone_name=st.sampled_from(sorted(TIMEZONES)),
    delay=st.timedeltas(timedelta(days=-400), timedelta(days=3650)),
)
def test_next_run_increases_and_stays_on_the_anchor_grid(frequency, anchor, zone_name, delay):
    schedule = {
        "StartTime": anchor.isoformat(),
        "EndTime": "2200-01-01T00:00:00Z",
        "Frequency": frequency,
        "Timezone": zone_name,
    }
    zone = timezone(offset_of(zone_name))
    previous = anchor + delay
    for _ in range(3):
        upcoming = next_run(schedule, previous)
        assert upcoming is not None and upcoming > previous and upcoming >= anchor
        assert upcoming.tzinfo is UTC
        if frequency in STEPS:
            step = STEPS[frequency]
            assert (upcoming - anchor) % step == timedelta(0)
            earlier = upcoming - step
        else:
            local_anchor = anchor.astimezone(zone)
            months = months_between(local_anchor, upcoming.astimezone(zone))
            assert upcoming == monthly_occurrence(local_anchor, months)
            earlier = monthly_occurrence(local_anchor, months - 1)
        # Nothing on the grid was skipped between `previous` and `upcoming`.
        assert earlier < anchor or earlier <= previous
        previous = upcoming


# --- local time ------------------------------------------------------------------------------

# 09:00 on 1 December 2026 in UTC+05:30.
LOCAL = {"StartTime": "2026-12-01T03:30:00Z", "IsLocalTime": True, "Timezone": "UTC+05:30"}


@pytest.mark.parametrize(
    ("run_at", "zone", "expected"),
    [
        ("2026-12-01T03:30:00+00:00", "America/Los_Angeles", "2026-12-01T17:00:00+00:00"),  # PST
        ("2026-12-01T03:30:00+00:00", "Asia/Kolkata", "2026-12-01T03:30:00+00:00"),
        ("2026-12-01T03:30:00+00:00", "Australia/Lord_Howe", "2026-11-30T22:00:00+00:00"),  # +11
        ("2026-06-01T03:30:00+00:00", "America/Los_Angeles", "2026-06-01T16:00:00+00:00"),  # PDT
        ("2026-06-01T03:30:00+00:00", "Australia/Lord_Howe", "2026-05-31T22:30:00+00:00"),  # +10:30
    ],
)
def test_local_time_sends_at_the_same_wall_clock_in_each_zone(run_at, zone, expected):
    assert local_send_time(LOCAL, at(run_at), zone) == at(expected)


def test_local_time_in_a_dst_gap_moves_to_the_first_valid_time():
    # 02:30 on 8 March 2026 does not exist in New York: clocks jump from 02:00 to 03:00 EDT.
    two_thirty = at("2026-03-08T02:30:00+05:30")
    assert local_send_time(LOCAL, two_thirty, "America/New_York") == at("2026-03-08T03:00:00-04:00")
    # Lord Howe only skips half an hour, 02:00 -> 02:30.
    quarter_past = at("2026-10-04T02:15:00+05:30")
    expected = at("2026-10-04T02:30:00+11:00")
    assert local_send_time(LOCAL, quarter_past, "Australia/Lord_Howe") == expected


def test_local_time_in_a_dst_fold_takes_the_first_occurrence():
    # 01:30 on 1 November 2026 happens twice in New York; the first is still EDT.
    half_past_one = at("2026-11-01T01:30:00+05:30")
    assert local_send_time(LOCAL, half_past_one, "America/New_York") == at(
        "2026-11-01T01:30:00-04:00"
    )


def test_local_time_next_to_a_transition_is_unchanged():
    three = at("2026-03-08T03:00:00+05:30")
    assert local_send_time(LOCAL, three, "America/New_York") == at("2026-03-08T03:00:00-04:00")
    one_fifty_nine = at("2026-03-08T01:59:00+05:30")
    assert local_send_time(LOCAL, one_fifty_nine, "America/New_York") == at(
        "2026-03-08T01:59:00-05:00"
    )


@pytest.mark.parametrize(
    "zone", [None, "", "Mars/Olympus_Mons", "UTC+05:30", "America", "../etc/passwd"]
)
def test_endpoints_without_a_valid_zone_are_not_targeted_in_local_time(zone):
    assert local_send_time(LOCAL, at("2026-12-01T03:30:00+00:00"), zone) is None
    assert not valid_zone(zone)


def test_without_local_time_everyone_gets_the_run_at_once():
    schedule = {"StartTime": "2026-12-01T03:30:00Z", "Timezone": "UTC+05:30"}
    run_at = at("2026-12-01T03:30:00+00:00")
    for zone in (None, "Nowhere/Special", "America/Los_Angeles"):
        assert local_send_time(schedule, run_at, zone) == run_at


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kathmandu", "Etc/GMT+5"])
def test_valid_zones(zone):
    assert valid_zone(zone)


# Days with a daylight-saving change in one of these zones, so gaps and folds come up often.
TRANSITION_DAYS = [
    "2026-03-08",
    "2026-11-01",
    "2026-04-05",
    "2026-10-04",
    "2026-03-29",
    "2026-06-15",
]


@given(
    day=st.sampled_from(TRANSITION_DAYS),
    minute=st.integers(0, 24 * 60 - 1),
    zone=st.sampled_from(["America/New_York", "Australia/Lord_Howe", "Europe/London"]),
)
def test_local_send_is_the_first_instant_the_local_clock_reaches_the_wall_clock(day, minute, zone):
    wall_clock = datetime.fromisoformat(f"{day}T{hhmm(minute)}")
    run_at = wall_clock.replace(tzinfo=timezone(timedelta(hours=5, minutes=30)))
    sent = local_send_time(LOCAL, run_at, zone)
    endpoint_zone = ZoneInfo(zone)

    def clock(instant: datetime) -> datetime:
        return instant.astimezone(endpoint_zone).replace(tzinfo=None)

    assert clock(sent) >= wall_clock
    # Just before, and at every quarter hour in the two hours before, the clock was earlier.
    for before in [timedelta(seconds=1)] + [timedelta(minutes=15 * k) for k in range(1, 9)]:
        assert clock(sent - before) < wall_clock


# --- quiet time ------------------------------------------------------------------------------

NIGHT = {"Start": "22:00", "End": "07:00"}
OFFICE = {"Start": "09:00", "End": "17:00"}


def new_york(clock: str) -> datetime:
    return at(f"2026-06-10T{clock}:00-04:00")


@pytest.mark.parametrize(
    ("quiet", "clock", "expected"),
    [
        (NIGHT, "23:30", True),
        (NIGHT, "22:00", True),
        (NIGHT, "00:00", True),
        (NIGHT, "06:59", True),
        (NIGHT, "07:00", True),
        (NIGHT, "07:01", False),
        (NIGHT, "12:00", False),
        (NIGHT, "21:59", False),
        (OFFICE, "12:00", True),
        (OFFICE, "09:00", True),
        (OFFICE, "17:00", True),
        (OFFICE, "08:59", False),
        (OFFICE, "17:01", False),
    ],
)
def test_quiet_time_in_the_endpoints_own_zone(quiet, clock, expected):
    assert in_quiet_time(quiet, "America/New_York", new_york(clock)) is expected


def test_quiet_time_reads_the_clock_in_the_endpoint_zone():
    instant = new_york("23:30")  # 09:00 the next morning in Kolkata
    assert in_quiet_time(NIGHT, "America/New_York", instant)
    assert not in_quiet_time(NIGHT, "Asia/Kolkata", instant)


@pytest.mark.parametrize("zone", [None, "", "Not/AZone", "UTC-08"])
def test_endpoints_without_a_valid_zone_are_never_quiet(zone):
    assert not in_quiet_time(NIGHT, zone, new_york("23:30"))


@pytest.mark.parametrize(
    "quiet", [None, {}, {"Start": "22:00"}, {"End": "07:00"}, {"Start": "", "End": ""}]
)
def test_no_quiet_time_without_start_and_end(quiet):
    assert not in_quiet_time(quiet, "America/New_York", new_york("23:30"))


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@given(
    start=st.integers(0, 24 * 60 - 1),
    end=st.integers(0, 24 * 60 - 1),
    zone=st.sampled_from(["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]),
    instant=st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)),
)
def test_a_window_across_midnight_is_the_complement_of_the_day_between(start, end, zone, instant):
    if start - end < 2:
        return  # not a wrapping window with at least one minute of day between its ends
    wrapping = {"Start": hhmm(start), "End": hhmm(end)}
    daytime = {"Start": hhmm(end + 1), "End": hhmm(start - 1)}
    assert in_quiet_time(wrapping, zone, instant) is not in_quiet_time(daytime, zone, instant)


def test_campaign_quiet_time_overrides_the_apps():
    app = {"QuietTime": NIGHT}
    assert effective_quiet_time({"QuietTime": OFFICE}, app) == OFFICE
    assert effective_quiet_time({"QuietTime": {"Start": "09:00"}}, app) == NIGHT
    assert effective_quiet_time({"StartTime": "IMMEDIATE"}, app) == NIGHT
    assert effective_quiet_time({"QuietTime": OFFICE}, {}) == OFFICE
    assert effective_quiet_time({}, {"QuietTime": {}}) is None
    assert effective_quiet_time(None, None) is None


# --- treatments ------------------------------------------------------------------------------


def arms(holdout: int, sizes: list[int]) -> list[str | None]:
    return [treatment_of(cohort, holdout, sizes) for cohort in range(100)]


def test_documented_ab_split():
    # HoldoutPercent 10 and one more treatment of 40 % leave 50 % for the default treatment.
    assignment = arms(10, [40])
    assert assignment.count(None) == 10
    assert assignment.count("1") == 40
    assert assignment.count("0") == 50
    assert treatment_ranges(10, [40]) == {"1": (10, 50), "0": (50, 100)}
    assert assignment[:10] == [None] * 10 and assignment[10] == "1" and assignment[50] == "0"


def test_without_holdout_or_treatments_everyone_gets_the_default():
    assert set(arms(0, [])) == {"0"}
    assert treatment_ranges(0, []) == {"0": (0, 100)}


def test_treatments_can_leave_the_default_empty():
    assert treatment_ranges(20, [30, 50]) == {"1": (20, 50), "2": (50, 100), "0": (100, 100)}
    assert "0" not in arms(20, [30, 50])


@pytest.mark.parametrize(("holdout", "sizes"), [(10, [50, 50]), (101, []), (-1, []), (0, [-5])])
def test_impossible_splits_are_refused(holdout, sizes):
    with pytest.raises(ValueError):
        treatment_ranges(holdout, sizes)


@pytest.mark.parametrize("cohort", [-1, 100])
def test_cohorts_are_0_to_99(cohort):
    with pytest.raises(ValueError, match="CohortId"):
        treatment_of(cohort, 10, [40])


@st.composite
def splits(draw) -> tuple[int, list[int]]:
    holdout = draw(st.integers(0, 100))
    sizes: list[int] = []
    for _ in range(draw(st.integers(0, 4))):
        sizes.append(draw(st.integers(0, 100 - holdout - sum(sizes))))
    return holdout, sizes


@given(splits())
def test_every_cohort_lands_in_exactly_one_arm_in_proportion(split):
    holdout, sizes = split
    assignment = arms(holdout, sizes)
    assert assignment.count(None) == holdout
    for number, size in enumerate(sizes, start=1):
        assert assignment.count(str(number)) == size
    assert assignment.count("0") == 100 - holdout - sum(sizes)
    ranges = treatment_ranges(holdout, sizes)
    for cohort, arm in enumerate(assignment):
        containing = [t for t, (low, high) in ranges.items() if low <= cohort < high]
        assert containing == ([] if arm is None else [arm])


# --- limits ----------------------------------------------------------------------------------


def test_campaign_limits_win_key_by_key():
    campaign = {"Daily": 3, "MessagesPerSecond": 50}
    app = {"Daily": 10, "Total": 20, "MessagesPerSecond": 100, "MaximumDuration": 600}
    assert effective_limits(campaign, app) == {
        "Daily": 3,
        "Total": 20,
        "MessagesPerSecond": 50,
        "MaximumDuration": 600,
    }


def test_zero_daily_or_total_means_no_cap():
    assert effective_limits({"Daily": 0, "Total": 0, "Session": 0}, None) == {"Session": 0}
    # An explicit 0 on the campaign lifts the app's cap for that campaign.
    assert effective_limits({"Daily": 0}, {"Daily": 5, "Total": 7}) == {"Total": 7}
    assert effective_limits(None, None) == {}


def test_a_local_time_run_starts_when_the_earliest_zone_is_due():
    schedule = {"StartTime": "2026-12-01T09:00:00Z", "IsLocalTime": True, "Timezone": "UTC-05"}
    run_at = datetime(2026, 12, 1, 14, tzinfo=UTC)  # 09:00 at UTC-05
    start = run_at - local_lead(schedule)
    # 09:00 in Kiribati (UTC+14) is the first 09:00 on Earth.
    assert local_send_time(schedule, run_at, "Pacific/Kiritimati") == start
    assert local_lead({"StartTime": "IMMEDIATE"}) == timedelta(0)
