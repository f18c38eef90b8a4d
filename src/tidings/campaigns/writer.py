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
Steps travel pickled as plain data (``planner.PlanStep``, ``runs.Settlement``) over the
helper's stdin; planned batches come back with their payloads on its stdout. The helper is
a plain child process (``python -m tidings.campaigns.writer``), not a multiprocessing pool:
it imports only the planner and the store, and needs no resource-tracker process beside it.
Should the helper die, the groups it had fail like any store fault (the runs stop and are
taken up again from the store) and the next group starts a new helper; should the server
die, the helper ends too. An in-memory SQLite store, which another process cannot open, is
planned and written by one worker thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import struct
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
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
        self.thread: ThreadPoolExecutor | None = None  # an in-memory store's writer
        self.helper: HelperProcess | None = None
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
        if self.thread is not None:
            await asyncio.to_thread(self.thread.shutdown, True, cancel_futures=True)
            self.thread = None
        if self.helper is not None:
            await self.helper.stop()
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
        if self.in_process:
            if self.thread is None:
                self.thread = ThreadPoolExecutor(1, thread_name_prefix="tidings-run-writer")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.thread, plan_and_write, self.db, pages, settlements)
        if self.helper is None or not self.helper.alive:
            self.helper = await HelperProcess.start(self.db.url)
        return await self.helper.call(pages, settlements)


class HelperGone(RuntimeError):
    """The helper process ended before answering: its groups were not (all) written."""


_FRAME = struct.Struct(">I")  # a pickled message's length


class HelperProcess:
    """The server's side of the helper: groups go in order, their answers come back in order."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pending: deque[asyncio.Future] = deque()
        self.alive = True
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, url: str) -> HelperProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tidings.campaigns.writer", str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        helper = cls(process)
        await helper._send(url)  # not on the command line, where `ps` would show a password
        return helper

    async def call(self, pages: list[PlanStep], settlements: list[Settlement]) -> tuple[list[PlanResult], set[str]]:
        future = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        await self._send((pages, settlements))
        return await future

    async def _send(self, message: object) -> None:
        assert self.process.stdin is not None
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.process.stdin.write(_FRAME.pack(len(data)) + data)
            await self.process.stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            self._gone()
            raise HelperGone("the run writer's helper process ended") from exc

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                (size,) = _FRAME.unpack(await stdout.readexactly(_FRAME.size))
                ok, value = pickle.loads(await stdout.readexactly(size))
                future = self.pending.popleft()
                if not future.done():
                    future.set_result(value) if ok else future.set_exception(value)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._gone()

    def _gone(self) -> None:
        self.alive = False
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(HelperGone("the run writer's helper process ended before answering"))

    async def stop(self) -> None:
        self.alive = False
        if self.process.stdin is not None:
            self.process.stdin.close()  # the helper ends at the end of its input
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader


def _follow_parent(parent: int) -> None:
    """In the helper: end when the server ends, however it ends (SIGKILL included), rather
    than linger holding a connection. A transaction it was writing is rolled back."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="tidings-follow-parent", daemon=True).start()


def _serve(parent: int) -> None:
    """The helper process: plan and write each group read from stdin, answer on stdout."""
    _follow_parent(parent)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to the server's stderr, never into the answers
    requests = sys.stdin.buffer

    def read() -> object | None:
        header = requests.read(_FRAME.size)
        if len(header) < _FRAME.size:
            return None  # the server closed our input: stop
        return pickle.loads(requests.read(_FRAME.unpack(header)[0]))

    url = read()
    if not isinstance(url, str):
        return
    db = Database(url)
    while (group := read()) is not None:
        pages, settlements = group  # type: ignore[misc]
        try:
            answer: tuple[bool, object] = (True, plan_and_write(db, pages, settlements))
        except Exception as exc:
            answer = (False, exc)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exception that does not pickle: its text does
            data = pickle.dumps((False, RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}")))
        answers.write(_FRAME.pack(len(data)) + data)
        answers.flush()


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


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
