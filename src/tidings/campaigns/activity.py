"""Running one activity (one treatment of one campaign run), as a coordinator that plans
and delivers in checkpointed steps.

Planning walks the segment in keyset pages from the activity's checkpoint. For each page it
decides every endpoint (skipped with a reason, or put in a batch of at most 50) and writes
the batches, the skip records and the new checkpoint in one transaction. Delivering a batch
runs the FILTER hook (if any), hands the batch to the channel with retries, and settles it
(records, counters, ``done``) in one transaction. After a crash, batches still ``queued``
are delivered again with the same idempotency key, and planning goes on from the
checkpoint; a batch settled before the crash is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import orjson

from tidings.channels import Attempt
from tidings.channels.webhook import delivery_headers
from tidings.domain import delivery, schedules
from tidings.domain.common import format_date, now_iso, parse_date, random_uuid
from tidings.domain.errors import NotFound
from tidings.store import apps, audience, campaigns, endpoints, runs, secrets, sends
from tidings.store.runs import ActivityKey, PlannedPage, Settlement

if TYPE_CHECKING:
    from tidings.campaigns.writer import RunWriter
    from tidings.channels.function import FunctionChannel
    from tidings.channels.webhook import WebhookSender
    from tidings.config import Settings
    from tidings.store.db import Database
    from tidings.store.functions import FunctionRecord
    from tidings.store.sealing import Sealer

log = logging.getLogger("tidings.campaigns")

PAGE_SIZE = 1000
MAX_UNSETTLED = 256  # delivered batches waiting for their records to be written
PLANNED_AHEAD = 80  # batches planned and written, waiting to be handed out
PAGES_IN_WRITING = 3  # pages decided and waiting for their write
# A running activity reads its app's webhook signing secrets again after this many seconds,
# so that a rotation, and the end of its overlap, reach long runs too.
SIGNING_SECRETS_REFRESH_S = 30.0
# Statuses that count toward the Total and Daily caps: Pinpoint counts targeted messages.
TARGETED = ("SUCCESS", "CUSTOM_DELIVERY_FAILURE", "HOOK_FAILURE", "QUIET_TIME")


@dataclass
class Context:
    campaign: dict
    campaign_arn: str
    plan: delivery.Plan
    reader: audience.PageReader
    limits: dict
    quiet_time: dict | None
    deadline: datetime | None
    arms: tuple[str | None, ...]  # cohort -> treatment id (None: held out)
    schedule: dict
    run_at: datetime  # the run's instant: ScheduledStart
    first_from: datetime  # local time: send times at or before this are not targeted
    signing: secrets.SigningSecrets | None = None  # the webhook's signing secrets
    signing_read_at: float = 0.0  # time.monotonic() when they were read
    function: FunctionRecord | None = None
    filter_function: FunctionRecord | None = None


class Stop(Exception):
    """The activity ends early: paused, cancelled or failed, with a reason for people.
    ``campaign_status`` is the status the campaign takes at once: PAUSED after too many
    failed batches, INVALID when its configuration cannot work (no segment, no channel, a
    function that is missing or may not be invoked) until someone changes it."""

    def __init__(self, state: str, message: str, *, result: str = "FAIL", campaign_status: str | None = None) -> None:
        super().__init__(message)
        self.state, self.message, self.result, self.campaign_status = state, message, result, campaign_status


def invalid(message: str) -> Stop:
    return Stop("COMPLETED", message, campaign_status="INVALID")


class ActivityLeftToAnother(Stop):
    """This server no longer holds the activity (another took it over, or the campaign is
    gone): it leaves without writing anything; batches in flight are redelivered by the
    new holder with the same idempotency keys."""

    def __init__(self, message: str) -> None:
        super().__init__("", message)


class Pacer:
    """MessagesPerSecond: endpoints are released no faster than ``rate`` per second."""

    def __init__(self, rate: int | None) -> None:
        self.rate = rate
        self.next_free = time.monotonic()

    async def take(self, count: int) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        start = max(now, self.next_free)
        self.next_free = start + count / self.rate
        if start > now:
            await asyncio.sleep(start - now)


@dataclass(frozen=True)
class RunServices:
    """What an activity's run uses of its server: one set, shared by every activity."""

    db: Database
    settings: Settings
    owner: str  # this server's id in activity leases
    functions: FunctionChannel
    webhooks: WebhookSender
    writer: RunWriter  # group-commits planned pages and settled batches
    sealer: Sealer  # opens the apps' webhook signing secrets


