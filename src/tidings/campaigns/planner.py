"""Planning one page of an activity, next to the store.

A planning step reads the next keyset page of the segment, decides every endpoint (skipped
with a send record and a reason, or put in a batch of at most 50) and builds each batch's
payload. It runs where the run's writes are made (the run writer's helper process, see
``tidings.campaigns.writer``), and its page is written in the same group commit as it is
planned: the server sends what to plan (``PlanStep``) and gets back only the planned batches,
their payloads ready to hand to the channel (``PlanResult``). The server's interpreter is left
to the channels; reading a page there gave up and retook its lock on every row.

Steps carry everything they need (the activity's rules as a ``PlanSpec``, the checkpoint, the
local-time wave), so the helper keeps no state between them: a page is written only if the
activity's checkpoint is still the one it was planned from (``runs.save_page``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from tidings.domain import delivery, schedules
from tidings.domain import segments as seg
from tidings.domain.common import format_date, parse_date, random_uuid
from tidings.store import audience, runs, sends
from tidings.store.db import Database
from tidings.store.runs import ActivityKey, PageWrite, PlannedPage

PAGE_SIZE = 1000
# Statuses that count toward the Total and Daily caps: Pinpoint counts targeted messages.
TARGETED = ("SUCCESS", "CUSTOM_DELIVERY_FAILURE", "HOOK_FAILURE", "QUIET_TIME")


@dataclass(frozen=True)
class PlanSpec:
    """An activity's rules for deciding endpoints, the same for all its pages (plain data:
    it travels to the helper process with every step)."""

    key: ActivityKey
    owner: str  # the server that holds the activity: pages are written only while it does
    treatment_id: str
    cond: seg.Cond
    endpoint_types: frozenset[str]
    arms: tuple[str | None, ...]  # cohort -> treatment id (None: held out)
    limits: dict
    campaign_daily: bool  # the Daily cap is the campaign's own (else the app's: every campaign counts)
    quiet_time: dict | None
    deadline: datetime | None
    schedule: dict
    run_at: datetime  # the run's instant: ScheduledStart
    first_from: datetime  # local time: send times at or before this are not targeted
    message: dict  # MessageConfiguration, for the payloads
    scheduled_time: str


@dataclass
class PlanStep:
    """Plan and write the page after ``after``."""

    spec: PlanSpec
    after: str | None
    wave_from: str | None = None  # local time: the wave this pass plans is (wave_from, wave_until]
    wave_until: str | None = None
    next_wave_at: str | None = None
    zones: dict[str, bool] = field(default_factory=dict)  # zones seen in this pass -> all due


@dataclass
class PlannedBatch:
    id: str
    endpoint_ids: list[str]
    payload: bytes


@dataclass
class PlanResult:
    written: bool  # False: fenced off (another server holds the activity, or the campaign is gone)
    halted: str | None = None  # the campaign was PAUSED or DELETED: nothing was read
    cursor: str | None = None
    done: bool = False
    batches: list[PlannedBatch] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # ExecutionMetrics to add
    absolute: dict[str, int] = field(default_factory=dict)  # ExecutionMetrics to set
    wave_until: str | None = None
    next_wave_at: str | None = None
    zones: dict[str, bool] = field(default_factory=dict)
    error: str | None = None  # planning failed (the page was not written): why


def plan(db: Database, step: PlanStep) -> tuple[PageWrite | None, PlanResult]:
    """Read and decide the page after ``step.after``: the page to write, and what the server
    gets back once it is written (None and a halted result when the campaign stopped)."""
    spec, key = step.spec, step.spec.key
    with db.read() as conn:
        status = runs.campaign_status(conn, key.app_id, key.campaign_id)
    if status in (None, "DELETED", "PAUSED"):
        return None, PlanResult(written=False, halted=status or "DELETED")
    members, cursor = audience.PageReader(db, key.app_id, spec.cond).page(step.after, PAGE_SIZE)
    now = datetime.now(UTC)
    stamp = format_date(now)
    page = PlannedPage(cursor=cursor, done=cursor is None, created=stamp)
    result = PlanResult(written=False, cursor=cursor, done=cursor is None, zones=dict(step.zones))
    counts: Counter[str] = Counter()
    if spec.schedule.get("IsLocalTime"):
        members = _due_locally(db, step, members, page, result, now, counts)
    eligible: list[audience.Member] = []
    for member in members:
        counts["ENDPOINT_PRODUCED"] += 1
        if member.opt_out == "ALL":
            counts["ENDPOINT_OPT_OUT"] += 1
        elif member.endpoint_status == "INACTIVE":
            counts["ENDPOINT_INACTIVE"] += 1
        elif member.channel_type not in spec.endpoint_types:
            counts["ENDPOINT_CHANNEL_MISMATCH"] += 1
        else:
            arm = spec.arms[member.cohort_id]
            if arm is None:
                if spec.treatment_id == "0":  # the holdout is recorded once per run
                    page.records.append(skip_record(spec, member.id, member.doc, "HOLDOUT", stamp))
                    counts["HOLDOUT"] += 1
            elif arm != spec.treatment_id:
                counts["TREATMENT_HOLDOUT"] += 1
            else:
                eligible.append(member)
    eligible = _apply_limits(db, spec, eligible, page, now, stamp, counts)
    for start in range(0, len(eligible), delivery.BATCH_SIZE):
        chunk = eligible[start : start + delivery.BATCH_SIZE]
        batch = PlannedBatch(random_uuid(), [m.id for m in chunk], b"")
        batch.payload = payload(spec, batch.id, {m.id: m.doc for m in chunk})
        page.batches.append((batch.id, batch.endpoint_ids))
        result.batches.append(batch)
    result.counts = dict(counts)
    write = PageWrite(key, spec.owner, step.after, page, result.counts, result.absolute)
    return write, result


def payload(spec: PlanSpec, batch_id: str, docs: dict[str, str | dict]) -> bytes:
    """The event the channel receives for a batch of these endpoints."""
    key = spec.key
    return delivery.payload(
        message=spec.message,
        app_id=key.app_id,
        campaign_id=key.campaign_id,
        treatment_id=spec.treatment_id,
        activity_id=key.id,
        scheduled_time=spec.scheduled_time,
        endpoints=docs,
        idempotency_key=batch_id,
    )


def skip_record(
    spec: PlanSpec, endpoint_id: str, doc: str | dict, status: str, at: str, reason: str | None = None,
    batch_id: str | None = None,
) -> tuple:  # fmt: skip
    """One endpoint's send record, with the endpoint as it was."""
    key = spec.key
    text = doc if isinstance(doc, str) else orjson.dumps(doc).decode()
    return sends.endpoint_record(
        key.app_id, key.campaign_id, key.id, spec.treatment_id, status, at, endpoint_id, text, reason, batch_id
    )


