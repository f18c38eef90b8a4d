"""Group commit for the writes of campaign runs.

Every step of a run is written before the run goes on: a planned page (its batches with the
checkpoint that produced them) before its batches are handed out, a delivered batch (its
delivery records, its activity's counters, its ``done`` mark) before it counts as settled.
One transaction per step made commits, and waits for SQLite's single write lock, the most
expensive part of a run. So the steps that arrive while a transaction is being written wait
and go together into the next one, written by one task, in arrival order. A caller gets its
answer only once its step is committed, so nothing is counted or acknowledged that a crash
could still lose.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import Connection

from tidings.store import runs
from tidings.store.db import Database
from tidings.store.runs import Settlement

MAX_GROUP = 256  # steps per transaction; bounds the transaction's size and the wait


class RunWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.waiting: list[tuple[Settlement | Callable[[Connection], Any], asyncio.Future]] = []
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._write())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        for _, future in self.waiting:
            future.cancel()
        self.waiting.clear()

    async def settle(self, settlement: Settlement) -> bool:
        """Record a delivered batch; True when this call closed it (False: it was closed before)."""
        return await self._enqueue(settlement)

    async def write(self, step: Callable[[Connection], Any]) -> Any:
        """Run ``step`` in the next group's transaction; its result once committed."""
        return await self._enqueue(step)

    async def _enqueue(self, item: Settlement | Callable[[Connection], Any]) -> Any:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        self.ready.set()
        return await future

    async def _write(self) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.waiting:
                group, self.waiting = self.waiting[:MAX_GROUP], self.waiting[MAX_GROUP:]
                settlements = [item for item, _ in group if isinstance(item, Settlement)]
                steps = [item for item, _ in group if not isinstance(item, Settlement)]
                try:
                    results, closed = await asyncio.to_thread(self.db.transact, partial(_group, steps, settlements))
                except Exception as exc:  # the whole group is rolled back; each caller learns why
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                answers = iter(results)
                for item, future in group:
                    answer = item.batch_id in closed if isinstance(item, Settlement) else next(answers)
                    if not future.done():
                        future.set_result(answer)


def _group(steps: list[Callable[[Connection], Any]], settlements: list[Settlement], conn: Connection) -> tuple[list, set[str]]:
    """One group's transaction: the steps in arrival order, then the settled batches."""
    return [step(conn) for step in steps], runs.settle(conn, settlements)
