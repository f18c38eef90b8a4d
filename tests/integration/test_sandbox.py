"""Functions run sandboxed: a live server (both backends), Python and Node.js functions that try
to reach what is not theirs, MemorySize enforced, and the environment pool's limit and reaping.

What the functions try is checked against the host as the test sees it (the database file, the
data dir, the server's pid exist and are readable from here), so a refusal means the sandbox
refused, not that the path was wrong.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import processes
from tests.conftest import Server
from tests.zips import ROLE, zip_files

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")

# Tries each path and reports how it went: "read"/"written"/"listed" or the error's name.
PYTHON_PROBE = """
import json, os, signal, time

def handler(event, context):
    results = {}
    for path in event.get("read", []):
        try:
            if os.path.isdir(path) or path.endswith("/"):
                os.listdir(path)
                results[path] = "listed"
            else:
                with open(path, "rb") as source:
                    source.read(1)
                results[path] = "read"
        except OSError as exc:
            results[path] = type(exc).__name__
    for path in event.get("write", []):
        try:
            # r+b opens an existing file for writing without changing it; new files are created.
            with open(path, "r+b" if os.path.isfile(path) else "xb") as sink:
                sink.seek(0, 2)
            results[path] = "written"
        except OSError as exc:
            results[path] = type(exc).__name__
    for pid in event.get("signal", []):
        try:
            os.kill(pid, signal.SIGCONT)  # harmless to a running process, but needs the right to signal it
            results[f"pid {pid}"] = "signalled"
        except OSError as exc:
            results[f"pid {pid}"] = type(exc).__name__
    if "allocate_mb" in event:
        hoard = b"x" * (event["allocate_mb"] << 20)  # written, so every page is really used
        results["allocated"] = len(hoard)
    if "sleep" in event:
        time.sleep(event["sleep"])
    return {"results": results, "task_root": os.environ["LAMBDA_TASK_ROOT"], "tmp": os.environ["TMPDIR"]}
