"""A pool of warm environments per function revision, bounded by its concurrency."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tidings.domain.errors import Throttled
from tidings.functions.environment import Environment, Outcome, Spec, error_type_of


@dataclass
class Invocation:
    """The result of one invocation, with its log in Lambda's format."""

    request_id: str
    payload: bytes
    error: bool
    log: str  # START ... END ... REPORT
    duration_ms: float
    error_type: str | None = None


class Pool:
    def __init__(self, spec: Spec, limit: int, work_dir: Path) -> None:
        self.spec = spec
        self.limit = limit
        self.work_dir = work_dir
        self.idle: deque[Environment] = deque()
        self.in_use = 0  # environments busy or starting
        self.freed = asyncio.Condition()
        self.closed = False

    async def _acquire(self, wait: bool) -> Environment | None:
        """An idle environment, or None when the caller may start a new one."""
        async with self.freed:
            while True:
                if self.in_use < self.limit:
                    self.in_use += 1
                    while self.idle:
                        env = self.idle.pop()
                        if env.usable:
                            return env
                        await env.stop()
                    return None
                if not wait:
                    raise Throttled(
                        "Rate Exceeded.",
                        code="TooManyRequestsException",
                        Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
                    )
                await self.freed.wait()

    async def _release(self, env: Environment | None) -> None:
        async with self.freed:
            self.in_use -= 1
            if env is not None and env.alive and not self.closed:
                self.idle.append(env)
            elif env is not None and env.alive:
                await env.stop()
            self.freed.notify()

    async def invoke(
        self,
        request_id: str,
        event: bytes,
        invoked_arn: str,
        client_context: str | None = None,
        *,
        wait: bool = True,
        timeout_s: float | None = None,
    ) -> Invocation:
        """Run one invocation in a warm environment (starting one if needed). With all
        environments busy, wait for one, or with ``wait=False`` refuse (429)."""
        env = await self._acquire(wait)
        init_log, init_ms = "", None
        try:
            if env is None:
                env = Environment(self.spec, self.work_dir)
                await env.start()
                init_log, init_ms = env.init_log, env.init_ms
                if env.init_error is not None:
                    outcome = Outcome(env.init_error, True, "", 0.0, error_type=error_type_of(env.init_error))
                    return self._finish(request_id, outcome, init_log, init_ms, 0)
            outcome = await env.invoke(request_id, event, invoked_arn, client_context, timeout_s)
            return self._finish(request_id, outcome, init_log, init_ms, env.max_memory_mb())
        finally:
            await self._release(env)

    def _finish(
        self, request_id: str, outcome: Outcome, init_log: str, init_ms: float | None, memory_mb: int
    ) -> Invocation:
        billed = max(1, math.ceil(outcome.duration_ms))
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {outcome.duration_ms:.2f} ms\t"
            f"Billed Duration: {billed} ms\tMemory Size: {self.spec.memory_mb} MB\tMax Memory Used: {memory_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        if outcome.error_type == "Sandbox.Timedout":
            report += "\tStatus: timeout"
        elif outcome.error_type == "Runtime.OutOfMemory":
            report += "\tStatus: error\tError Type: Runtime.OutOfMemory"
        body = outcome.log if not outcome.log or outcome.log.endswith("\n") else outcome.log + "\n"
        log = (
            f"{init_log}START RequestId: {request_id} Version: $LATEST\n{body}"
            f"END RequestId: {request_id}\n{report}\n"
        )
        return Invocation(request_id, outcome.payload, outcome.error, log, outcome.duration_ms, outcome.error_type)

    async def reap(self, idle_seconds: float) -> None:
        """Stop environments that have been idle for longer than ``idle_seconds``."""
        now = time.monotonic()
        async with self.freed:
            keep = deque(e for e in self.idle if e.alive and now - e.last_used < idle_seconds)
            stale = [e for e in self.idle if e not in keep]
            self.idle = keep
        for env in stale:
            await env.stop()

    async def close(self) -> None:
        async with self.freed:
            self.closed = True
            idle, self.idle = list(self.idle), deque()
        for env in idle:
            await env.stop()

    @property
    def size(self) -> int:
        return self.in_use + len(self.idle)

