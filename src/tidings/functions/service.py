"""The function runtime of a server: code on disk, warm pools, invocations, event queue.

Records live in the store; everything here is a cache of them (unpacked code, warm
environments) or a carrier of work (the event queue worker), so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import orjson

from tidings.config import Settings
from tidings.domain import functions as function_rules
from tidings.domain.common import now_iso
from tidings.domain.errors import InvalidInput, NotFound, TooLarge
from tidings.domain.functions import MAX_ASYNC_PAYLOAD, MAX_SYNC_PAYLOAD
from tidings.functions.code import unpack
from tidings.functions.environment import LOG_TAIL_BYTES, Spec
from tidings.functions.pool import Invocation, Pool
from tidings.functions.runtimes import command_for
from tidings.functions.sandbox import Sandbox
from tidings.store import functions as store
from tidings.store.db import Database
from tidings.store.functions import FunctionRecord

log = logging.getLogger("tidings.functions")

MAX_RESPONSE = 6 * 1024 * 1024
EVENT_ATTEMPTS = 3


def sha256_hex(b64_digest: str) -> str:
    return base64.b64decode(b64_digest).hex()


@dataclass
class Result:
    """An invocation's answer, as Invoke reports it."""

    payload: bytes
    function_error: str | None  # "Unhandled" when the function failed
    log_tail: str  # base64 of the last 4 KB of the log
    invocation: Invocation | None


