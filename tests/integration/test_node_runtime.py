"""The Node.js runtime: real `node` environments driven through `tidings.functions.pool.Pool`.

Each test writes a small function into a temp code directory, starts a pool for it and
invokes it with Lambda's Node.js (RIC 3.x, nodejs18.x-22.x) semantics in mind: callback and
promise handlers, waiting for the event loop, context.succeed/fail/done, error documents with
``trace``, load errors, timeouts, process exits, log lines and module state kept warm. The
seed document's example function (tests/fixtures/seed_function) runs unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
import textwrap
import uuid
from pathlib import Path

import pytest

from tidings.functions.environment import Spec
from tidings.functions.pool import Invocation, Pool
from tidings.functions.runtimes import command_for

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")

REGION = "us-east-1"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:node-fn"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED_FUNCTION = FIXTURES / "seed_function"
SEED_DOCUMENT = Path("/work/shared/seed/000_90b10c3cc1e8705c.txt")
# SHA-256 of the example function's code block in the seed document (channels-custom.md).
SEED_FIXTURE_SHA256 = "1450e3aafea271337904734f1d7525da6c90fec631ec9613d486dd3dc46d67d0"

LOG_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t(?P<id>[^\t]+)\t(?P<level>[A-Z]+)\t(?P<message>.*)$"
)


def write_files(code_dir: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = code_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))


def make_spec(
    code_dir: Path,
    handler: str = "index.handler",
    timeout_s: int = 3,
    variables: dict[str, str] | None = None,
) -> Spec:
    return Spec(
        function_name="node-fn",
        function_arn=ARN,
        runtime="nodejs20.x",
        handler=handler,
        command=command_for("nodejs20.x"),
        code_dir=code_dir,
        timeout_s=timeout_s,
        memory_mb=256,
        variables=variables or {},
        region=REGION,
        revision="1",
    )


class Pause(float):
    """In a list of events: wait this many seconds before the next invocation."""


def invoke_all(
    spec: Spec,
    work_dir: Path,
    events: list,
    client_context: str | None = None,
) -> list[Invocation]:
    """Invoke one after the other through one pool (a warm environment is reused)."""

    async def go() -> list[Invocation]:
        pool = Pool(spec, 1, work_dir)
        try:
            results = []
            for event in events:
                if isinstance(event, Pause):
                    await asyncio.sleep(event)
                    continue
                body = event if isinstance(event, bytes) else json.dumps(event).encode()
                results.append(
                    await pool.invoke(str(uuid.uuid4()), body, spec.function_arn, client_context)
                )
            return results
        finally:
            await pool.close()

    return asyncio.run(go())


@pytest.fixture
def run(tmp_path):
    """run(files, *events, handler=..., timeout_s=..., variables=..., client_context=...)."""

    def runner(
        files: dict[str, str],
        *events,
        handler: str = "index.handler",
        timeout_s: int = 3,
        variables: dict[str, str] | None = None,
        client_context: str | None = None,
    ) -> list[Invocation]:
        code_dir = tmp_path / "code"
        code_dir.mkdir(exist_ok=True)
        write_files(code_dir, files)
        spec = make_spec(code_dir, handler, timeout_s, variables)
        return invoke_all(spec, tmp_path / "work", list(events) or [{}], client_context)

    return runner


def payload(invocation: Invocation):
    return json.loads(invocation.payload)


def function_lines(invocation: Invocation) -> list[re.Match]:
    """The runtime's formatted log lines of one invocation (between START and END)."""
    body = invocation.log.split("START RequestId:", 1)[1].split("\nEND RequestId:", 1)[0]
    return [m for line in body.splitlines() if (m := LOG_LINE.match(line))]


def cold(invocation: Invocation) -> bool:
    return "Init Duration:" in invocation.log


# --- handler styles -------------------------------------------------------------------------


def test_callback_handler(run):
    (result,) = run(
        {
            "index.js": """
                exports.handler = function (event, context, callback) {
                    callback(null, {echo: event.value, n: 41 + 1});
                };
            """
        },
        {"value": "hi"},
    )
    assert not result.error
    assert payload(result) == {"echo": "hi", "n": 42}
    assert result.error_type is None


