"""Campaign runs in the store: due campaigns, activities and their leases and checkpoints,
delivery batches, and the send records they leave (``tidings.store.sends``).

Every step of a run is one transaction that leaves the store consistent: a planning step
writes its batches together with the checkpoint that produced them, and settling a batch
writes its records, its counters and its ``done`` mark together. A crash between steps
loses at most the work of the step in progress, which is then redone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.engine import Row

from tidings.domain.common import new_id
from tidings.store import schema as t
from tidings.store.sends import RECORD_COLUMNS, add_records

A = t.activities.c
B = t.delivery_batches.c
C = t.campaigns.c

ACTIVE = ("PENDING", "RUNNING")
FINISHED = ("COMPLETED", "CANCELLED", "PAUSED")
ENDPOINT_COUNT = RECORD_COLUMNS.index("endpoint_count")


@dataclass(frozen=True)
class ActivityKey:
    app_id: str
    campaign_id: str
    id: str

    def where(self):
        return and_(A.app_id == self.app_id, A.campaign_id == self.campaign_id, A.id == self.id)


@dataclass
class PlannedPage:
    """What one planning step produced."""

    cursor: str | None
    done: bool | None  # None: the page was not read (the run is halting)
    created: str = ""  # when it was planned
    batches: list[tuple[str, list[str]]] = field(default_factory=list)  # (batch id, endpoint ids)
    records: list[tuple] = field(default_factory=list)  # send records of skipped endpoints
    wave_until: str | None = None  # local time: the bound of the wave this pass plans
    next_wave_at: str | None = None  # local time: the earliest send time after this wave so far


# --- the scheduler's side -----------------------------------------------------------------


def due_campaigns(conn: Connection, now: str, limit: int = 20) -> list[Row]:
    running = (
        select(A.id)
        .where(A.app_id == C.app_id, A.campaign_id == C.id, A.state.in_(ACTIVE))
        .exists()
    )
    query = (
        select(C.app_id, C.id, C.version, C.status, C.next_run_at)
        .where(C.next_run_at <= now, C.status.in_(("SCHEDULED", "PENDING_NEXT_RUN")), ~running)
        .order_by(C.next_run_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query).all()


def start_run(
    conn: Connection,
    campaign: Row,
    treatment_ids: list[str],
    scheduled_start: str,
    next_run_at: str | None,
) -> list[str]:
    """One activity per treatment, and the campaign EXECUTING with its following run planned."""
    run_id = new_id()
    ids = [new_id() for _ in treatment_ids]
    conn.execute(
        t.activities.insert(),
        [
            {
                "app_id": campaign.app_id,
                "campaign_id": campaign.id,
                "id": activity_id,
                "run_id": run_id,
                "campaign_version": campaign.version,
                "treatment_id": treatment_id,
                "state": "PENDING",
                "scheduled_start": scheduled_start,
                "total_endpoint_count": 0,
                "successful_endpoint_count": 0,
                "failed_endpoint_count": 0,
                "planned": 0,
                "batch_count": 0,
                "metrics": {},
            }
            for activity_id, treatment_id in zip(ids, treatment_ids, strict=True)
        ],
    )
    conn.execute(
        update(t.campaigns)
        .where(C.app_id == campaign.app_id, C.id == campaign.id)
        .values(status="EXECUTING", next_run_at=next_run_at)
    )
    return ids


# --- leases ---------------------------------------------------------------------------------


def claim(conn: Connection, owner: str, now: float, lease_s: float, limit: int = 20) -> list[Row]:
    """Activities to run that nobody holds (or whose holder stopped renewing), now ours."""
    query = (
        select(t.activities)
        .where(A.state.in_(ACTIVE), or_(A.lease_until.is_(None), A.lease_until < now))
        .order_by(A.scheduled_start)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    for row in rows:
        key = ActivityKey(row.app_id, row.campaign_id, row.id)
        conn.execute(update(t.activities).where(key.where()).values(lease_owner=owner, lease_until=now + lease_s))
    return rows


def renew(conn: Connection, owner: str, activity_ids: list[str], until: float) -> set[str]:
    """Extend our leases; returns the activities still ours (another server may have taken
    over one whose lease lapsed while this server stalled)."""
    return set(
        conn.execute(
            update(t.activities)
            .where(A.lease_owner == owner, A.id.in_(activity_ids), A.state.in_(ACTIVE))
            .values(lease_until=until)
            .returning(A.id)
        ).scalars()
    )


def release(conn: Connection, owner: str, activity_id: str) -> None:
    conn.execute(
        update(t.activities)
        .where(A.lease_owner == owner, A.id == activity_id)
        .values(lease_owner=None, lease_until=None)
    )


def release_all(conn: Connection, owner: str | None = None) -> None:
    """Give up leases: ours on a clean stop, or everyone's when the store has one server."""
    query = update(t.activities).where(A.state.in_(ACTIVE))
    if owner is not None:
        query = query.where(A.lease_owner == owner)
    conn.execute(query.values(lease_owner=None, lease_until=None))


# --- one activity ---------------------------------------------------------------------------