class FunctionService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.data_dir = Path(settings.data_dir).resolve()
        self.pools: dict[str, Pool] = {}
        # One creator per function at a time: concurrent first invocations share one pool.
        self._pool_locks: dict[str, asyncio.Lock] = {}
        self._closing: set[asyncio.Task] = set()  # replaced pools draining their environments
        self.sandbox = Sandbox.create() if settings.function_sandbox else None
        self.wake_events = asyncio.Event()
        self._logs: dict[str, TextIO] = {}
        self._tasks: list[asyncio.Task] = []

    # --- records, code, pools ----------------------------------------------------------

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return function_rules.function_arn(self.settings.region, self.settings.account_id, name, qualifier)

    def load(self, name: str) -> FunctionRecord:
        with self.db.read() as conn:
            record = store.get(conn, name)
        if record is None:
            raise NotFound(f"Function not found: {self.arn(name)}")
        return record

    def code_dir(self, record: FunctionRecord) -> Path:
        target = self.data_dir / "code" / record.code_sha256
        if not target.exists():
            with self.db.read() as conn:
                archive = store.code(conn, record.code_sha256)
            if archive is None:
                raise NotFound(f"The code of function {record.name} is missing from the store")
            unpack(archive, target)
        return target

    @staticmethod
    def fingerprint(record: FunctionRecord) -> str:
        """Changes whenever code or configuration change (not with the policy)."""
        document = orjson.dumps([record.code_sha256, record.config], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(document).hexdigest()

    def spec(self, record: FunctionRecord) -> Spec:
        config = record.config
        return Spec(
            function_name=record.name,
            function_arn=self.arn(record.name),
            runtime=config["Runtime"],
            handler=config["Handler"],
            command=command_for(config["Runtime"]),
            code_dir=self.code_dir(record),
            timeout_s=config.get("Timeout", function_rules.DEFAULTS["Timeout"]),
            memory_mb=config.get("MemorySize", function_rules.DEFAULTS["MemorySize"]),
            variables=(config.get("Environment") or {}).get("Variables") or {},
            region=self.settings.region,
            revision=self.fingerprint(record),
            sandbox=self.sandbox,
        )

    async def pool(self, record: FunctionRecord) -> Pool:
        limit = record.reserved_concurrency
        limit = self.settings.max_environments if limit is None else limit
        revision = self.fingerprint(record)
        current = self.pools.get(record.name)
        if current is None or current.spec.revision != revision:
            async with self._pool_locks.setdefault(record.name, asyncio.Lock()):
                current = self.pools.get(record.name)  # another invocation may have made it meanwhile
                if current is None or current.spec.revision != revision:
                    current = await self._replace_pool(record, limit, current)
        current.limit = limit
        return current

    async def _replace_pool(self, record: FunctionRecord, limit: int, current: Pool | None) -> Pool:
        spec = await asyncio.to_thread(self.spec, record)  # may unpack code
        # New code or configuration: new invocations go to fresh environments, old ones drain.
        pool = Pool(spec, limit, self.data_dir / "environments")
        self.pools[record.name] = pool
        if current is not None:
            closing = asyncio.get_running_loop().create_task(current.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return pool

    async def forget(self, name: str) -> None:
        """Stop a deleted function's environments and close its log."""
        sink = self._logs.pop(name, None)
        if sink is not None:
            sink.close()
        self._pool_locks.pop(name, None)
        pool = self.pools.pop(name, None)
        if pool is not None:
            await pool.close()

    # --- invoking ------------------------------------------------------------------------

    async def invoke(
        self,
        name: str,
        payload: bytes,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
        wait: bool | None = None,
        record: FunctionRecord | None = None,
        timeout_s: float | None = None,
        trusted_payload: bool = False,
    ) -> Result:
        """Invoke synchronously. Without ``wait``, a function with reserved concurrency
        refuses (429) when all its environments are busy, and other functions wait.
        ``trusted_payload``: the caller built the payload as JSON itself (campaign runs), so
        it is not parsed again to check it."""
        record = record or await asyncio.to_thread(self.load, name)
        if len(payload) > MAX_SYNC_PAYLOAD:
            raise TooLarge(
                f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the InvokeFunction operation",
                code="RequestEntityTooLargeException",
            )
        if not trusted_payload:
            check_json(payload)
        pool = await self.pool(record)
        if wait is None:
            wait = record.reserved_concurrency is None
        request_id = request_id or str(uuid.uuid4())
        invocation = await pool.invoke(
            request_id, payload or b"{}", self.arn(name), client_context, wait=wait, timeout_s=timeout_s
        )
        self.write_log(name, invocation.log)
        body, error = invocation.payload, invocation.error
        if len(body) > MAX_RESPONSE:
            body = orjson.dumps(
                {
                    "errorMessage": f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            )
            error = True
        tail = base64.b64encode(invocation.log.encode()[-LOG_TAIL_BYTES:]).decode()
        return Result(body, "Unhandled" if error else None, tail, invocation)

    def write_log(self, name: str, text: str) -> None:
        """Append to the function's log; files stay open, as every invocation writes one."""
        sink = self._logs.get(name)
        if sink is None:
            folder = self.data_dir / "logs"
            folder.mkdir(parents=True, exist_ok=True)
            sink = self._logs[name] = open(folder / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115
        sink.write(text)
        sink.flush()

    def enqueue(self, name: str, payload: bytes) -> str:
        """Queue an Event invocation; it is retried twice after a function error."""
        if len(payload) > MAX_ASYNC_PAYLOAD:
            raise TooLarge(
                f"Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeFunction operation "
                "(Event invocations)",
                code="RequestEntityTooLargeException",
            )
        check_json(payload)
        event_id = str(uuid.uuid4())

        def work(conn):
            if store.get(conn, name) is None:
                raise NotFound(f"Function not found: {self.arn(name)}")
            store.enqueue(conn, event_id, name, payload or b"{}", time.time(), now_iso())

        self.db.transact(work)
        return event_id

    # --- background work ----------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._run_events()), loop.create_task(self._reap())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for name in list(self.pools):
            await self.forget(name)
        await asyncio.gather(*self._closing, return_exceptions=True)
        if self.sandbox is not None and self.sandbox.memory is not None:
            self.sandbox.memory.close()

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, self.settings.environment_idle_timeout_s))
            for pool in list(self.pools.values()):
                await pool.reap(self.settings.environment_idle_timeout_s)

    async def _run_events(self) -> None:
        running: set[asyncio.Task] = set()
        while True:
            try:
                due = await asyncio.to_thread(self._claim_due_events)
                for row in due:
                    task = asyncio.create_task(self._deliver_event(row))
                    running.add(task)
                    task.add_done_callback(running.discard)
            except Exception:
                log.exception("the event invocation queue failed; retrying")
            self.wake_events.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake_events.wait(), 0.5)

    def _claim_due_events(self) -> list:
        """Take due events, leasing each for longer than its function may run, so that an
        event whose server died mid-attempt becomes due again (at-least-once)."""
        now = time.time()

        def work(conn):
            rows = store.due_events(conn, now, 50)
            for row in rows:
                store.settle_event(
                    conn, row.id, state="queued", attempts=row.attempts, due_at=now + function_rules.MAX_TIMEOUT_S + 60, error=row.last_error
                )
            return rows

        return self.db.transact(work)

    async def _deliver_event(self, row) -> None:
        attempts = row.attempts + 1
        error: str | None = None
        try:
            result = await self.invoke(row.function_name, row.payload, request_id=row.id, wait=True)
            if result.function_error:
                error = result.payload.decode("utf-8", "replace")[:2000]
        except NotFound:
            await asyncio.to_thread(self._settle, row.id, "failed", attempts, time.time(), "the function was deleted")
            return
        except Exception as exc:  # throttled or a system error: back to the queue
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            await asyncio.to_thread(self._settle, row.id, "succeeded", attempts, time.time(), None)
        elif attempts < EVENT_ATTEMPTS:
            delay = self.settings.event_retry_base_delay_s * attempts
            await asyncio.to_thread(self._settle, row.id, "queued", attempts, time.time() + delay, error)
        else:
            log.warning("event %s for %s failed %d times: %s", row.id, row.function_name, attempts, error)
            await asyncio.to_thread(self._settle, row.id, "failed", attempts, time.time(), error)

    def _settle(self, event_id: str, state: str, attempts: int, due_at: float, error: str | None) -> None:
        self.db.transact(lambda conn: store.settle_event(conn, event_id, state=state, attempts=attempts, due_at=due_at, error=error))


def check_json(payload: bytes) -> None:
    if not payload:
        return
    try:
        orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"Could not parse request body into json: Could not parse payload into json: {exc}",
            code="InvalidRequestContentException",
        ) from None
