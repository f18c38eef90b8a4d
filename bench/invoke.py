"""Invocations per second of a no-op function receiving a 50-endpoint payload.

Two warm environments, two concurrent callers, through the same pool the server uses, in the
server's sandbox (bubblewrap, memory cgroup) unless --no-sandbox.
Run: .venv/bin/python bench/invoke.py [--seconds 5] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from payloads import campaign_payload  # noqa: E402

from tidings.functions.environment import Spec  # noqa: E402
from tidings.functions.pool import Pool  # noqa: E402
from tidings.functions.runtimes import command_for  # noqa: E402
from tidings.functions.sandbox import Sandbox  # noqa: E402

HANDLERS = {
    "python3.11": ("noop.py", "def handler(event, context):\n    return None\n", "noop.handler"),
    "nodejs20.x": ("index.js", "exports.handler = async (event) => null;\n", "index.handler"),
}


def event_loop_runner():
    """uvloop.run when uvloop is installed (as uvicorn picks it for the server), else asyncio.run."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


async def warm_pool(runtime: str, environments: int, work: Path, sandbox: Sandbox | None) -> tuple[Pool, Spec]:
    """A pool of ``environments`` started environments of the no-op ``runtime`` handler."""
    filename, source, handler = HANDLERS[runtime]
    code = work / runtime
    code.mkdir()
    (code / filename).write_text(source)
    spec = Spec(
        runtime, f"arn:aws:lambda:us-east-1:000000000000:function:{runtime}", runtime, handler,
        command_for(runtime), code, 30, 128, {}, "us-east-1", "bench", sandbox,
    )  # fmt: skip
    pool = Pool(spec, environments, work / "envs")
    payload = campaign_payload()
    await asyncio.gather(*(pool.invoke("warm", payload, spec.function_arn) for _ in range(environments)))
    return pool, spec


async def measure(runtime: str, seconds: float, environments: int, work: Path, sandbox: Sandbox | None) -> float:
    pool, spec = await warm_pool(runtime, environments, work, sandbox)
    payload = campaign_payload()
    done = 0
    deadline = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            result = await pool.invoke("bench", payload, spec.function_arn)
            assert not result.error, result.payload
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(environments)))
    rate = done / (time.perf_counter() - started)
    await pool.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--environments", type=int, default=2)
    parser.add_argument("--no-sandbox", action="store_true", help="run environments unsandboxed, for comparison")
    args = parser.parse_args()
    runner = event_loop_runner()
    sandbox = None if args.no_sandbox else Sandbox.create()
    mode = "unsandboxed" if sandbox is None else f"sandboxed (memory cgroup v{sandbox.memory.version})" if sandbox.memory else "sandboxed (no memory cgroup)"
    print(f"payload: {len(campaign_payload())} bytes, 50 endpoints; {args.environments} environments, {mode}")
    for runtime in HANDLERS:
        rates = []
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as work:
                rates.append(runner(measure(runtime, args.seconds, args.environments, Path(work), sandbox)))
        print(f"{runtime:12s} median {statistics.median(rates):8,.0f} invocations/s  (rounds: {', '.join(f'{r:,.0f}' for r in rates)})")
    if sandbox is not None and sandbox.memory is not None:
        sandbox.memory.close()


if __name__ == "__main__":
    main()
