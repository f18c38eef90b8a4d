"""Group commit for settled batches.

Every delivered batch must be recorded (its delivery records, its activity's counters, its
``done`` mark) before the run counts it as settled. One transaction per batch made the commit
the most expensive step of a run, so batches that finish while a transaction is being written
wait and go together into the next one. A caller gets its answer only once its batch is
committed, so nothing is counted or acknowledged that a crash could still lose.
"""

from __future__ import annotations

import asyncio
import contextlib

from tidings.store import runs
from tidings.store.db import Database
from tidings.store.runs import Settlement

MAX_GROUP = 256  # batches per transaction; bounds the transaction's size and the wait


class Settler:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.waiting: list[tuple[Settlement, asyncio.Future]] = []
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
        """Record a batch; True when this call closed it (False: it was closed before)."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((settlement, future))
        self.ready.set()
        return await future

    async def _write(self) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.waiting:
                group, self.waiting = self.waiting[:MAX_GROUP], self.waiting[MAX_GROUP:]
                settlements = [s for s, _ in group]
                try:
                    closed = await asyncio.to_thread(self.db.transact, lambda conn, s=settlements: runs.settle(conn, s))
                except Exception as exc:  # the whole group stays unsettled; each caller learns why
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for settlement, future in group:
                    if not future.done():
                        future.set_result(settlement.batch_id in closed)