def _due_locally(
    db: Database,
    step: PlanStep,
    members: list[audience.Member],
    page: PlannedPage,
    result: PlanResult,
    now: datetime,
    counts: Counter[str],
) -> list[audience.Member]:
    """The members whose local send time falls in this wave; notes the next wave's time."""
    spec = step.spec
    wave_until = step.wave_until or format_date(now)
    page.wave_until = result.wave_until = wave_until
    first_pass = step.wave_from is None
    lower = spec.first_from if first_pass else parse_date(step.wave_from)
    upper = parse_date(wave_until)
    assert lower is not None and upper is not None
    next_wave = parse_date(step.next_wave_at) if step.next_wave_at else None
    zones = result.zones
    due = []
    for member in members:
        zone = (orjson.loads(member.doc).get("Demographic") or {}).get("Timezone")
        send_at = schedules.local_send_time(spec.schedule, spec.run_at, zone)
        if send_at is None:
            if first_pass:
                counts["ENDPOINT_MISSING_TIMEZONE"] += 1
            continue
        if send_at <= lower:
            if send_at <= spec.first_from:
                counts["ENDPOINT_TIMEZONE_MISMATCH"] += first_pass
            else:
                zones.setdefault(zone, True)  # sent in an earlier wave
            continue
        zones[zone] = zones.get(zone, True) and send_at <= upper
        if send_at > upper:
            next_wave = send_at if next_wave is None else min(next_wave, send_at)
            continue
        due.append(member)
    page.next_wave_at = result.next_wave_at = None if next_wave is None else format_date(next_wave)
    result.absolute = {"TimezonesTotalCount": len(zones), "TimezonesCompletedCount": sum(zones.values())}
    if page.done:
        result.zones = {}
    if not first_pass and due:
        # An endpoint whose time zone changed since an earlier wave may fall due again.
        with db.read() as conn:
            sent = sends.recorded(conn, spec.key.app_id, spec.key.id, [m.id for m in due])
        due = [m for m in due if m.id not in sent]
    return due


def _apply_limits(
    db: Database,
    spec: PlanSpec,
    members: list[audience.Member],
    page: PlannedPage,
    now: datetime,
    stamp: str,
    counts: Counter[str],
) -> list[audience.Member]:
    """Skip what the run's deadline, the caps and quiet time rule out, with a record each."""
    if not members:
        return members
    if spec.deadline is not None and now > spec.deadline:
        for member in members:
            page.records.append(skip_record(spec, member.id, member.doc, "EXPIRED", stamp))
        counts["EXPIRED"] += len(members)
        return []
    limits, key = spec.limits, spec.key
    caps: list[tuple[str, dict[str, int], int]] = []
    if limits.get("Total") or limits.get("Daily"):
        ids = [m.id for m in members]
        with db.read() as conn:
            if limits.get("Total"):
                sent = sends.send_counts(conn, key.app_id, ids, TARGETED, campaign_id=key.campaign_id)
                caps.append(("CAMPAIGN_CAP", sent, limits["Total"]))
            if limits.get("Daily"):
                # The campaign's Daily counts its own sends; the app's counts every campaign's.
                scope = key.campaign_id if spec.campaign_daily else None
                since = format_date(now - timedelta(days=1))
                sent = sends.send_counts(conn, key.app_id, ids, TARGETED, campaign_id=scope, since=since)
                caps.append(("DAILY_CAP", sent, limits["Daily"]))
    kept = []
    for member in members:
        status = next((name for name, sent, cap in caps if sent.get(member.id, 0) >= cap), None)
        if status is None and spec.quiet_time is not None:
            zone = (orjson.loads(member.doc).get("Demographic") or {}).get("Timezone")
            if schedules.in_quiet_time(spec.quiet_time, zone, now):
                status = "QUIET_TIME"
        if status is None:
            kept.append(member)
        else:
            page.records.append(skip_record(spec, member.id, member.doc, status, stamp))
            counts[status] += 1
    return kept
