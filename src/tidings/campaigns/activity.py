"""Running one activity (one treatment of one campaign run), as a coordinator that plans
and delivers in checkpointed steps.

Planning walks the segment in keyset pages from the activity's checkpoint. For each page it
decides every endpoint (skipped with a reason, or put in a batch of at most 50) and writes
the batches, the skip records and the new checkpoint in one transaction: next to the store,
in the run writer's helper (``tidings.campaigns.planner``), which sends back the batches
with their payloads. Delivering a batch runs the FILTER hook (if any), hands the batch to the
channel with retries, and settles it (records, counters, ``done``) in one transaction. After
a crash, batches still ``queued`` are delivered again with the same idempotency key, and
planning goes on from the checkpoint; a batch settled before the crash is never sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tidings.campaigns import planner
from tidings.campaigns.planner import PlannedBatch, PlanSpec, PlanStep
from tidings.channels import Attempt
from tidings.channels.webhook import delivery_headers
from tidings.domain import delivery, schedules
from tidings.domain.common import format_date, now_iso, parse_date
from tidings.domain.errors import NotFound
from tidings.store import apps, audience, campaigns, endpoints, runs, secrets, sends
from tidings.store.runs import ActivityKey, Settlement

if TYPE_CHECKING:
    from tidings.campaigns.writer import RunWriter
    from tidings.channels.function import FunctionChannel
    from tidings.channels.webhook import WebhookSender
    from tidings.config import Settings
    from tidings.store.db import Database
    from tidings.store.functions import FunctionRecord
    from tidings.store.sealing import Sealer

log = logging.getLogger("tidings.campaigns")

MAX_UNSETTLED = 256  # delivered batches waiting for their records to be written
FUNCTION_WINDOW_START = 2  # batches a run first hands a function at once (see Window)
WINDOW_PROBE_BATCHES = 4  # batches per slot delivered before the window's throughput is read
WINDOW_PROBE_S = 0.25  # and at least this long
WINDOW_GROWTH = 0.5  # one more slot stays only if it added half a slot's share of throughput
WINDOW_WARMUP_S = 1.0  # a run's first second (its environments starting) measures nothing
PLANNED_AHEAD = 80  # batches planned and written, waiting to be handed out
# A running activity reads its app's webhook signing secrets again after this many seconds,
# so that a rotation, and the end of its overlap, reach long runs too.
SIGNING_SECRETS_REFRESH_S = 30.0


@dataclass
class Context:
    campaign_arn: str
    plan: delivery.Plan
    spec: PlanSpec  # how pages are planned
    limits: dict
    deadline: datetime | None
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


class Window:
    """How many batches a run hands its channel at once. A webhook gets the limit at once
    (connections are cheap). A function's batches each take one of its environments, a
    process with its own memory, so a run starts with FUNCTION_WINDOW_START and adds one
    more only while the last one added earned its place: at size n, throughput must have
    risen by WINDOW_GROWTH of the share one slot had at size n - 1 (a function that waits on
    the network gains a whole share, one bound by the machine's CPUs next to nothing). A fast
    function keeps the few environments it needs, a slow one grows to the limit. Once a slot
    added brings nothing, the run gives it back and keeps that size."""

    def __init__(self, limit: int, start: int) -> None:
        self.limit = limit
        self.size = min(start, limit)
        self.rate: float | None = None  # endpoints/s measured at the size before this one
        self.settled = self.size >= limit
        self._restart()
        self.warm_at = self.since + WINDOW_WARMUP_S  # environments starting: not measured before

    def _restart(self) -> None:
        self.since, self.endpoints, self.batches = time.monotonic(), 0, 0

    def delivered(self, endpoints: int) -> None:
        if self.settled:
            return
        self.endpoints += endpoints
        self.batches += 1
        elapsed = time.monotonic() - self.since
        if self.batches < WINDOW_PROBE_BATCHES * self.size or elapsed < WINDOW_PROBE_S:
            return
        rate = self.endpoints / elapsed
        if self.since < self.warm_at:
            self._restart()
            return
        if self.rate is not None and rate < self.rate * (1 + WINDOW_GROWTH / (self.size - 1)):
            self.size -= 1  # the last slot brought nothing
            self.settled = True
            return
        self.rate = rate
        self.size += 1
        self.settled = self.size >= self.limit
        self._restart()


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
        self.missing: dict[str, int] = {}  # batch id -> endpoints deleted since it was planned
        self.consecutive_failures = 0
        self.stop: Stop | None = None
        self.batches: dict[str, PlannedBatch] = {}  # planned and not yet settled
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
        limit = max(1, self.settings.max_batches_in_flight)
        for record in (context.function, context.filter_function):
            if record is not None:
                reserved = record.reserved_concurrency
                limit = min(limit, self.settings.max_environments if reserved is None else max(1, reserved))
        uses_functions = context.function is not None or context.filter_function is not None
        window = Window(limit, start=FUNCTION_WINDOW_START if uses_functions else limit)
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
            size = len(self.batches[batch_id].endpoint_ids)
            settlement = await self._deliver(context, batch_id)
            window.delivered(size)
            track(asyncio.create_task(self.services.writer.settle(settlement)), settling)

        async def submit(batch_id: str) -> None:
            while len(in_flight) >= window.size or len(settling) >= MAX_UNSETTLED:
                await asyncio.wait(in_flight | settling, return_when=asyncio.FIRST_COMPLETED)
            if self.stop is not None:
                return
            await pacer.take(len(self.batches[batch_id].endpoint_ids))
            track(asyncio.create_task(deliver(batch_id)), in_flight)

        async def drain() -> None:
            while in_flight or settling:
                await asyncio.wait(in_flight | settling)

        planning: asyncio.Task | None = None
        try:
            for batch_id in await asyncio.to_thread(self._resume, context):
                await submit(batch_id)
            while self.stop is None and not faults:
                planned: asyncio.Queue[str | None] = asyncio.Queue(PLANNED_AHEAD)
                planning = asyncio.create_task(self._plan_pass(context, planned, faults))
                while (batch_id := await planned.get()) is not None:
                    if self.stop is None:
                        await submit(batch_id)
                await planning  # raises what stopped the planning
                planning = None
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
            if planning is not None:
                planning.cancel()
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
        channel = plan.channel
        assert channel is not None
        spec = PlanSpec(
            key=key,
            owner=self.services.owner,
            treatment_id=row.treatment_id,
            cond=cond,
            endpoint_types=channel.endpoint_types,
            arms=schedules.cohort_arms(
                doc.get("HoldoutPercent", 0), [t["SizePercent"] for t in doc.get("AdditionalTreatments") or []]
            ),
            limits=limits,
            campaign_daily=bool((doc.get("Limits") or {}).get("Daily")),
            quiet_time=schedules.effective_quiet_time(schedule, app_settings),
            deadline=deadline,
            schedule=schedule,
            run_at=run_at,
            first_from=first_from,
            message=plan.message,
            scheduled_time=row.scheduled_start,
        )
        context = Context(campaign_arn=doc["Arn"], plan=plan, spec=spec, limits=limits, deadline=deadline)
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

    def _resume(self, context: Context) -> list[str]:
        """Batches planned before a restart and not yet settled, with their endpoints now."""
        with self.db.read() as conn:
            queued = runs.queued_batches(conn, self.key)
            ids = [endpoint_id for row in queued for endpoint_id in row.endpoint_ids]
            docs = endpoints.get_many(conn, self.key.app_id, ids)
        for row in queued:
            present = {i: docs[i] for i in row.endpoint_ids if i in docs}
            self.batches[row.id] = PlannedBatch(row.id, list(present), planner.payload(context.spec, row.id, present))
            self.missing[row.id] = len(row.endpoint_ids) - len(present)
        if queued:
            log.info("activity %s: resuming %d unsettled batches", self.key.id, len(queued))
        return [row.id for row in queued]

    # --- planning -------------------------------------------------------------------------

    async def _plan_pass(self, context: Context, planned: asyncio.Queue[str | None], faults: list) -> None:
        """Plan pages from the checkpoint until the pass is done, putting their batches in
        ``planned`` (at most PLANNED_AHEAD ahead of the ones handed out), then None. Each page
        is planned and written by the run writer (next to the store); its batches are handed
        out only once it is written."""
        failure: Exception | None = None
        try:
            while not self.planned and self.stop is None and not faults:
                step = PlanStep(
                    context.spec, self.cursor, self.wave_from, self.wave_until, self.next_wave_at, self.zones
                )
                result = await self.services.writer.plan(step)
                if result.error:
                    raise RuntimeError(f"activity {self.key.id}: {result.error}")
                if result.halted:  # the campaign was paused or deleted
                    self.halt(result.halted)
                    break
                if not result.written:
                    self.stop = ActivityLeftToAnother("the campaign was deleted or another server took the activity over")
                    break
                self.cursor, self.planned, self.zones = result.cursor, result.done, result.zones
                if context.spec.schedule.get("IsLocalTime"):
                    self.wave_until, self.next_wave_at = result.wave_until, result.next_wave_at
                for batch in result.batches:
                    self.batches[batch.id] = batch
                for batch in result.batches:
                    await planned.put(batch.id)
        except Exception as exc:  # the pass ends either way; the run learns why after
            failure = exc
        await planned.put(None)
        if failure is not None:
            raise failure

    # --- delivering -----------------------------------------------------------------------

    async def _with_retries(self, attempt) -> tuple[Attempt, bytes]:
        tries = max(1, self.settings.delivery_attempts)
        for number in range(tries):
            outcome, answer = await attempt()
            if outcome.ok or not outcome.retryable or number == tries - 1:
                return outcome, answer
            delay = self.settings.retry_base_delay_s * 2**number
            await asyncio.sleep(delay * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def _deliver(self, context: Context, batch_id: str) -> Settlement:
        """Hand a batch to the channel (after its FILTER hook); what to settle it with."""
        batch = self.batches[batch_id]
        ids = batch.endpoint_ids
        if context.deadline is not None and datetime.now(UTC) > context.deadline:
            return await self._expire(context, batch)
        timeout = self.settings.attempt_timeout_s
        channel = context.plan.channel
        assert channel is not None
        body, kept = batch.payload, ids
        enriched: dict[str, dict] | None = None  # the endpoints as the FILTER hook returned them
        hook_failure: str | None = None
        if context.filter_function is not None and ids:
            record = context.filter_function
            outcome, answer = await self._with_retries(lambda: self.services.functions.call(record, body, timeout))
            if outcome.ok:
                try:
                    enriched = delivery.filter_result(answer, set(ids))
                    kept = list(enriched)
                except ValueError as exc:
                    hook_failure = str(exc)
            else:
                hook_failure = outcome.reason
        status, reason = "SUCCESS", None
        if hook_failure is not None:
            status, reason = "HOOK_FAILURE", hook_failure
        elif kept:
            if enriched is not None:
                body = planner.payload(context.spec, batch_id, dict(enriched))
            if channel.kind == "webhook":
                signing = await self._signing_secrets(context)
                # Signed at each attempt: its webhook-timestamp is when it was sent.
                sent = body
                outcome, _ = await self._with_retries(
                    lambda: self._post(channel.target, sent, delivery_headers(signing, sent, batch_id), timeout)
                )
            else:
                assert context.function is not None
                function, sent = context.function, body
                outcome, _ = await self._with_retries(lambda: self.services.functions.call(function, sent, timeout))
            if not outcome.ok:
                status, reason = "CUSTOM_DELIVERY_FAILURE", outcome.reason
        filtered = len(ids) - len(kept) if hook_failure is None else 0
        stamp = now_iso()
        if status == "SUCCESS":  # one record for the batch: successes are many and alike
            key = self.key
            records = [
                sends.batch_record(key.app_id, key.campaign_id, key.id, self.row.treatment_id, status, stamp, batch_id, kept)
            ] if kept else []  # fmt: skip
        else:
            docs = enriched if enriched is not None else await asyncio.to_thread(self._stored, kept)
            records = [planner.skip_record(context.spec, i, docs.get(i, {}), status, stamp, reason, batch_id) for i in kept]
        succeeded = len(kept) if status == "SUCCESS" else 0
        failed = len(kept) - succeeded
        counts = {"HOOK_FILTERED": filtered} if filtered else {}
        dropped = filtered + self.missing.pop(batch_id, 0)
        self.batches.pop(batch_id, None)
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
        return Settlement(
            self.key, batch_id, records, succeeded=succeeded, failed=failed, dropped=dropped, metrics=counts
        )

    def _stored(self, endpoint_ids: list[str]) -> dict[str, dict]:
        """The endpoints as stored now: what a failure's or a skip's record keeps.
        A batch carries only its payload, so they are read when an outcome needs them."""
        with self.db.read() as conn:
            return endpoints.get_many(conn, self.key.app_id, endpoint_ids)

    async def _expire(self, context: Context, batch: PlannedBatch) -> Settlement:
        """MaximumDuration has passed: the batch is not sent; its endpoints are EXPIRED."""
        stamp = now_iso()
        reason = "the campaign's MaximumDuration had passed"
        docs = await asyncio.to_thread(self._stored, batch.endpoint_ids)
        records = [
            planner.skip_record(context.spec, i, docs.get(i, {}), "EXPIRED", stamp, reason, batch.id)
            for i in batch.endpoint_ids
        ]
        counts = {"EXPIRED": len(records)}
        dropped = len(records) + self.missing.pop(batch.id, 0)
        self.batches.pop(batch.id, None)
        return Settlement(self.key, batch.id, records, dropped=dropped, metrics=counts)

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
        status = self.db.transact(
            lambda conn: runs.finish(
                conn,
                self.key,
                self.services.owner,
                state=state,
                result=result,
                end=now_iso(),
                message=message,
                campaign_status=campaign_status,
            )
        )
        if message:
            log.warning("campaign %s activity %s %s: %s", self.key.campaign_id, self.key.id, state, message)
        if status:
            log.info("campaign %s is now %s", self.key.campaign_id, status)