def test_async_and_promise_handlers(run):
    files = {
        "index.js": """
            exports.asyncHandler = async (event) => ({got: event.k});
            exports.promiseHandler = (event) => new Promise((resolve) => setTimeout(() => resolve([event.k, "later"]), 20));
            exports.thenable = () => ({then(ok) { ok("thenable"); }});
            exports.undef = async () => undefined;
            exports.rejects = async () => { throw new TypeError("nope"); };
        """
    }
    assert payload(run(files, {"k": 1}, handler="index.asyncHandler")[0]) == {"got": 1}
    assert payload(run(files, {"k": 2}, handler="index.promiseHandler")[0]) == [2, "later"]
    assert payload(run(files, handler="index.thenable")[0]) == "thenable"
    undefined = run(files, handler="index.undef")[0]
    assert not undefined.error and undefined.payload == b"null"
    rejected = run(files, handler="index.rejects")[0]
    assert rejected.error and rejected.error_type == "TypeError"
    assert payload(rejected)["errorMessage"] == "nope"


def test_esm_mjs_handler(run):
    (result,) = run(
        {
            "index.mjs": """
                import { sep } from "node:path";
                const ready = await Promise.resolve("top-level await");
                export const handler = async (event) => ({ready, sep, isEsm: typeof require === "undefined"});
            """
        },
        {},
    )
    assert payload(result) == {"ready": "top-level await", "sep": "/", "isEsm": True}


def test_esm_js_with_type_module(run):
    (result,) = run(
        {
            "package.json": '{"name": "esm-fn", "type": "module"}',
            "index.js": """
                export async function handler(event) {
                    return {esm: typeof module === "undefined", value: event.value};
                }
            """,
        },
        {"value": 7},
    )
    assert payload(result) == {"esm": True, "value": 7}


def test_cjs_extension_and_awslambda_global(run):
    (result,) = run(
        {
            "index.cjs": """
                exports.handler = async () => ({
                    cjs: typeof module !== "undefined",
                    streamify: typeof awslambda.streamifyResponse,
                    httpStream: typeof awslambda.HttpResponseStream,
                });
            """
        },
    )
    assert payload(result) == {"cjs": True, "streamify": "function", "httpStream": "function"}


def test_nested_handler_path_and_directory(run):
    files = {
        "src/app.js": """
            exports.nested = {deeper: {fn: async () => "nested"}};
            exports.handler = async () => __filename.split("/").slice(-2).join("/");
        """
    }
    assert payload(run(files, handler="src/app.nested.deeper.fn")[0]) == "nested"
    assert payload(run(files, handler="src/app.handler")[0]) == "src/app.js"


# --- context --------------------------------------------------------------------------------


def test_context_fields(run):
    client_context = json.dumps(
        {"client": {"app_title": "t"}, "custom": {"k": "v"}, "env": {"platform": "p"}}
    )
    first, second = run(
        {
            "index.js": """
                exports.handler = async (event, context) => {
                    await new Promise((r) => setTimeout(r, 50));
                    return {
                        functionName: context.functionName,
                        functionVersion: context.functionVersion,
                        memoryLimitInMB: context.memoryLimitInMB,
                        logGroupName: context.logGroupName,
                        logStreamName: context.logStreamName,
                        invokedFunctionArn: context.invokedFunctionArn,
                        awsRequestId: context.awsRequestId,
                        clientContext: context.clientContext === undefined ? "undefined" : context.clientContext,
                        identity: context.identity === undefined ? "undefined" : context.identity,
                        remaining: context.getRemainingTimeInMillis(),
                        waits: context.callbackWaitsForEmptyEventLoop,
                        callbacks: [typeof context.succeed, typeof context.fail, typeof context.done],
                        envStream: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
                    };
                };
            """
        },
        {},
        {},
        timeout_s=2,
        client_context=client_context,
    )
    doc = payload(first)
    assert doc["functionName"] == "node-fn"
    assert doc["functionVersion"] == "$LATEST"
    assert doc["memoryLimitInMB"] == "256"  # a string, as on Lambda
    assert doc["logGroupName"] == "/aws/lambda/node-fn"
    assert doc["logStreamName"] == doc["envStream"] and "[$LATEST]" in doc["logStreamName"]
    assert doc["invokedFunctionArn"] == ARN
    assert doc["awsRequestId"] == first.request_id
    assert doc["clientContext"] == json.loads(client_context)
    assert doc["identity"] == "undefined"
    assert 1000 < doc["remaining"] < 1960
    assert doc["waits"] is True
    assert doc["callbacks"] == ["function", "function", "function"]
    assert payload(second)["awsRequestId"] == second.request_id != first.request_id