"""

NODE_PROBE = """
const fs = require("fs");
exports.handler = async (event) => {
  const results = {};
  for (const path of event.read || []) {
    try {
      if (path.endsWith("/") || (fs.existsSync(path) && fs.statSync(path).isDirectory())) {
        fs.readdirSync(path); results[path] = "listed";
      } else { fs.readFileSync(path); results[path] = "read"; }
    } catch (error) { results[path] = error.code; }
  }
  for (const path of event.write || []) {
    try {
      const existing = fs.existsSync(path) && fs.statSync(path).isFile();
      fs.closeSync(fs.openSync(path, existing ? "r+" : "wx"));
      results[path] = "written";
    } catch (error) { results[path] = error.code; }
  }
  for (const pid of event.signal || []) {
    try { process.kill(pid, "SIGCONT"); results[`pid ${pid}`] = "signalled"; }
    catch (error) { results[`pid ${pid}`] = error.code; }
  }
  if (event.allocate_mb) {
    const hoard = [];
    for (let i = 0; i < event.allocate_mb; i++) hoard.push(Buffer.alloc(1 << 20, 1));
    results.allocated = hoard.length;
  }
  if (event.sleep) await new Promise((resolve) => setTimeout(resolve, event.sleep * 1000));
  return { results, task_root: process.env.LAMBDA_TASK_ROOT, tmp: process.env.TMPDIR };
};
"""

RUNTIMES = {
    "python3.11": ("index.py", PYTHON_PROBE),
    "nodejs20.x": ("index.js", NODE_PROBE),
}
OOM_MESSAGE = re.compile(r"^RequestId: [0-9a-f-]+ Error: Runtime exited with error: signal: killed$")


def start_server(database_url: str, folder: Path, **env: str) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    return Server(database_url, folder / "server.log", TIDINGS_FUNCTION_SANDBOX="1", **env).start()


@pytest.fixture(scope="module")
def sandboxed(database_url, tmp_path_factory):
    server = start_server(database_url, tmp_path_factory.mktemp("sandboxed"))
    yield server
    server.stop()


def create(client, runtime: str, memory_mb: int = 128, extra_files: dict[str, bytes] | None = None, **config) -> str:
    filename, source = RUNTIMES[runtime]
    name = f"probe-{runtime.replace('.', '')}-{uuid.uuid4().hex[:8]}"
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": zip_files({filename: source, **(extra_files or {})})},
        MemorySize=memory_mb,
        Timeout=30,
        **config,
    )
    return name


def invoke(client, name: str, event: dict) -> tuple[dict, object, str]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    log = base64.b64decode(response.get("LogResult", "")).decode()
    return response, json.loads(response["Payload"].read()), log


def data_dir(server: Server) -> Path:
    return Path(server.env["TIDINGS_DATA_DIR"])


def database_files(server: Server) -> list[str]:
    """The SQLite file and its -wal/-shm companions (PostgreSQL keeps its files elsewhere)."""
    if not server.database_url.startswith("sqlite:///"):
        return []
    database = Path(server.database_url.removeprefix("sqlite:///"))
    return [str(path) for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if path.exists()]


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_a_function_reaches_only_its_code_and_its_tmp(sandboxed, runtime):
    client = sandboxed.client("lambda")
    neighbour = create(client, "python3.11")
    invoke(client, neighbour, {})  # warm: its code is unpacked and its temp dir exists
    name = create(client, runtime)
    invoke(client, name, {})
    code = sorted((data_dir(sandboxed) / "code").iterdir())
    temps = sorted((data_dir(sandboxed) / "environments").iterdir())
    server_pid = sandboxed.process.pid
    forbidden_reads = [
        *database_files(sandboxed),
        str(data_dir(sandboxed)),
        *(str(path) for path in code),  # its own host path too: it is /var/task inside
        *(str(next(path.iterdir())) for path in code if any(path.iterdir())),
        *(str(path) for path in temps),
        f"/proc/{server_pid}/environ",
    ]
    forbidden_writes = [
        *database_files(sandboxed),
        str(data_dir(sandboxed) / "intruder"),
        *(str(path / "intruder") for path in code + temps),
        "/var/task/intruder",
        "/usr/intruder",
    ]
    # The test itself can read all of it: the paths are real.
    assert database_files(sandboxed) or "postgresql" in sandboxed.database_url
    for path in forbidden_reads:
        assert os.path.exists(path), path

    response, result, log = invoke(
        client,
        name,
        {
            "read": [*forbidden_reads, "/var/task/" + RUNTIMES[runtime][0], "/tmp/"],
            "write": [*forbidden_writes, "/tmp/mine"],
            "signal": [server_pid],
        },
    )

    assert "FunctionError" not in response, log
    results = result["results"]
    assert {path: results[path] for path in forbidden_reads if results[path] in ("read", "listed")} == {}
    assert {path: results[path] for path in forbidden_writes if results[path] == "written"} == {}
    assert results[f"pid {server_pid}"] in ("ProcessLookupError", "ESRCH")  # no such process in its world
    assert results["/var/task/" + RUNTIMES[runtime][0]] == "read"
    assert results["/tmp/mine"] == "written" and results["/tmp/"] == "listed"
    assert results["/var/task/intruder"] in ("OSError", "EROFS", "PermissionError", "EACCES")
    assert (result["task_root"], result["tmp"]) == ("/var/task", "/tmp")
    assert not (data_dir(sandboxed) / "intruder").exists()
    assert sandboxed.process.poll() is None


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_an_over_memory_function_fails_alone_and_recovers(sandboxed, runtime):
    client = sandboxed.client("lambda")
    hog = create(client, runtime, memory_mb=128)
    bystander = create(client, "python3.11")
    invoke(client, hog, {})
    bystander_results: list = []

    def bystand():  # another function, invoked while the hog runs out of memory
        bystander_results.append(invoke(sandboxed.client("lambda"), bystander, {"sleep": 0.5}))

    thread = threading.Thread(target=bystand)
    thread.start()
    response, result, log = invoke(client, hog, {"allocate_mb": 400})
    thread.join()

    assert response.get("FunctionError") == "Unhandled", result
    assert result["errorType"] == "Runtime.OutOfMemory"
    assert OOM_MESSAGE.match(result["errorMessage"]), result
    assert "Error Type: Runtime.OutOfMemory" in log
    [(bystander_response, bystander_result, _)] = bystander_results
    assert "FunctionError" not in bystander_response and "results" in bystander_result
    assert sandboxed.process.poll() is None
    # Within its limit it works again, in a new environment.
    response, result, log = invoke(client, hog, {"allocate_mb": 16})
    assert "FunctionError" not in response, log
    assert result["results"]["allocated"] in (16, 16 << 20)
    assert "Init Duration" in log


def test_new_configuration_stops_the_old_environments(sandboxed):
    client = sandboxed.client("lambda")
    name = create(client, "python3.11")
    invoke(client, name, {})
    old = environments(sandboxed, name)
    assert old
    client.update_function_configuration(FunctionName=name, Environment={"Variables": {"CHANGED": "1"}})
    response, _, log = invoke(client, name, {})
    assert "FunctionError" not in response and "Init Duration" in log
    processes.wait_until_gone(old, "environments of the replaced configuration")


def environments(server: Server, function: str | None = None) -> list[int]:
    """The server's live environment processes (each runs a runtime's bootstrap), all or one
    function's. A function's name is in the environment of the runtime inside the sandbox
    only, a few processes down: each environment's descendants are looked through."""
    found = []
    for pid in processes.children(server.process.pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"_bootstrap." in command and (function is None or _runs(pid, function)):
            found.append(pid)
    return found


def _runs(pid: int, function: str) -> bool:
    wanted = f"AWS_LAMBDA_FUNCTION_NAME={function}".encode()
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            if wanted in Path(f"/proc/{current}/environ").read_bytes().split(b"\0"):
                return True
        except OSError:
            continue
        pending.extend(processes.children(current))
    return False


@pytest.fixture(scope="module")
def quickly_reaping(database_url, tmp_path_factory):
    server = start_server(
        database_url, tmp_path_factory.mktemp("reaping"), TIDINGS_ENVIRONMENT_IDLE_TIMEOUT="2", TIDINGS_MAX_ENVIRONMENTS="8"
    )
    yield server
    server.stop()


def test_concurrent_first_invocations_stay_within_the_limit(quickly_reaping):
    client = quickly_reaping.client("lambda")
    # A package that takes a moment to unpack on first use: the window in which concurrent
    # first invocations used to each make a pool of their own.
    name = create(client, "python3.11", extra_files={"padding.bin": bytes(64 << 20)})
    clients = [quickly_reaping.client("lambda") for _ in range(50)]
    all_ready = threading.Barrier(50)
    seen: list[int] = []
    done = threading.Event()

    def first_invocation(caller):
        all_ready.wait()
        return invoke(caller, name, {"sleep": 0.3})

    def watch():
        while not done.is_set():
            seen.append(len(environments(quickly_reaping)))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(50) as executor:
            answers = list(executor.map(first_invocation, clients))
    finally:
        done.set()
        watcher.join()

    assert all("FunctionError" not in response for response, _, _ in answers)
    assert max(seen) >= 2, "the invocations never overlapped"
    assert max(seen) <= 8, f"up to {max(seen)} environments for a limit of 8"
    assert len(environments(quickly_reaping)) <= 8


def test_idle_environments_are_reaped(quickly_reaping):
    client = quickly_reaping.client("lambda")
    name = create(client, "nodejs20.x")
    invoke(client, name, {})
    started = [pid for pid in environments(quickly_reaping)]
    assert started
    # Idle for 2 s, then reaped by the next sweep (which runs every 2 s here).
    processes.wait_until_gone(started, "idle environments", timeout=15)
    response, _, log = invoke(client, name, {})
    assert "FunctionError" not in response and "Init Duration" in log  # a cold start again


def test_a_functions_variables_reach_only_the_sandbox(sandboxed):
    """A function's Environment.Variables are its own: the processes on the host that start
    its sandbox (a shell, bubblewrap) never run with them, or LD_PRELOAD and friends would
    load the function's code on the host before any namespace exists."""
    client = sandboxed.client("lambda")
    marker = f"only-inside-{uuid.uuid4().hex}"
    name = create(client, "python3.11", Environment={"Variables": {"LD_PRELOAD": f"/nonexistent/{marker}.so"}})
    response, result, _ = invoke(client, name, {})
    assert "FunctionError" not in response, result

    starters = []
    pending = [sandboxed.process.pid]
    while pending:
        pid = pending.pop()
        for child in processes.children(pid):
            pending.append(child)
            try:
                program = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0]
                environ = Path(f"/proc/{child}/environ").read_bytes()
            except OSError:
                continue  # ended meanwhile
            if os.path.basename(program) in (b"bwrap", b"sh"):
                starters.append((child, environ))
    assert starters, "no sandbox processes found under the server"
    for pid, environ in starters:
        assert marker.encode() not in environ, pid
