"""Execution environments: one warm process per environment, one invocation at a time.

An environment is a child process running the bootstrap of its runtime (see
bootstrap/protocol.md). It is started with the function's environment variables plus
Lambda's own, and nothing of the server's environment; its working directory is the
unpacked code and it has a temp directory of its own, both kept across invocations.
With a sandbox (sandbox.py) the process sees only those two of the host's data, as
/var/task (read-only) and /tmp, and its memory is capped at the function's MemorySize.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import struct
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from tidings.functions.sandbox import (
    HOST_ENVIRONMENT,
    RUNTIME_DIR,
    TASK_ROOT,
    TMP_DIR,
    Cgroup,
    Sandbox,
    environment_arguments,
)

HEADER = struct.Struct(">III")
BOOTSTRAP_DIR = Path(__file__).with_name("bootstrap")
LOG_TAIL_BYTES = 4096
INIT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Spec:
    """Everything needed to start an environment for one version of a function."""

    function_name: str
    function_arn: str
    runtime: str
    handler: str
    command: tuple[str, ...]  # interpreter and bootstrap
    code_dir: Path
    timeout_s: int
    memory_mb: int
    variables: dict[str, str]
    region: str
    revision: str  # changes whenever code or configuration change
    sandbox: Sandbox | None = None  # None: the process sees the host as the server does


@dataclass
class Outcome:
    """What one invocation produced."""

    payload: bytes
    error: bool
    log: str
    duration_ms: float
    init_ms: float | None = None
    error_type: str | None = None
    fresh_environment_needed: bool = False


@dataclass
class _Frame:
    header: dict
    body: bytes
    log: str


def _lambda_variables(spec: Spec, task_root: str, runtime_dir: str, tmp_dir: str, stream: str) -> dict[str, str]:
    version = "$LATEST"
    return {
        **spec.variables,
        "_HANDLER": spec.handler,
        "AWS_REGION": spec.region,
        "AWS_DEFAULT_REGION": spec.region,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": runtime_dir,
        "LANG": "en_US.UTF-8",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TZ": ":UTC",
        "TMPDIR": tmp_dir,
        "HOME": tmp_dir,
    }


class Environment:
    def __init__(self, spec: Spec, work_dir: Path) -> None:
        self.spec = spec
        self.id = uuid.uuid4().hex
        self.tmp_dir = work_dir / self.id
        self.process: asyncio.subprocess.Process | None = None
        self.cgroup: Cgroup | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.stray_output: list[str] = []  # written to the real stdout/stderr
        self.init_ms: float | None = None
        self.init_log = ""
        self.init_error: bytes | None = None
        self.invocations = 0
        self.alive = False
        self.last_used = time.monotonic()
        self._memory_mb, self._memory_read_at = 0, float("-inf")
        self.stream_name = time.strftime("%Y/%m/%d/") + f"[$LATEST]{self.id}"
        self._pumps: list[asyncio.Task] = []

    async def start(self) -> None:
        """Start the process and wait until its handler is loaded (or failed to load)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        parent, child = socket.socketpair()
        started = time.perf_counter()
        sandbox = self.spec.sandbox
        passed = [child.fileno()]
        env_read = None
        try:
            # The bootstrap learns the socket's descriptor from its last argument.
            if sandbox is None:
                command = [*self.spec.command, str(child.fileno())]
                env = _lambda_variables(self.spec, str(self.spec.code_dir), str(BOOTSTRAP_DIR), str(self.tmp_dir), self.stream_name)
            else:
                # The function's variables go to the sandbox alone, through a pipe bubblewrap
                # reads; the processes that start it get a fixed environment.
                variables = _lambda_variables(self.spec, TASK_ROOT, RUNTIME_DIR, TMP_DIR, self.stream_name)
                env_read, env_write = os.pipe()
                with os.fdopen(env_write, "wb") as out:  # at most a few KB: within the pipe's buffer
                    out.write(environment_arguments(variables))
                passed.append(env_read)
                command = sandbox.command(self.spec.command, self.spec.code_dir, self.tmp_dir, child.fileno(), env_read)
                env = dict(HOST_ENVIRONMENT)
                if sandbox.memory is not None:
                    self.cgroup = sandbox.memory.create(self.id, self.spec.memory_mb)
                    # Into the cgroup before bubblewrap forks, so every process of it is counted.
                    command = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.cgroup.procs), *command]
            self.process = await asyncio.create_subprocess_exec(
                *command,
                cwd=self.spec.code_dir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=tuple(passed),
                start_new_session=True,  # its own process group, killed as a whole
            )
        except BaseException:
            # Nothing started: the socket, the cgroup and the temp dir go with it.
            parent.close()
            await self.stop()
            raise
        finally:
            child.close()
            if env_read is not None:
                os.close(env_read)
        self.reader, self.writer = await asyncio.open_unix_connection(sock=parent, limit=2**24)
        self._pumps = [
            asyncio.create_task(self._pump(self.process.stdout)),
            asyncio.create_task(self._pump(self.process.stderr)),
        ]
        self.alive = True
        try:
            frame = await asyncio.wait_for(self._read_frame(), INIT_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            frame = None
        self.init_ms = (time.perf_counter() - started) * 1000
        if frame is None:
            reason, error_type = await self._exit_reason(), self._exit_error_type()
            self.init_error = orjson.dumps({"errorMessage": f"Runtime exited {reason}", "errorType": error_type})
            self.init_log = self._take_stray()
            await self.stop()
            return
        self.init_log = frame.log + self._take_stray()
        if frame.header.get("type") == "init_error":
            self.init_error = frame.body
            await self.stop()

    async def _pump(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            self.stray_output.append(chunk.decode("utf-8", "replace"))

    def _take_stray(self) -> str:
        text = "".join(self.stray_output)
        self.stray_output.clear()
        return text

    async def _read_frame(self) -> _Frame:
        assert self.reader is not None
        head_len, body_len, log_len = HEADER.unpack(await self.reader.readexactly(HEADER.size))
        data = await self.reader.readexactly(head_len + body_len + log_len)
        return _Frame(
            json.loads(data[:head_len]),
            data[head_len : head_len + body_len],
            data[head_len + body_len :].decode("utf-8", "replace"),
        )

    async def invoke(
        self,
        request_id: str,
        event: bytes,
        invoked_arn: str,
        client_context: str | None = None,
        timeout_s: float | None = None,
    ) -> Outcome:
        """Run one invocation. The environment must be started and idle. ``timeout_s``
        shortens the function's own timeout (a caller that waits less, as campaigns do)."""
        assert self.writer is not None and self.alive
        self.invocations += 1
        timeout = self.spec.timeout_s if timeout_s is None else min(self.spec.timeout_s, timeout_s)
        started = time.perf_counter()
        header = orjson.dumps(
            {
                "type": "invoke",
                "id": request_id,
                "deadline_ms": int(time.time() * 1000 + timeout * 1000),
                "arn": invoked_arn,
                "client_context": client_context,
            }
        )
        # One write: each one can wake the runtime, which then takes the CPU from the server.
        self.writer.write(b"".join((HEADER.pack(len(header), len(event), 0), header, event)))
        try:
            frame = await asyncio.wait_for(self._read_frame(), timeout)
        except TimeoutError:
            await self.stop()
            message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
            log = self._take_stray() + f"{_now_iso()} {request_id} Task timed out after {timeout:.2f} seconds\n"
            return self._failure(message, "Sandbox.Timedout", log, started)
        except (asyncio.IncompleteReadError, ConnectionError):
            reason, error_type = await self._exit_reason(), self._exit_error_type()
            await self.stop()
            message = f"RequestId: {request_id} Error: Runtime exited {reason}"
            return self._failure(message, error_type, self._take_stray(), started)
        finally:
            self.last_used = time.monotonic()
        duration = (time.perf_counter() - started) * 1000
        if frame.header.get("id") != request_id:
            # Out of step with its runtime: nothing it says can be trusted any more.
            await self.stop()
            message = f"RequestId: {request_id} Error: Runtime answered another request ({frame.header.get('id')})"
            return self._failure(message, "Runtime.ExitError", self._take_stray(), started)
        log = frame.log + (self._take_stray() if self.stray_output else "")
        outcome = Outcome(frame.body, bool(frame.header.get("error")), log, duration)
        if outcome.error:
            outcome.error_type = error_type_of(frame.body)
        if frame.header.get("exit"):
            # The runtime reported the error and is going away (Node: an uncaught exception).
            await self.stop()
            outcome.fresh_environment_needed = True
        return outcome

    def _failure(self, message: str, error_type: str, log: str, started: float) -> Outcome:
        payload = orjson.dumps({"errorType": error_type, "errorMessage": message})
        duration = (time.perf_counter() - started) * 1000
        return Outcome(payload, True, log, duration, error_type=error_type, fresh_environment_needed=True)

    async def _exit_reason(self) -> str:
        if self.process is None:
            return "without providing a reason"
        try:
            code = await asyncio.wait_for(self.process.wait(), 1.0)
        except TimeoutError:
            return "without providing a reason"
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if self.spec.sandbox is not None and code > 128:
            code = 128 - code  # bubblewrap exits 128 + n when its child was killed by signal n
        if code < 0:
            # Worded as Lambda words it (Go's names of signals: "killed", "segmentation fault").
            return f"with error: signal: {(signal.strsignal(-code) or str(-code)).lower()}"
        return "without providing a reason" if code == 0 else f"with error: exit status {code}"

    def _exit_error_type(self) -> str:
        """Lambda's error type for a runtime that went away: out of memory when the kernel
        killed something of the environment for passing its memory limit."""
        if self.cgroup is not None and self.cgroup.oom_kills() > 0:
            return "Runtime.OutOfMemory"
        return "Runtime.ExitError"

    @property
    def usable(self) -> bool:
        """Started, not stopped, and its process has not exited on its own while idle."""
        return self.alive and self.process is not None and self.process.returncode is None

    def max_memory_mb(self) -> int:
        """The environment's peak memory for REPORT lines. Read at most once a second: a
        campaign makes thousands of invocations a second and the peak seldom moves."""
        now = time.monotonic()
        if now - self._memory_read_at < 1.0:
            return self._memory_mb
        self._memory_read_at = now
        if self.cgroup is not None:
            self._memory_mb = self.cgroup.peak_mb()
            return self._memory_mb
        try:
            pid = self.process.pid  # type: ignore[union-attr]
            with open(f"/proc/{pid if self.spec.sandbox is None else _youngest_descendant(pid)}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        self._memory_mb = max(1, int(line.split()[1]) // 1024)
                        break
        except (OSError, AttributeError, ValueError):
            pass
        return self._memory_mb

    async def stop(self) -> None:
        """Kill the whole process group and forget the environment's temp directory."""
        self.alive = False
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await self.process.wait()
        if self.cgroup is not None:
            await self.cgroup.remove()
        if self.writer is not None:
            self.writer.close()
        for pump in self._pumps:
            try:
                await asyncio.wait_for(pump, 1.0)
            except (TimeoutError, Exception):
                pump.cancel()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)


def _youngest_descendant(pid: int) -> int:
    """The runtime's pid: the process itself, or the last of a chain of single children
    (bubblewrap starts the runtime two processes down)."""
    while True:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return pid
        if len(children) != 1:
            return pid
        pid = int(children[0])


def error_type_of(body: bytes) -> str | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return document.get("errorType") if isinstance(document, dict) else None


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