def activity(conn: Connection, key: ActivityKey) -> Row | None:
    return conn.execute(select(t.activities).where(key.where())).first()


def campaign_status(conn: Connection, app_id: str, campaign_id: str) -> str | None:
    return conn.execute(select(C.status).where(C.app_id == app_id, C.id == campaign_id)).scalar()


def has_active_run(conn: Connection, app_id: str, campaign_id: str) -> bool:
    query = select(A.id).where(A.app_id == app_id, A.campaign_id == campaign_id, A.state.in_(ACTIVE)).limit(1)
    return conn.execute(query).first() is not None


def campaign_statuses(conn: Connection, campaign_ids: list[str]) -> dict[str, str]:
    """The status of each campaign that still exists (ids are unique across apps)."""
    return dict(conn.execute(select(C.id, C.status).where(C.id.in_(campaign_ids))).all())


def mark_running(conn: Connection, key: ActivityKey, start: str) -> None:
    conn.execute(
        update(t.activities)
        .where(key.where(), A.state == "PENDING")
        .values(state="RUNNING", start=start)
    )


@dataclass
class PageWrite:
    """A planning step to write (see ``save_page``)."""

    key: ActivityKey
    owner: str
    after: str | None  # the checkpoint the page was planned from
    page: PlannedPage
    metrics: dict[str, int]  # ExecutionMetrics counts to add
    absolute: dict[str, int] = field(default_factory=dict)  # ExecutionMetrics to set


def save_page(conn: Connection, step: PageWrite) -> bool:
    """A planning step: its batches, its skip records and the checkpoint, together. Fenced:
    nothing is written (False) unless this server still holds the activity and its
    checkpoint is still ``after`` (the campaign deleted, or the activity taken over)."""
    key, page = step.key, step.page
    row = conn.execute(
        select(A.batch_count, A.metrics).where(
            key.where(), A.lease_owner == step.owner, A.cursor.is_not_distinct_from(step.after)
        )
    ).first()
    if row is None:
        return False
    seq = row.batch_count
    if page.batches:
        conn.execute(
            t.delivery_batches.insert(),
            [
                {
                    "id": batch_id,
                    "app_id": key.app_id,
                    "campaign_id": key.campaign_id,
                    "activity_id": key.id,
                    "seq": seq + i,
                    "endpoint_ids": ids,
                    "state": "queued",
                    "attempts": 0,
                    "created": page.created,
                }
                for i, (batch_id, ids) in enumerate(page.batches)
            ],
        )
    add_records(conn, page.records)
    planned = sum(len(ids) for _, ids in page.batches)
    conn.execute(
        update(t.activities)
        .where(key.where())
        .values(
            cursor=page.cursor,
            planned=1 if page.done else 0,
            batch_count=seq + len(page.batches),
            total_endpoint_count=A.total_endpoint_count + planned,
            metrics=_added(row.metrics or {}, step.metrics) | step.absolute,
            wave_until=page.wave_until,
            next_wave_at=page.next_wave_at,
        )
    )
    return True


def next_wave(conn: Connection, key: ActivityKey, owner: str, wave_from: str, wave_until: str) -> bool:
    """Start another pass over the segment for the endpoints whose local time comes next."""
    return bool(
        conn.execute(
            update(t.activities)
            .where(key.where(), A.lease_owner == owner)
            .values(cursor=None, planned=0, wave_from=wave_from, wave_until=wave_until, next_wave_at=None)
        ).rowcount
    )


def queued_batches(conn: Connection, key: ActivityKey) -> list[Row]:
    query = select(B.id, B.endpoint_ids, B.attempts).where(B.activity_id == key.id, B.state == "queued")
    return conn.execute(query.order_by(B.seq)).all()


def count_attempt(conn: Connection, batch_id: str) -> None:
    conn.execute(update(t.delivery_batches).where(B.id == batch_id).values(attempts=B.attempts + 1))


@dataclass
class Settlement:
    """A delivered batch: its send records and what to add to its activity's counters."""

    key: ActivityKey
    batch_id: str
    records: list[tuple]  # in sends.RECORD_COLUMNS order
    succeeded: int = 0
    failed: int = 0
    dropped: int = 0  # handed out for delivery but never given to the channel
    metrics: dict[str, int] = field(default_factory=dict)  # ExecutionMetrics counts to add

    @property
    def endpoints(self) -> int:
        """How many endpoints its records cover."""
        return sum(record[ENDPOINT_COUNT] for record in self.records)


def write_group(conn: Connection, pages: list[PageWrite], settlements: list[Settlement]) -> tuple[list[bool], set[str]]:
    """Several run steps in one transaction: planned pages in order (whether each was
    written), then settled batches (the ids closed here)."""
    return [save_page(conn, step) for step in pages], settle(conn, settlements)


