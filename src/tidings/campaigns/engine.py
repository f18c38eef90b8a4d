"""The campaign engine inside ``tidings serve``: a loop that starts due runs and runs
activities.

Each tick (half a second) it

- starts the runs of due campaigns: one activity per treatment, the campaign EXECUTING and
  its following run planned, in one transaction (on PostgreSQL due rows are taken with
  SKIP LOCKED, so several servers can share a store);
- claims activities nobody holds, leasing them to this server, and runs each in a task;
- renews the leases of the activities it runs. A server that dies stops renewing and its
  activities are taken over when their leases expire; on SQLite, where a store has one
  server, they are taken over as soon as it starts again.

Once an hour (and soon after it starts) it removes the send records older than
--send-records-retention-days, a few thousand rows per transaction so runs never wait long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

from tidings.campaigns.activity import ActivityRun, RunServices
from tidings.campaigns.writer import RunWriter
from tidings.channels.function import FunctionChannel
from tidings.channels.webhook import WebhookSender
from tidings.config import Settings
from tidings.domain import delivery, schedules
from tidings.domain.common import format_date, parse_date
from tidings.functions.service import FunctionService
from tidings.store import campaigns, runs, sends
from tidings.store.db import Database
from tidings.store.sealing import Sealer

log = logging.getLogger("tidings.campaigns")

TICK_S = 0.5
LEASE_S = 15.0
RETRY_AFTER_S = 5.0
PRUNE_EVERY_S = 3600.0
PRUNE_FIRST_AFTER_S = 30.0
PRUNE_ROWS = 5000  # rows removed per transaction


class CampaignEngine:
    def __init__(self, db: Database, settings: Settings, functions: FunctionService, sealer: Sealer) -> None:
        self.db = db
        self.settings = settings
        self.sealer = sealer  # opens the apps' webhook signing secrets
        self.owner = str(uuid.uuid4())
        self.function_channel = FunctionChannel(functions, settings)
        self.webhooks = WebhookSender(
            allow_loopback=settings.allow_http_loopback, quote_error_bodies=settings.webhook_error_bodies
        )
        self.writer = RunWriter(db)
        self.services = RunServices(
            db, settings, self.owner, self.function_channel, self.webhooks, self.writer, sealer
        )
        self.running: dict[str, asyncio.Task] = {}
        self.activities: dict[str, ActivityRun] = {}
        self._loop_task: asyncio.Task | None = None
        self._renew_task: asyncio.Task | None = None
        self._prune_task: asyncio.Task | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self.db.is_sqlite:
            self.db.transact(lambda conn: runs.release_all(conn))
        self._event_loop = asyncio.get_running_loop()
        self.writer.start()
        self._loop_task = self._event_loop.create_task(self._loop())
        self._renew_task = self._event_loop.create_task(self._renew_leases())
        self._prune_task = self._event_loop.create_task(self._prune_send_records())

    def wake(self) -> None:
        """Look for due campaigns now rather than at the next tick (callable from any thread)."""
        if self._event_loop is not None and not self._event_loop.is_closed():
            self._event_loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        engine_tasks = (self._loop_task, self._renew_task, self._prune_task, *self.running.values())
        tasks = [t for t in engine_tasks if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.writer.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.db.transact, lambda conn: runs.release_all(conn, self.owner))
        await self.webhooks.close()

    async def _loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.start_due_runs)
                for row in await asyncio.to_thread(self._claim):
                    task = asyncio.create_task(self._run(row))
                    self.running[row.id] = task
                if self.running:
                    await asyncio.to_thread(self._notice_pauses)
            except Exception:
                log.exception("the campaign loop failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            self._wake.clear()

    def start_due_runs(self) -> int:
        now = datetime.now(UTC)

        def work(conn) -> int:
            due = runs.due_campaigns(conn, format_date(now))
            for row in due:
                doc, _ = campaigns.get(conn, row.app_id, row.id)
                schedule = doc["Schedule"]
                # next_run_at is when the run starts; a local-time run starts ahead of its instant.
                lead = schedules.local_lead(schedule)
                run_at = (parse_date(row.next_run_at) or now) + lead
                # An IMMEDIATE series is anchored at the campaign's creation, so it does not drift.
                anchor = parse_date(doc["CreationDate"]) if schedule["StartTime"] == "IMMEDIATE" else None
                following = schedules.next_run(schedule, max(run_at, now), first_run_at=anchor)
                runs.start_run(
                    conn,
                    row,
                    delivery.treatment_ids(doc),
                    format_date(run_at),
                    None if following is None else format_date(following - lead),
                )
                log.info("campaign %s: run scheduled for %s started", row.id, row.next_run_at)
            return len(due)

        return self.db.transact(work)

    async def _renew_leases(self) -> None:
        """Its own task, so that nothing else the engine does can hold up a renewal. An
        activity whose lease another server took (this one stalled past LEASE_S) stops."""
        while True:
            await asyncio.sleep(LEASE_S / 5)
            current = dict(self.activities)
            if not current:
                continue
            until = time.time() + LEASE_S
            try:
                kept = await asyncio.to_thread(
                    self.db.transact, lambda conn, ids=list(current), until=until: runs.renew(conn, self.owner, ids, until)
                )
            except Exception:
                log.exception("renewing activity leases failed; trying again")
                continue
            for activity_id, activity in current.items():
                if activity_id not in kept and activity_id in self.activities:
                    activity.lose_lease()

    async def _prune_send_records(self) -> None:
        await asyncio.sleep(PRUNE_FIRST_AFTER_S)
        while True:
            try:
                removed = await asyncio.to_thread(self.prune_send_records)
                if removed:
                    days = self.settings.send_records_retention_days
                    log.info("removed %d send records older than %d days", removed, days)
            except Exception:
                log.exception("removing old send records failed; trying again later")
            await asyncio.sleep(PRUNE_EVERY_S)

    def prune_send_records(self) -> int:
        """Remove the send records older than the retention; returns how many went."""
        before = format_date(datetime.now(UTC) - timedelta(days=self.settings.send_records_retention_days))
        total = 0
        while True:
            started = time.monotonic()
            removed = self.db.transact(lambda conn: sends.prune(conn, before, PRUNE_ROWS))
            total += removed
            if removed < PRUNE_ROWS:
                return total
            # As long again between chunks: runs' writes get the store's write lock in between.
            time.sleep(time.monotonic() - started)

    def _notice_pauses(self) -> None:
        """Paused or deleted campaigns stop sending now, not at the end of a page."""
        current = list(self.activities.values())
        with self.db.read() as conn:
            statuses = runs.campaign_statuses(conn, list({a.key.campaign_id for a in current}))
        for activity in current:
            status = statuses.get(activity.key.campaign_id, "DELETED")
            if status in ("PAUSED", "DELETED"):
                activity.halt(status)

    def _claim(self) -> list:
        room = max(0, 64 - len(self.running))
        if not room:
            return []
        now = time.time()
        rows = self.db.transact(lambda conn: runs.claim(conn, self.owner, now, LEASE_S, room))
        return [row for row in rows if row.id not in self.running]

    async def _run(self, row) -> None:
        activity = self.activities[row.id] = ActivityRun(self.services, row)
        try:
            await activity.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Taken up again from its checkpoint after a pause, so a lasting fault (a store
            # outage) does not spin.
            log.exception("activity %s of campaign %s failed; resuming it shortly", row.id, row.campaign_id)
            self.running.pop(row.id, None)
            await asyncio.sleep(RETRY_AFTER_S)
            await asyncio.to_thread(self.db.transact, lambda conn: runs.release(conn, self.owner, row.id))
        finally:
            self.running.pop(row.id, None)
            self.activities.pop(row.id, None)