class ActivityRun:
    def __init__(self, services: RunServices, row) -> None:
        self.services = services
        self.db = services.db
        self.settings = services.settings
        self.key = ActivityKey(row.app_id, row.campaign_id, row.id)
        self.row = row
        self.cursor: str | None = row.cursor
        self.planned = bool(row.planned)
        self.metrics: Counter[str] = Counter({k: int(v) for k, v in (row.metrics or {}).items()})
        self.metrics_lock = threading.Lock()
        self.missing: dict[str, int] = {}  # batch id -> endpoints deleted since it was planned
        self.consecutive_failures = 0
        self.stop: Stop | None = None
        self.docs: dict[str, dict[str, str | dict]] = {}  # batch id -> endpoint docs, while in flight
        self.wave_from: str | None = row.wave_from
        self.wave_until: str | None = row.wave_until
        self.next_wave_at: str | None = row.next_wave_at
        self.zones: dict[str, bool] = {}  # local time: zones seen in this pass -> all of them due

    def lose_lease(self) -> None:
        self.stop = ActivityLeftToAnother("another server took the activity over after this one stopped renewing its lease")

    def halt(self, campaign_status: str) -> None:
        """Stop handing out batches (the ones in flight finish)."""
        if self.stop is None:
            if campaign_status == "PAUSED":
                self.stop = Stop("PAUSED", "the campaign was paused (IsPaused)", result="SUCCESS")
            else:
                self.stop = Stop("CANCELLED", "the campaign was deleted while it ran")

    # --- the run ------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            context = await asyncio.to_thread(self._load)
            await self._deliver_all(context)
        except ActivityLeftToAnother as lost:
            log.warning("activity %s of campaign %s left to another server: %s", self.key.id, self.key.campaign_id, lost)
            return
        except Stop as stop:
            await asyncio.to_thread(self._finish, stop.state, stop.result, stop.message, stop.campaign_status)
            return
        await asyncio.to_thread(self._finish, "COMPLETED", None, None, None)

    async def _deliver_all(self, context: Context) -> None:
        window = max(1, self.settings.max_batches_in_flight)
        for record in (context.function, context.filter_function):
            if record is not None:
                limit = record.reserved_concurrency
                window = min(window, self.settings.max_environments if limit is None else max(1, limit))
        pacer = Pacer(context.limits.get("MessagesPerSecond"))
        # A batch holds a window slot only while the channel has it; its settling (the
        # group-committed write of its records) goes on outside the window, so the channel is
        # never left idle waiting for the store. MAX_UNSETTLED bounds what waits to be written.
        in_flight: set[asyncio.Task] = set()
        settling: set[asyncio.Task] = set()
        faults: list[BaseException | None] = []

        def track(task: asyncio.Task, tasks: set[asyncio.Task]) -> None:
            tasks.add(task)

            def done(task: asyncio.Task) -> None:
                tasks.discard(task)
                if not task.cancelled() and task.exception() is not None:
                    # A batch that could not be delivered or settled (a store fault) stays
                    # queued; the run stops here and is taken up again from the store.
                    faults.append(task.exception())

            task.add_done_callback(done)

        async def deliver(batch_id: str) -> None:
            settlement, counts = await self._deliver(context, batch_id)
            track(asyncio.create_task(self._settle(settlement, counts)), settling)

        async def submit(batch_id: str) -> None:
            while len(in_flight) >= window or len(settling) >= MAX_UNSETTLED:
                await asyncio.wait(in_flight | settling, return_when=asyncio.FIRST_COMPLETED)
            if self.stop is not None:
                return
            await pacer.take(len(self.docs[batch_id]))
            track(asyncio.create_task(deliver(batch_id)), in_flight)

        async def drain() -> None:
            while in_flight or settling:
                await asyncio.wait(in_flight | settling)

        planner: asyncio.Task | None = None
        try:
            for batch_id in await asyncio.to_thread(self._resume):
                await submit(batch_id)
            while self.stop is None and not faults:
                planned: asyncio.Queue[str | None] = asyncio.Queue(PLANNED_AHEAD)
                planner = asyncio.create_task(self._plan_pass(context, planned, faults))
                while (batch_id := await planned.get()) is not None:
                    if self.stop is None:
                        await submit(batch_id)
                await planner  # raises what stopped the planning
                planner = None
                if self.next_wave_at is None or self.stop is not None:
                    break
                await drain()  # the next wave skips what this one sent, so let it settle first
                await self._wait_for_next_wave()
            if not isinstance(self.stop, ActivityLeftToAnother):
                await drain()
            if faults:
                raise RuntimeError(f"a batch of activity {self.key.id} could not be settled") from faults[0]
        finally:
            for task in in_flight | settling:
                task.cancel()
            if planner is not None:
                planner.cancel()
        if self.stop is not None:
            raise self.stop

    async def _wait_for_next_wave(self) -> None:
        """Local time: sleep until the next time zone is due, then plan another pass."""
        assert self.next_wave_at is not None and self.wave_until is not None
        due = parse_date(self.next_wave_at)
        assert due is not None
        while self.stop is None and datetime.now(UTC) < due:
            await asyncio.sleep(min(1.0, (due - datetime.now(UTC)).total_seconds()))
        if self.stop is not None:
            return
        wave_from, wave_until = self.wave_until, format_date(max(due, datetime.now(UTC)))
        owner = self.services.owner
        started = await asyncio.to_thread(
            self.db.transact, lambda conn: runs.next_wave(conn, self.key, owner, wave_from, wave_until)
        )
        if not started:
            self.stop = ActivityLeftToAnother("the campaign was deleted or another server took the activity over")
            return
        self.wave_from, self.wave_until, self.next_wave_at = wave_from, wave_until, None
        self.cursor, self.planned = None, False

    # --- loading and checks -------------------------------------------------------------

    def _load(self) -> Context:
        key, row = self.key, self.row
        now = datetime.now(UTC)
        with self.db.read() as conn:
            status = runs.campaign_status(conn, key.app_id, key.campaign_id)
            if status is None or status == "DELETED":
                raise Stop("CANCELLED", "the campaign was deleted", result="FAIL")
            doc, _ = campaigns.get(conn, key.app_id, key.campaign_id, row.campaign_version)
            app_settings = apps.get(conn, key.app_id).settings
            try:
                cond = audience.condition(conn, key.app_id, doc["SegmentId"], doc.get("SegmentVersion"), now)
            except NotFound as exc:
                raise invalid(f"the campaign's segment cannot be read: {exc}") from None
        plan = delivery.plan_for(doc, row.treatment_id, app_settings)
        if plan.problem:
            raise invalid(plan.problem)
        schedule = doc["Schedule"]
        limits = schedules.effective_limits(doc.get("Limits"), app_settings.get("Limits"))
        deadline = None
        if limits.get("MaximumDuration"):
            deadline = parse_date(row.scheduled_start) + timedelta(seconds=limits["MaximumDuration"])
        run_at = parse_date(row.scheduled_start)
        assert run_at is not None
        # A local-time run targets zones whose slot is still ahead when the campaign was last
        # written (Pinpoint does not send a time zone's message late).
        written = parse_date(doc["LastModifiedDate"]) or run_at
        first_from = max(run_at - schedules.local_lead(schedule), written) - timedelta(milliseconds=1)
        context = Context(
            schedule=schedule,
            run_at=run_at,
            first_from=first_from,
            campaign=doc,
            campaign_arn=doc["Arn"],
            plan=plan,
            reader=audience.PageReader(self.db, key.app_id, cond),
            limits=limits,
            quiet_time=schedules.effective_quiet_time(schedule, app_settings),
            deadline=deadline,
            arms=schedules.cohort_arms(
                doc.get("HoldoutPercent", 0), [t["SizePercent"] for t in doc.get("AdditionalTreatments") or []]
            ),
        )
        channel = plan.channel
        assert channel is not None
        functions = self.services.functions
        if channel.kind == "function":
            context.function, problem = functions.authorize(channel.target, context.campaign_arn)
            if problem:
                raise invalid(problem)
        else:
            context.signing = self._read_signing_secrets()
            context.signing_read_at = time.monotonic()
        if plan.filter_function:
            context.filter_function, problem = functions.authorize(plan.filter_function, context.campaign_arn)
            if problem:
                raise invalid(f"FILTER hook: {problem}")
        self.db.transact(lambda conn: runs.mark_running(conn, key, now_iso()))
        return context

    def _resume(self) -> list[str]:
        """Batches planned before a restart and not yet settled, with their endpoints now."""
        with self.db.read() as conn:
            queued = runs.queued_batches(conn, self.key)
            ids = [endpoint_id for row in queued for endpoint_id in row.endpoint_ids]
            docs = endpoints.get_many(conn, self.key.app_id, ids)
        for row in queued:
            self.docs[row.id] = {i: docs[i] for i in row.endpoint_ids if i in docs}
            self.missing[row.id] = len(row.endpoint_ids) - len(self.docs[row.id])
        if queued:
            log.info("activity %s: resuming %d unsettled batches", self.key.id, len(queued))
        return [row.id for row in queued]

    # --- planning -------------------------------------------------------------------------

    async def _plan_pass(self, context: Context, planned: asyncio.Queue[str | None], faults: list) -> None:
        """Plan pages from the checkpoint until the pass is done, putting their batches in
        ``planned`` (at most PLANNED_AHEAD ahead of the ones handed out), then None.

        A page is decided in a worker thread and written with the run writer's group commit;
        its batches are handed out only once it is written. The next page is decided while
        the previous one is being written (up to PAGES_IN_WRITING), each written from the
        checkpoint its predecessor leaves, in order."""
        writing: deque[tuple[PlannedPage, list[audience.Member], asyncio.Future[bool]]] = deque()
        after, done = self.cursor, self.planned
        failure: Exception | None = None
        try:
            while writing or (not done and self.stop is None and not faults):
                if not done and len(writing) < PAGES_IN_WRITING and self.stop is None and not faults:
                    page, eligible, metrics = await asyncio.to_thread(self._decide_page, context, after)
                    if page.done is None:  # halting: the campaign was paused or deleted
                        done = True
                        continue
                    step = runs.PageWrite(self.key, self.services.owner, after, page, metrics)
                    writing.append((page, eligible, asyncio.ensure_future(self.services.writer.save_page(step))))
                    after, done = page.cursor, bool(page.done)
                    continue
                page, eligible, write = writing.popleft()
                if not await write:
                    self.stop = ActivityLeftToAnother("the campaign was deleted or another server took the activity over")
                    break
                for (batch_id, _), start in zip(page.batches, range(0, len(eligible), delivery.BATCH_SIZE), strict=True):
                    self.docs[batch_id] = {m.id: m.doc for m in eligible[start : start + delivery.BATCH_SIZE]}
                self.cursor, self.planned = page.cursor, bool(page.done)
                for batch_id, _ in page.batches:
                    await planned.put(batch_id)
        except Exception as exc:  # the pass ends either way; the run learns why after
            failure = exc
        # Pages still being written when the pass ends early are never handed out: the run
        # is stopping, and finishing it cancels their batches in the store.
        for _, _, write in writing:
            with contextlib.suppress(Exception):
                await write
        await planned.put(None)
        if failure is not None:
            raise failure

    def _decide_page(
        self, context: Context, after: str | None
    ) -> tuple[PlannedPage, list[audience.Member], dict[str, int]]:
        """Read the page after ``after`` and decide each endpoint: skipped with a record, or
        eligible, in batches. A page whose ``done`` is None was not read (the run halts)."""
        key = self.key
        with self.db.read() as conn:
            status = runs.campaign_status(conn, key.app_id, key.campaign_id)
        if status in (None, "DELETED", "PAUSED"):
            self.halt(status or "DELETED")
            return PlannedPage(after, None), [], {}
        members, cursor = context.reader.page(after, PAGE_SIZE)
        now = datetime.now(UTC)
        stamp = format_date(now)
        page = PlannedPage(cursor=cursor, done=cursor is None, created=stamp)
        counts: Counter[str] = Counter()
        if context.schedule.get("IsLocalTime"):
            members = self._due_locally(context, members, page, now, counts)
        channel = context.plan.channel
        assert channel is not None
        treatment = self.row.treatment_id
        eligible: list[audience.Member] = []
        for member in members:
            counts["ENDPOINT_PRODUCED"] += 1
            if member.opt_out == "ALL":
                counts["ENDPOINT_OPT_OUT"] += 1
            elif member.endpoint_status == "INACTIVE":
                counts["ENDPOINT_INACTIVE"] += 1
            elif member.channel_type not in channel.endpoint_types:
                counts["ENDPOINT_CHANNEL_MISMATCH"] += 1
            else:
                arm = context.arms[member.cohort_id]
                if arm is None:
                    if treatment == "0":  # the holdout is recorded once per run
                        page.records.append(self._record(member.id, member.doc, "HOLDOUT", stamp))
                        counts["HOLDOUT"] += 1
                elif arm != treatment:
                    counts["TREATMENT_HOLDOUT"] += 1
                else:
                    eligible.append(member)
        eligible = self._apply_limits(context, eligible, page, now, stamp, counts)
        for start in range(0, len(eligible), delivery.BATCH_SIZE):
            chunk = eligible[start : start + delivery.BATCH_SIZE]
            page.batches.append((random_uuid(), [m.id for m in chunk]))
        return page, eligible, self._count(counts)

    def _count(self, counts: Counter[str] | dict[str, int], **absolute: int) -> dict[str, int]:
        """Add to the activity's metrics (planning runs in a worker thread, delivery on the
        event loop); returns a snapshot to store."""
        with self.metrics_lock:
            self.metrics.update(counts)
            for name, value in absolute.items():
                self.metrics[name] = value
            return dict(self.metrics)

    def _due_locally(
        self, context: Context, members: list[audience.Member], page: PlannedPage, now: datetime, counts: Counter[str]
    ) -> list[audience.Member]:
        """The members whose local send time falls in this wave; notes the next wave's time."""
        if self.wave_until is None:
            self.wave_until = format_date(now)
        page.wave_until = self.wave_until
        first_pass = self.wave_from is None
        lower = context.first_from if first_pass else parse_date(self.wave_from)
        upper = parse_date(self.wave_until)
        assert lower is not None and upper is not None
        next_wave = parse_date(self.next_wave_at) if self.next_wave_at else None
        due = []
        for member in members:
            zone = (orjson.loads(member.doc).get("Demographic") or {}).get("Timezone")
            send_at = schedules.local_send_time(context.schedule, context.run_at, zone)
            if send_at is None:
                if first_pass:
                    counts["ENDPOINT_MISSING_TIMEZONE"] += 1
                continue
            if send_at <= lower:
                if send_at <= context.first_from:
                    counts["ENDPOINT_TIMEZONE_MISMATCH"] += first_pass
                else:
                    self.zones.setdefault(zone, True)  # sent in an earlier wave
                continue
            self.zones[zone] = self.zones.get(zone, True) and send_at <= upper
            if send_at > upper:
                next_wave = send_at if next_wave is None else min(next_wave, send_at)
                continue
            due.append(member)
        self.next_wave_at = None if next_wave is None else format_date(next_wave)
        page.next_wave_at = self.next_wave_at
        self._count({}, TimezonesTotalCount=len(self.zones), TimezonesCompletedCount=sum(self.zones.values()))
        if page.done:
            self.zones = {}
        if not first_pass and due:
            # An endpoint whose time zone changed since an earlier wave may fall due again.
            with self.db.read() as conn:
                sent = sends.recorded(conn, self.key.app_id, self.key.id, [m.id for m in due])
            due = [m for m in due if m.id not in sent]
        return due

    def _apply_limits(
        self,
        context: Context,
        members: list[audience.Member],
        page: PlannedPage,
        now: datetime,
        stamp: str,
        counts: Counter[str],
    ) -> list[audience.Member]:
        """Skip what the run's deadline, the caps and quiet time rule out, with a record each."""
        if not members:
            return members
        if context.deadline is not None and now > context.deadline:
            for member in members:
                page.records.append(self._record(member.id, member.doc, "EXPIRED", stamp))
            counts["EXPIRED"] += len(members)
            return []
        limits, key = context.limits, self.key
        caps: list[tuple[str, dict[str, int], int]] = []
        if limits.get("Total") or limits.get("Daily"):
            ids = [m.id for m in members]
            with self.db.read() as conn:
                if limits.get("Total"):
                    sent = sends.send_counts(conn, key.app_id, ids, TARGETED, campaign_id=key.campaign_id)
                    caps.append(("CAMPAIGN_CAP", sent, limits["Total"]))
                if limits.get("Daily"):
                    # The campaign's Daily counts its own sends; the app's counts every campaign's.
                    scope = key.campaign_id if (context.campaign.get("Limits") or {}).get("Daily") else None
                    since = format_date(now - timedelta(days=1))
                    sent = sends.send_counts(conn, key.app_id, ids, TARGETED, campaign_id=scope, since=since)
                    caps.append(("DAILY_CAP", sent, limits["Daily"]))
        kept = []
        for member in members:
            status = next((name for name, sent, cap in caps if sent.get(member.id, 0) >= cap), None)
            if status is None and context.quiet_time is not None:
                zone = (orjson.loads(member.doc).get("Demographic") or {}).get("Timezone")
                if schedules.in_quiet_time(context.quiet_time, zone, now):
                    status = "QUIET_TIME"
            if status is None:
                kept.append(member)
            else:
                page.records.append(self._record(member.id, member.doc, status, stamp))
                counts[status] += 1
        return kept

    def _record(
        self, endpoint_id: str, doc: str | dict, status: str, at: str, reason: str | None = None, batch_id: str | None = None
    ) -> tuple:
        """One endpoint's send record, with the endpoint as it was."""
        key = self.key
        text = doc if isinstance(doc, str) else orjson.dumps(doc).decode()
        return sends.endpoint_record(
            key.app_id, key.campaign_id, key.id, self.row.treatment_id, status, at, endpoint_id, text, reason, batch_id
        )

    # --- delivering -----------------------------------------------------------------------

    def _payload(self, context: Context, batch_id: str, docs: dict[str, str | dict]) -> bytes:
        return delivery.payload(
            message=context.plan.message,
            app_id=self.key.app_id,
            campaign_id=self.key.campaign_id,
            treatment_id=self.row.treatment_id,
            activity_id=self.key.id,
            scheduled_time=self.row.scheduled_start,
            endpoints=docs,
            idempotency_key=batch_id,
        )

    async def _with_retries(self, attempt) -> tuple[Attempt, bytes]:
        tries = max(1, self.settings.delivery_attempts)
        for number in range(tries):
            outcome, answer = await attempt()
            if outcome.ok or not outcome.retryable or number == tries - 1:
                return outcome, answer
            delay = self.settings.retry_base_delay_s * 2**number
            await asyncio.sleep(delay * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def _deliver(self, context: Context, batch_id: str) -> tuple[Settlement, dict[str, int]]:
        """Hand a batch to the channel (after its FILTER hook); what to settle it with."""
        docs = self.docs[batch_id]
        if context.deadline is not None and datetime.now(UTC) > context.deadline:
            return self._expire(batch_id, docs)
        timeout = self.settings.attempt_timeout_s
        channel = context.plan.channel
        assert channel is not None
        kept: dict[str, str | dict] = dict(docs)
        hook_failure: str | None = None
        if context.filter_function is not None and docs:
            record = context.filter_function
            body = self._payload(context, batch_id, docs)
            outcome, answer = await self._with_retries(lambda: self.services.functions.call(record, body, timeout))
            if outcome.ok:
                try:
                    kept = dict(delivery.filter_result(answer, set(docs)))
                except ValueError as exc:
                    hook_failure = str(exc)
            else:
                hook_failure = outcome.reason
        status, reason = "SUCCESS", None
        if hook_failure is not None:
            status, reason = "HOOK_FAILURE", hook_failure
            kept = dict(docs)
        elif kept:
            body = self._payload(context, batch_id, kept)
            if channel.kind == "webhook":
                signing = await self._signing_secrets(context)
                # Signed at each attempt: its webhook-timestamp is when it was sent.
                outcome, _ = await self._with_retries(
                    lambda: self._post(channel.target, body, delivery_headers(signing, body, batch_id), timeout)
                )
            else:
                assert context.function is not None
                function = context.function
                outcome, _ = await self._with_retries(lambda: self.services.functions.call(function, body, timeout))
            if not outcome.ok:
                status, reason = "CUSTOM_DELIVERY_FAILURE", outcome.reason
        filtered = len(docs) - len(kept) if hook_failure is None else 0
        stamp = now_iso()
        if status == "SUCCESS" and kept:  # one record for the batch: successes are many and alike
            key = self.key
            records = [
                sends.batch_record(key.app_id, key.campaign_id, key.id, self.row.treatment_id, status, stamp, batch_id, list(kept))
            ]  # fmt: skip
        else:
            records = [self._record(i, doc, status, stamp, reason, batch_id) for i, doc in kept.items()]
        succeeded = len(kept) if status == "SUCCESS" else 0
        failed = len(kept) - succeeded
        counts = {"HOOK_FILTERED": filtered} if filtered else {}
        dropped = filtered + self.missing.pop(batch_id, 0)
        self.docs.pop(batch_id, None)
        if failed and not succeeded:
            self.consecutive_failures += 1
            log.warning("campaign %s batch %s failed: %s", self.key.campaign_id, batch_id, reason)
            if self.consecutive_failures >= self.settings.max_consecutive_failed_batches and self.stop is None:
                self.stop = Stop(
                    "PAUSED",
                    f"{self.consecutive_failures} batches in a row failed, so the campaign was paused; "
                    f"the last failure: {reason}. Fix the channel, then resume with UpdateCampaign IsPaused=false",
                    campaign_status="PAUSED",
                )
        elif kept:
            self.consecutive_failures = 0
        settlement = Settlement(
            self.key, batch_id, records, succeeded=succeeded, failed=failed, dropped=dropped, metrics=counts
        )
        return settlement, counts

    async def _settle(self, settlement: Settlement, counts: dict[str, int]) -> None:
        """Write a delivered batch's outcome; its counts are ours only if this closed it."""
        if await self.services.writer.settle(settlement):
            self._count(counts)

    def _expire(self, batch_id: str, docs: dict[str, str | dict]) -> tuple[Settlement, dict[str, int]]:
        """MaximumDuration has passed: the batch is not sent; its endpoints are EXPIRED."""
        stamp = now_iso()
        reason = "the campaign's MaximumDuration had passed"
        records = [self._record(i, doc, "EXPIRED", stamp, reason, batch_id) for i, doc in docs.items()]
        counts = {"EXPIRED": len(records)}
        dropped = len(records) + self.missing.pop(batch_id, 0)
        self.docs.pop(batch_id, None)
        return Settlement(self.key, batch_id, records, dropped=dropped, metrics=counts), counts

    async def _signing_secrets(self, context: Context) -> list[str]:
        """The secrets that sign a delivery now, read again when SIGNING_SECRETS_REFRESH_S old."""
        if time.monotonic() - context.signing_read_at >= SIGNING_SECRETS_REFRESH_S:
            context.signing_read_at = time.monotonic()  # batches meanwhile use what is known
            context.signing = await asyncio.to_thread(self._read_signing_secrets)
        assert context.signing is not None
        return context.signing.signing_at(datetime.now(UTC))

    def _read_signing_secrets(self) -> secrets.SigningSecrets:
        return self.db.transact(lambda conn: secrets.signing_secrets(conn, self.services.sealer, self.key.app_id))

    async def _post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[Attempt, bytes]:
        return await self.services.webhooks.post(url, body, headers, timeout), b""

    def _finish(self, state: str, result: str | None, message: str | None, campaign_status: str | None) -> None:
        """End the activity; without a ``result``, it failed when nothing it handed over succeeded."""
        metrics = self._count({})
        status = self.db.transact(
            lambda conn: runs.finish(
                conn,
                self.key,
                self.services.owner,
                state=state,
                result=result,
                end=now_iso(),
                metrics=metrics,
                message=message,
                campaign_status=campaign_status,
            )
        )
        if message:
            log.warning("campaign %s activity %s %s: %s", self.key.campaign_id, self.key.id, state, message)
        if status:
            log.info("campaign %s is now %s", self.key.campaign_id, status)
