"""Import and export jobs inside ``tidings serve``: a loop that leases waiting jobs and runs
each in a worker thread.

A job's progress lives in the store (see ``tidings.jobs.importer``), so nothing here needs to
survive a crash: a job whose server died is taken up again from its checkpoint when its
lease expires, or at once when a SQLite store's one server starts again. On shutdown the
running jobs stop after their current chunk and give their leases back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from tidings.config import Settings
from tidings.domain import arns
from tidings.domain.imports import ItemCheck
from tidings.jobs.exporter import ExportRun
from tidings.jobs.importer import ImportRun
from tidings.store import jobs
from tidings.store.db import Database

log = logging.getLogger("tidings.jobs")

TICK_S = 1.0
LEASE_S = 30.0
MAX_RUNNING = 2  # jobs at once: on SQLite they share one writer anyway
STOP_WAIT_S = 15.0


class JobService:
    def __init__(self, db: Database, settings: Settings, *, check: ItemCheck, shape: Any) -> None:
        self.db = db
        self.settings = settings
        self.check = check
        self.shape = shape
        self.owner = str(uuid.uuid4())
        self.stopping = threading.Event()
        self.running: dict[tuple[str, str], asyncio.Task] = {}
        self._loop_task: asyncio.Task | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self.db.is_sqlite:
            self.db.transact(lambda conn: jobs.release_all(conn))
        self._event_loop = asyncio.get_running_loop()
        self._loop_task = self._event_loop.create_task(self._loop())

    def wake(self) -> None:
        """Look for new jobs now rather than at the next tick (callable from any thread)."""
        if self._event_loop is not None and not self._event_loop.is_closed():
            self._event_loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        self.stopping.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self.running:
            # Worker threads cannot be cancelled; they stop at their next chunk boundary.
            await asyncio.wait(list(self.running.values()), timeout=STOP_WAIT_S)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.db.transact, lambda conn: jobs.release_all(conn, self.owner))

    async def _loop(self) -> None:
        renewed = time.monotonic()
        while True:
            try:
                room = MAX_RUNNING - len(self.running)
                if room > 0:
                    claim = partial(jobs.claim, owner=self.owner, now=time.time(), lease_s=LEASE_S, limit=room)
                    claimed = await asyncio.to_thread(self.db.transact, claim)
                    for row in claimed:
                        key = (row.app_id, row.id)
                        if key not in self.running:
                            self.running[key] = asyncio.create_task(self._run(row))
                if self.running and time.monotonic() - renewed > LEASE_S / 3:
                    # Chunks renew the lease too; this covers a slow source between chunks.
                    renew = partial(jobs.renew, owner=self.owner, keys=list(self.running), until=time.time() + LEASE_S)
                    await asyncio.to_thread(self.db.transact, renew)
                    renewed = time.monotonic()
            except Exception:
                log.exception("the job loop failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            self._wake.clear()

    async def _run(self, row: Any) -> None:
        key = (row.app_id, row.id)
        try:
            await asyncio.to_thread(self._runner(row))
        except Exception:
            # The job keeps its checkpoint; its lease runs out and it is taken up again.
            log.exception("%s job %s of application %s failed; it resumes from its checkpoint",
                          row.type.lower(), row.id, row.app_id)  # fmt: skip
        finally:
            self.running.pop(key, None)
            self.wake()

    def _runner(self, row: Any) -> Callable[[], None]:
        if row.type == "EXPORT":
            return ExportRun(
                self.db, row, owner=self.owner, lease_s=LEASE_S, stopping=self.stopping,
                files_roots=self.settings.files_roots,
            ).run  # fmt: skip
        settings = self.settings

        def segment_arn(app_id: str, segment_id: str) -> str:
            return arns.child_arn(settings.region, settings.account_id, app_id, "segments", segment_id)

        return ImportRun(
            self.db,
            row,
            owner=self.owner,
            check=self.check,
            shape=self.shape,
            lease_s=LEASE_S,
            stopping=self.stopping,
            segment_arn=segment_arn,
            files_roots=settings.files_roots,
            allow_loopback=settings.allow_http_loopback,
        ).run