def test_client_context_absent_is_undefined(run):
    (result,) = run(
        {
            "index.js": "exports.handler = async (e, c) => 'clientContext' in c && c.clientContext === undefined;"
        }
    )
    assert payload(result) is True


def test_callback_waits_for_empty_event_loop(run):
    (result,) = run(
        {
            "index.js": """
                let state = "before";
                exports.handler = function (event, context, callback) {
                    setTimeout(() => { state = "timer ran"; console.log("timer fired"); }, 300);
                    callback(null, {state});
                };
            """
        },
    )
    assert payload(result) == {"state": "before"}  # the value given to callback
    assert result.duration_ms >= 290  # ... posted only when the timer had run
    assert any(m["message"] == "timer fired" for m in function_lines(result))


def test_callback_does_not_wait_when_told_not_to(run):
    first, second = run(
        {
            "index.js": """
                let calls = 0;
                exports.handler = function (event, context, callback) {
                    calls += 1;
                    context.callbackWaitsForEmptyEventLoop = false;
                    const n = calls;
                    if (n === 1) setTimeout(() => console.log("leftover from call", n), 300);
                    callback(null, {calls, waits: context.callbackWaitsForEmptyEventLoop});
                };
            """
        },
        {},
        Pause(0.5),
        {},
    )
    assert payload(first) == {"calls": 1, "waits": False}
    assert first.duration_ms < 290  # posted without waiting for the timer
    assert "leftover" not in first.log
    # The timer ran while the environment was idle; its output comes with the next invocation.
    assert payload(second) == {"calls": 2, "waits": False}
    assert [m["message"] for m in function_lines(second)] == ["leftover from call 1"]


def test_context_succeed_fail_done_post_immediately(run):
    files = {
        "index.js": """
            exports.succeed = (e, context) => { setTimeout(() => {}, 2000); context.succeed({ok: 1}); };
            exports.failNoArg = (e, context) => { setTimeout(() => {}, 2000); context.fail(); };
            exports.failError = (e, context) => context.fail(new RangeError("out"));
            exports.doneOk = (e, context) => { setTimeout(() => {}, 2000); context.done(null, "done"); };
            exports.doneErr = (e, context) => context.done("failed");
            exports.firstWins = (e, context, callback) => {
                context.succeed("first");
                callback(new Error("second"));
                context.fail("third");
            };
        """
    }
    ok = run(files, handler="index.succeed")[0]
    assert payload(ok) == {"ok": 1} and ok.duration_ms < 1000
    handled = run(files, handler="index.failNoArg")[0]
    assert handled.error and handled.duration_ms < 1000
    assert payload(handled) == {"errorType": "string", "errorMessage": "handled", "trace": []}
    failed = run(files, handler="index.failError")[0]
    assert failed.error_type == "RangeError" and payload(failed)["errorMessage"] == "out"
    done = run(files, handler="index.doneOk")[0]
    assert payload(done) == "done" and done.duration_ms < 1000
    done_err = run(files, handler="index.doneErr")[0]
    assert payload(done_err) == {"errorType": "string", "errorMessage": "failed", "trace": []}
    first = run(files, handler="index.firstWins")[0]
    assert not first.error and payload(first) == "first"


def test_only_first_callback_counts(run):
    (result,) = run(
        {
            "index.js": """
                exports.handler = (e, context, callback) => {
                    callback(null, "one");
                    callback(null, "two");
                    callback(new Error("three"));
                };
            """
        },
    )
    assert not result.error and payload(result) == "one"


def test_handler_that_never_calls_back_returns_null(run):
    files = {
        "index.js": """
            exports.sync = (event, context, callback) => { setTimeout(() => console.log("drained"), 50); return "ignored"; };
            exports.pendingAsync = async () => new Promise(() => {});
        """
    }
    result = run(files, handler="index.sync")[0]
    assert not result.error and result.payload == b"null"
    assert any(m["message"] == "drained" for m in function_lines(result))
    # An async handler whose promise never settles is an error once the loop is empty.
    never = run(files, handler="index.pendingAsync")[0]
    assert never.error and never.error_type == "Runtime.NodeJsExit"
    assert "Promise that was never settled" in payload(never)["errorMessage"]


