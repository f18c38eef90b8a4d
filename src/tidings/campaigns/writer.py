"""Planning and group commit for campaign runs, in a helper process next to the store.

Every step of a run is written before the run goes on: a planned page (its batches with the
checkpoint that produced them) before its batches are handed out, a delivered batch (its
send records, its activity's counters, its ``done`` mark) before it counts as settled.
One transaction per step made commits, and waits for SQLite's single write lock, the most
expensive part of a run. So the steps that arrive while a transaction is being written wait
and go together into the next one, in arrival order. A caller gets its answer only once its
step is committed, so nothing is counted or acknowledged that a crash could still lose.

The helper process also plans the pages it writes (``tidings.campaigns.planner``): it reads
the segment, decides every endpoint and builds the batches' payloads, so the server's
interpreter is left to the channels and the machine's other core does the store's work.
Steps travel as plain data (``planner.PlanStep``, ``runs.Settlement``); planned batches come
back with their payloads. Should the helper die, the group it had fails like any store
fault (the run stops and is taken up again from the store) and the next group starts a new
helper; should the server die, the helper ends too. An in-memory SQLite store, which another
process cannot open, is planned and written by one worker thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial

from tidings.campaigns import planner
from tidings.campaigns.planner import PlanResult, PlanStep
from tidings.store import runs
from tidings.store.db import Database
from tidings.store.runs import Settlement

MAX_GROUP_ENDPOINTS = 10_000  # endpoints settled per transaction; bounds its size and the wait
# Groups handed to the helper at once: it starts the next transaction as soon as one commits,
# instead of idling while the server answers the callers and gathers the next group. The
# helper has one worker, so groups commit in the order they were formed.
GROUPS_IN_FLIGHT = 2
PARENT_CHECK_S = 0.5  # how often the helper checks that the server is still there


class RunWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.waiting: list[tuple[PlanStep | Settlement, asyncio.Future]] = []
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.groups: set[asyncio.Task] = set()  # groups being committed
        self.helper: Executor | None = None
        self.in_process = db.is_sqlite and db.engine.url.database in (None, "", ":memory:")

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._write())

    async def stop(self) -> None:
        for task in (self.task, *self.groups):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for _, future in self.waiting:
            future.cancel()
        self.waiting.clear()
        if self.helper is not None:
            await asyncio.to_thread(self.helper.shutdown, True, cancel_futures=True)
            self.helper = None

    async def plan(self, step: PlanStep) -> PlanResult:
        """Plan and write a page; its ``written`` is False when it was fenced off (see
        ``runs.save_page``)."""
        return await self._enqueue(step)

    async def settle(self, settlement: Settlement) -> bool:
        """Record a delivered batch; True when this call closed it (False: it was closed before)."""
        return await self._enqueue(settlement)

    async def _enqueue(self, item: PlanStep | Settlement):
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        self.ready.set()
        return await future

    async def _write(self) -> None:
        groups = self.groups
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.waiting:
                if len(groups) >= GROUPS_IN_FLIGHT:
                    await asyncio.wait(groups, return_when=asyncio.FIRST_COMPLETED)
                    continue
                task = asyncio.create_task(self._commit(self._next_group()))
                groups.add(task)
                task.add_done_callback(groups.discard)

    async def _commit(self, group: list[tuple[PlanStep | Settlement, asyncio.Future]]) -> None:
        pages = [item for item, _ in group if isinstance(item, PlanStep)]
        settlements = [item for item, _ in group if isinstance(item, Settlement)]
        try:
            planned, closed = await self._transact(pages, settlements)
        except asyncio.CancelledError:  # the server is stopping
            for _, future in group:
                future.cancel()
            raise
        except Exception as exc:  # the whole group is rolled back; each caller learns why
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        results = iter(planned)
        for item, future in group:
            answer = item.batch_id in closed if isinstance(item, Settlement) else next(results)
            if not future.done():
                future.set_result(answer)

    def _next_group(self) -> list[tuple[PlanStep | Settlement, asyncio.Future]]:
        """Every page waiting to be planned (a run's batches wait for them), then settled
        batches up to MAX_GROUP_ENDPOINTS endpoints, so that a page never waits behind a long write."""
        group = [entry for entry in self.waiting if isinstance(entry[0], PlanStep)]
        settled = 0
        for entry in self.waiting:
            if isinstance(entry[0], Settlement) and (settled < MAX_GROUP_ENDPOINTS or not group):
                group.append(entry)
                settled += entry[0].endpoints
        taken = {id(entry) for entry in group}
        self.waiting = [entry for entry in self.waiting if id(entry) not in taken]
        return group

    async def _transact(self, pages: list[PlanStep], settlements: list[Settlement]) -> tuple[list[PlanResult], set[str]]:
        # One worker, so groups commit in the order they were formed.
        if self.helper is None:
            self.helper = (
                ThreadPoolExecutor(1, thread_name_prefix="tidings-run-writer")
                if self.in_process
                else ProcessPoolExecutor(
                    1, mp_context=multiprocessing.get_context("spawn"), initializer=_follow_parent, initargs=(os.getpid(),)
                )
            )
        loop = asyncio.get_running_loop()
        if self.in_process:
            return await loop.run_in_executor(self.helper, plan_and_write, self.db, pages, settlements)
        try:
            return await loop.run_in_executor(self.helper, _write_in_helper, self.db.url, pages, settlements)
        except BrokenProcessPool:
            self.helper = None
            raise


_helper_db: Database | None = None  # the helper process's store


def _follow_parent(parent: int) -> None:
    """In the helper: end when the server ends, however it ends (SIGKILL included), rather
    than linger holding a connection. A transaction it was writing is rolled back."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="tidings-follow-parent", daemon=True).start()


def _write_in_helper(url: str, pages: list[PlanStep], settlements: list[Settlement]) -> tuple[list[PlanResult], set[str]]:
    global _helper_db
    if _helper_db is None or _helper_db.url != url:
        _helper_db = Database(url)
    return plan_and_write(_helper_db, pages, settlements)


def plan_and_write(
    db: Database, pages: list[PlanStep], settlements: list[Settlement]
) -> tuple[list[PlanResult], set[str]]:
    """Plan the pages (each read in its own short transaction), then write them and the
    settled batches in one transaction. Returns each page's result and the batches closed."""
    planned = [_plan_one(db, step) for step in pages]
    writes = [write for write, _ in planned if write is not None]
    written, closed = db.transact(partial(runs.write_group, pages=writes, settlements=settlements))
    answers = iter(written)
    for write, result in planned:
        if write is not None:
            result.written = next(answers)
    return [result for _, result in planned], closed


def _plan_one(db: Database, step: PlanStep) -> tuple[runs.PageWrite | None, PlanResult]:
    """A page that cannot be planned fails its own run, not the steps grouped with it."""
    try:
        return planner.plan(db, step)
    except Exception as exc:
        return None, PlanResult(written=False, error=f"planning a page failed: {type(exc).__name__}: {exc}")