def settle(conn: Connection, settlements: list[Settlement]) -> set[str]:
    """Close batches with their records and counters, all in the caller's transaction.
    Returns the ids of the batches closed here: a batch already closed (a redelivery after
    a crash) adds nothing, so nothing counts twice."""
    if not settlements:
        return set()
    ids = [s.batch_id for s in settlements]
    closed = set(
        conn.execute(
            update(t.delivery_batches)
            .where(B.id.in_(ids), B.state == "queued")
            .values(state="done")
            .returning(B.id)
        ).scalars()
    )
    fresh = [s for s in settlements if s.batch_id in closed]
    add_records(conn, [r for s in fresh for r in s.records])
    totals: dict[ActivityKey, list[int]] = {}
    metrics: dict[ActivityKey, dict[str, int]] = {}
    for s in fresh:
        counts = totals.setdefault(s.key, [0, 0, 0])
        counts[0] += s.succeeded
        counts[1] += s.failed
        counts[2] += s.dropped
        for name, n in s.metrics.items():
            metrics.setdefault(s.key, {})[name] = metrics.get(s.key, {}).get(name, 0) + n
    for key, (succeeded, failed, dropped) in totals.items():
        values: dict = {
            "successful_endpoint_count": A.successful_endpoint_count + succeeded,
            "failed_endpoint_count": A.failed_endpoint_count + failed,
            "total_endpoint_count": A.total_endpoint_count - dropped,
        }
        if key in metrics:
            # Counts that only delivery learns (FILTER drops, expiries) are kept with the batch
            # that produced them, so a crash cannot lose or repeat them.
            stored = conn.execute(select(A.metrics).where(key.where())).scalar() or {}
            values["metrics"] = _added(stored, metrics[key])
        conn.execute(update(t.activities).where(key.where()).values(**values))
    return closed


def _added(stored: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
    return {name: stored.get(name, 0) + counts.get(name, 0) for name in {*stored, *counts}}


def finish(
    conn: Connection,
    key: ActivityKey,
    owner: str,
    *,
    state: str,
    result: str | None,
    end: str,
    message: str | None = None,
    campaign_status: str | None = None,
) -> str | None:
    """End an activity; when it was the last of its run, settle the campaign's status
    (``campaign_status``, PAUSED or INVALID, settles it at once, however many activities of
    the run are still going). Returns the campaign's new status, if it changed."""
    # The campaign row is locked first, so that the last two activities of a run finishing
    # at once cannot both miss each other and leave the campaign EXECUTING.
    campaign_query = select(C.status, C.next_run_at).where(C.app_id == key.app_id, C.id == key.campaign_id)
    if conn.dialect.name == "postgresql":
        campaign_query = campaign_query.with_for_update()
    campaign = conn.execute(campaign_query).first()
    row = conn.execute(
        select(A.run_id, A.successful_endpoint_count, A.failed_endpoint_count).where(
            key.where(), A.lease_owner == owner
        )
    ).first()
    if row is None:
        return None  # the campaign was deleted meanwhile, or another server holds the activity
    if result is None:
        result = "FAIL" if row.failed_endpoint_count and not row.successful_endpoint_count else "SUCCESS"
    unsent = 0
    if state != "COMPLETED":
        # Batches planned but never handed out (the run stopped) are not counted as handed over.
        unsent_batches = select(B.endpoint_ids).where(B.activity_id == key.id, B.state == "queued")
        unsent = sum(len(ids) for ids in conn.execute(unsent_batches).scalars())
    # A finished activity's batches are done with: what they did is in its send records.
    conn.execute(delete(t.delivery_batches).where(B.activity_id == key.id))
    conn.execute(
        update(t.activities)
        .where(key.where())
        .values(
            state=state,
            result=result,
            end=end,
            message=message,
            lease_owner=None,
            lease_until=None,
            total_endpoint_count=A.total_endpoint_count - unsent,
        )
    )
    if campaign is None:
        return None
    if campaign_status is not None:
        conn.execute(
            update(t.campaigns)
            .where(C.app_id == key.app_id, C.id == key.campaign_id)
            .values(status=campaign_status, next_run_at=None)
        )
        return campaign_status
    unfinished = conn.execute(
        select(func.count()).where(
            A.app_id == key.app_id, A.campaign_id == key.campaign_id, A.run_id == row.run_id, A.state.in_(ACTIVE)
        )
    ).scalar_one()
    if unfinished or campaign.status != "EXECUTING":
        return None
    values: dict = {"status": "PENDING_NEXT_RUN" if campaign.next_run_at else "COMPLETED"}
    if state == "PAUSED":
        # Paused, then resumed before this run noticed it stopped: a resumed campaign starts
        # again from the beginning, now.
        values = {"status": "SCHEDULED", "next_run_at": end}
    conn.execute(update(t.campaigns).where(C.app_id == key.app_id, C.id == key.campaign_id).values(**values))
    return values["status"]


# --- progress ---------------------------------------------------------------------------------


def latest_run(conn: Connection, app_id: str, campaign_id: str) -> list[Row]:
    """The activities of the campaign's most recent run, default treatment first."""
    newest = (
        select(A.run_id)
        .where(A.app_id == app_id, A.campaign_id == campaign_id)
        .order_by(A.scheduled_start.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = select(t.activities).where(A.app_id == app_id, A.campaign_id == campaign_id, A.run_id == newest)
    return conn.execute(query.order_by(A.treatment_id)).all()