# --- errors ---------------------------------------------------------------------------------


def test_thrown_error_document_and_log(run):
    (result,) = run(
        {
            "index.js": """
                class DeliveryError extends Error {
                    constructor(message) { super(message); this.name = "DeliveryError"; this.code = "E42"; }
                }
                exports.handler = function (event, context, callback) {
                    console.log("about to fail");
                    throw new DeliveryError("boom");
                };
            """
        },
    )
    assert result.error and result.error_type == "DeliveryError"
    doc = payload(result)
    assert list(doc) == ["errorType", "errorMessage", "trace"]  # no stackTrace, no requestId
    assert doc["errorType"] == "DeliveryError" and doc["errorMessage"] == "boom"
    assert doc["trace"][0] == "DeliveryError: boom"
    assert doc["trace"][1].startswith("    at ") and "index.js:6:" in doc["trace"][1]
    lines = function_lines(result)
    assert [m["level"] for m in lines] == ["INFO", "ERROR"]
    assert lines[1]["id"] == result.request_id
    assert lines[1]["message"].startswith("Invoke Error \t{")
    logged = json.loads(lines[1]["message"].split("\t", 1)[1])
    assert logged["errorType"] == "DeliveryError" and logged["errorMessage"] == "boom"
    assert logged["code"] == "E42" and logged["stack"][0] == "DeliveryError: boom"


def test_esm_error_trace_reads_like_lambda(run):
    (result,) = run(
        {"index.mjs": 'export const handler = async () => { throw new Error("esm boom"); };'}
    )
    doc = payload(result)
    assert doc["trace"][0] == "Error: esm boom"
    assert (
        doc["trace"][1].startswith("    at Runtime.handler (file://")
        and "index.mjs:1:" in doc["trace"][1]
    )
    # The runtime's own frames read as Lambda's, not as where this server is installed.
    assert "node_bootstrap" not in result.payload.decode() and "node_bootstrap" not in result.log
    assert any("file:///var/runtime/index.mjs" in line for line in doc["trace"])


def test_unserializable_result(run):
    (result,) = run({"index.js": "exports.handler = async () => ({n: 1n});"})
    assert result.error and payload(result)["errorMessage"] == "Unable to stringify response body"


def test_callback_with_a_string_error(run):
    (result,) = run({"index.js": 'exports.handler = (e, c, callback) => callback("bad");'})
    assert result.error and result.error_type == "string"
    assert payload(result) == {"errorType": "string", "errorMessage": "bad", "trace": []}
    assert any(
        m["message"].startswith('Invoke Error \t{"errorType":"Error","errorMessage":"bad"')
        for m in function_lines(result)
    )


def test_unhandled_rejection_fails_and_next_environment_is_fresh(run):
    first, second = run(
        {
            "index.js": """
                let calls = 0;
                exports.handler = async (event) => {
                    calls += 1;
                    if (event.reject) {
                        Promise.reject(new Error("nobody catches me"));
                        await new Promise((r) => setTimeout(r, 200));
                    }
                    return {calls};
                };
            """
        },
        {"reject": True},
        {},
    )
    assert first.error and first.error_type == "Runtime.UnhandledPromiseRejection"
    doc = payload(first)
    assert doc["errorMessage"] == "Error: nobody catches me"
    assert doc["trace"][0] == "Runtime.UnhandledPromiseRejection: Error: nobody catches me"
    assert any(
        m["message"].startswith("Unhandled Promise Rejection \t{") for m in function_lines(first)
    )
    assert payload(second) == {"calls": 1} and cold(second)


def test_uncaught_exception_fails_and_next_environment_is_fresh(run):
    first, second = run(
        {
            "index.js": """
                let calls = 0;
                exports.handler = (event, context, callback) => {
                    calls += 1;
                    if (event.crash) setTimeout(() => { throw new Error("async crash"); }, 10);
                    callback(null, {calls});  // waits for the loop: the crash comes first
                };
            """
        },
        {"crash": True},
        {},
    )
    assert first.error and first.error_type == "Error"
    assert payload(first)["errorMessage"] == "async crash"
    assert any(m["message"].startswith("Uncaught Exception \t{") for m in function_lines(first))
    assert payload(second) == {"calls": 1} and cold(second)


def test_uncaught_exception_between_invocations_fails_the_next_one(run):
    first, second, third = run(
        {
            "index.js": """
                let calls = 0;
                exports.handler = (event, context, callback) => {
                    calls += 1;
                    context.callbackWaitsForEmptyEventLoop = false;
                    if (calls === 1) setTimeout(() => { throw new Error("late crash"); }, 20);
                    callback(null, {calls});
                };
            """
        },
        {},
        Pause(0.2),  # the timer throws while the environment is idle
        {},
        {},
    )
    assert payload(first) == {"calls": 1}
    # On Lambda the environment is frozen after the response; the late timer runs, and
    # fails, during the next invocation of that environment.
    assert second.error and payload(second)["errorMessage"] == "late crash"
    assert payload(third) == {"calls": 1} and cold(third)


# --- loading the handler --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"index.js": "exports.handler = 1;"},
            "missing.handler",
            "Runtime.ImportModuleError",
            "Error: Cannot find module 'missing'",
        ),
        (
            {"index.js": 'require("not-installed");'},
            "index.handler",
            "Runtime.ImportModuleError",
            "Error: Cannot find module 'not-installed'",
        ),
        (
            {"index.js": "exports.handler = function ( {"},
            "index.handler",
            "Runtime.UserCodeSyntaxError",
            "SyntaxError: ",
        ),
        (
            {"index.mjs": "export const handler = ;"},
            "index.handler",
            "Runtime.UserCodeSyntaxError",
            "SyntaxError: ",
        ),
        (
            {"index.js": "exports.other = () => 1;"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is undefined or not exported",
        ),
        (
            {"index.js": "exports.handler = 42;"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is not a function",
        ),
        (
            {"index.mjs": "export default async () => 1;"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is undefined or not exported",
        ),
        (
            {"index.js": "exports.handler = () => 1;"},
            "../index.handler",
            "Runtime.MalformedHandlerName",
            "'../index.handler' is not a valid handler name. Use absolute paths when specifying root directories in handler names.",
        ),
        (
            {"index.js": "exports.handler = () => 1;"},
            "index",
            "Runtime.MalformedHandlerName",
            "Bad handler",
        ),
        (
            {"index.js": 'throw new Error("init went wrong");'},
            "index.handler",
            "Error",
            "init went wrong",
        ),
    ],
    ids=[
        "missing-module",
        "missing-dependency",
        "syntax",
        "esm-syntax",
        "missing-export",
        "not-a-function",
        "esm-default-only",
        "dot-dot",
        "no-dot",
        "init-throws",
    ],
)
def test_handler_load_errors(run, files, handler, error_type, message):
    first, second = run(files, {}, {}, handler=handler)
    assert first.error and first.error_type == error_type
    doc = payload(first)
    assert doc["errorType"] == error_type
    assert doc["errorMessage"].startswith(message)
    assert isinstance(doc["trace"], list)
    assert "Uncaught Exception \t{" in first.log  # logged during init, as Lambda does
    # Every invocation retries the init and fails the same way.
    assert second.error and second.error_type == error_type


def test_unsettled_top_level_await_ends_the_process(run):
    (result,) = run(
        {"index.mjs": "await new Promise(() => {});\nexport const handler = async () => 1;"}
    )
    assert result.error and result.error_type == "Runtime.ExitError"
    assert "exit status 13" in payload(result)["errorMessage"]


def test_missing_module_message_matches_lambda(run):
    (result,) = run({"index.js": "exports.handler = 1;"}, handler="app.handler")
    assert (
        payload(result)["errorMessage"]
        == "Error: Cannot find module 'app'\nRequire stack:\n- /var/runtime/index.mjs"
    )


# --- timeouts and exits ---------------------------------------------------------------------


def test_timeout_kills_the_environment(run):
    first, second = run(
        {
            "index.js": """
                let calls = 0;
                exports.handler = async (event) => {
                    calls += 1;
                    if (event.hang) await new Promise((r) => setTimeout(r, 60000));
                    return {calls};
                };
            """
        },
        {"hang": True},
        {},
        timeout_s=1,
    )
    assert first.error and first.error_type == "Sandbox.Timedout"
    assert (
        payload(first)["errorMessage"]
        == f"RequestId: {first.request_id} Error: Task timed out after 1.00 seconds"
    )
    assert payload(second) == {"calls": 1} and cold(second)


def test_interval_keeps_callback_waiting_until_timeout(run):
    (result,) = run(
        {
            "index.js": "exports.handler = (e, c, cb) => { setInterval(() => {}, 100); cb(null, 'never sent'); };"
        },
        timeout_s=1,
    )
    assert result.error_type == "Sandbox.Timedout"


def test_process_exit_is_a_runtime_exit_error(run):
    files = {
        "index.js": """
            exports.clean = () => process.exit();
            exports.status = () => process.exit(3);
        """
    }
    clean = run(files, handler="index.clean")[0]
    assert clean.error and clean.error_type == "Runtime.ExitError"
    assert (
        payload(clean)["errorMessage"]
        == f"RequestId: {clean.request_id} Error: Runtime exited without providing a reason"
    )
    status = run(files, handler="index.status")[0]
    assert payload(status)["errorMessage"].endswith(
        "Error: Runtime exited with error: exit status 3"
    )


# --- state, environment, logs ---------------------------------------------------------------


def test_module_globals_and_tmp_persist_across_invocations(run):
    results = run(
        {
            "index.js": """
                const fs = require("fs");
                const os = require("os");
                const path = require("path");
                let count = 0;
                exports.handler = async () => {
                    count += 1;
                    const file = path.join(os.tmpdir(), "counter");
                    const before = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
                    fs.writeFileSync(file, before + "x");
                    return {count, file: before + "x", tmp: os.tmpdir()};
                };
            """
        },
        {},
        {},
        {},
    )
    assert [payload(r)["count"] for r in results] == [1, 2, 3]
    assert [payload(r)["file"] for r in results] == ["x", "xx", "xxx"]
    assert cold(results[0]) and not cold(results[1]) and not cold(results[2])
    assert payload(results[0])["tmp"] != "/tmp"  # the environment's own temp directory


def test_environment_variables_are_isolated(run, monkeypatch):
    monkeypatch.setenv("TIDINGS_SERVER_SECRET", "do-not-leak")
    (result,) = run(
        {"index.js": "exports.handler = async () => ({...process.env});"},
        variables={"GREETING": "hello", "TABLE": "t1"},
    )
    env = payload(result)
    assert "TIDINGS_SERVER_SECRET" not in env
    assert not any(key.startswith("TIDINGS_") for key in env)
    assert env["GREETING"] == "hello" and env["TABLE"] == "t1"
    assert env["_HANDLER"] == "index.handler"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "node-fn"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x"
    assert env["AWS_REGION"] == REGION
    assert Path(env["LAMBDA_TASK_ROOT"]).name == "code"
    assert "_X_AMZN_TRACE_ID" not in env


def test_console_output_format(run):
    first, second = run(
        {
            "index.js": """
                console.log("loading %s", "module");
                exports.handler = async (event) => {
                    console.log("hello %s, %d items", "world", 3, {extra: true});
                    console.info("info");
                    console.warn("careful");
                    console.error("bad", new Error("shown").message);
                    console.debug("debug");
                    console.trace("trace");
                    console.log("two\\nlines");
                    console.log();
                    process.stdout.write("raw stdout\\n");
                    process.stderr.write(Buffer.from("raw stderr\\n"));
                    return "ok";
                };
            """
        },
        {},
        {},
    )
    init = first.log.split("START RequestId:", 1)[0]
    init_lines = [LOG_LINE.match(line) for line in init.splitlines()]
    assert (
        init_lines[0]
        and init_lines[0]["id"] == "undefined"
        and init_lines[0]["message"] == "loading module"
    )
    lines = function_lines(first)
    assert [(m["level"], m["message"]) for m in lines] == [
        ("INFO", "hello world, 3 items { extra: true }"),
        ("INFO", "info"),
        ("WARN", "careful"),
        ("ERROR", "bad shown"),
        ("DEBUG", "debug"),
        ("TRACE", "trace"),
        ("INFO", "two"),
        ("INFO", "undefined"),  # console.log() with no argument, as on Lambda
    ]
    assert all(m["id"] == first.request_id for m in lines)
    assert "\tINFO\ttwo\nlines\n" in first.log
    assert (
        f"\tINFO\tundefined\nraw stdout\nraw stderr\nEND RequestId: {first.request_id}\n"
        in first.log
    )
    assert [m["id"] for m in function_lines(second)] == [second.request_id] * 8
    assert "loading module" not in second.log  # init output only with the cold start


def test_log_level_filter(run):
    (result,) = run(
        {
            "index.js": "exports.handler = async () => { console.debug('hidden'); console.info('shown'); console.error('err'); };"
        },
        variables={"AWS_LAMBDA_LOG_LEVEL": "INFO"},
    )
    assert [m["message"] for m in function_lines(result)] == ["shown", "err"]


def test_callback_deprecation_warning_at_init(run):
    files = {
        "index.js": """
            exports.cb = (e, c, callback) => callback(null, 1);
            exports.asyncHandler = async (e) => 1;
        """
    }
    assert (
        "AWS Lambda plans to remove support for callback-based function handlers"
        in run(files, handler="index.cb")[0].log
    )
    assert "plans to remove support" not in run(files, handler="index.asyncHandler")[0].log


def test_large_event_and_result(run):
    event = {
        "Endpoints": {
            f"ep-{i}": {"Address": "x" * 2000, "Attributes": {"n": [str(i)]}} for i in range(200)
        }
    }
    (result,) = run(
        {
            "index.js": "exports.handler = async (event) => ({...event, count: Object.keys(event.Endpoints).length});"
        },
        event,
    )
    doc = payload(result)
    assert doc["count"] == 200 and doc["Endpoints"] == event["Endpoints"]


def test_streamify_response_is_collected(run):
    (result,) = run(
        {
            "index.mjs": """
                export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
                    responseStream.write("hello ");
                    responseStream.write(context.functionName);
                    responseStream.end();
                });
            """
        },
    )
    assert not result.error and result.payload == b"hello node-fn"


# --- the seed document's example function ---------------------------------------------------


def seed_code_block() -> str | None:
    if not SEED_DOCUMENT.exists():
        return None
    text = SEED_DOCUMENT.read_text()
    section = text[text.index("### Example Lambda Function") :]
    return re.findall(r"```\n(.*?)```", section, re.S)[0]


def test_seed_fixture_is_the_documents_code_block():
    code = (SEED_FUNCTION / "index.js").read_bytes()
    assert hashlib.sha256(code).hexdigest() == SEED_FIXTURE_SHA256
    block = seed_code_block()
    if block is None:
        pytest.skip("the seed document is not on this machine")
    assert code == block.encode()
    assert (SEED_FUNCTION / "node_modules" / "q" / "package.json").exists()
    assert (
        json.loads((SEED_FUNCTION / "node_modules" / "q" / "package.json").read_text())["version"]
        == "1.5.1"
    )


def test_seed_example_function(tmp_path):
    code_dir = tmp_path / "code"
    shutil.copytree(SEED_FUNCTION, code_dir)
    spec = make_spec(code_dir, "index.handler", timeout_s=3)
    no_message = {"ApplicationId": "app", "CampaignId": "c1", "TreatmentId": "0"}
    without_psid = {
        "Message": {
            "smsmessage": {"body": "This message should be intercepted by a campaign hook."}
        },
        "ApplicationId": "app",
        "CampaignId": "c1",
        "TreatmentId": "0",
        "ActivityId": "a1",
        "ScheduledTime": "2026-03-10T12:00:00.000Z",
        "Endpoints": {
            "ep-1": {
                "ChannelType": "CUSTOM",
                "Address": "someone",
                "User": {
                    "UserId": "7a9870b7-493c-4521-b0ca-08bbbc36e595",
                    "UserAttributes": {"name": ["A"]},
                },
            }
        },
    }
    no_user = {**without_psid, "Endpoints": {"ep-2": {"ChannelType": "CUSTOM", "Address": "x"}}}
    results = invoke_all(spec, tmp_path / "work", [no_message, without_psid, no_user])
    for result in results:
        assert not result.error, result.payload
        assert payload(result) == {"body": "ok", "statusCode": 200}
        assert "Sending message" not in result.log
    assert cold(results[0]) and not cold(results[2])
