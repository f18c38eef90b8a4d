"""Invocations per second of a no-op Node.js handler through `tidings.functions.pool.Pool`.

Two concurrent callers share a pool of at most two warm environments and send a
Pinpoint-like campaign payload (50 endpoints, about 20 KB of JSON) for a few seconds.

    .venv/bin/python bench/node_invoke.py [--seconds 5] [--style async|callback|both]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

from tidings.functions.environment import Spec
from tidings.functions.pool import Pool
from tidings.functions.runtimes import command_for

ARN = "arn:aws:lambda:us-east-1:000000000000:function:bench-noop"
HANDLERS = {
    "async": "exports.handler = async (event) => ({ ok: true });\n",
    "callback": "exports.handler = function (event, context, callback) { callback(null, { ok: true }); };\n",
}


def campaign_event(endpoints: int = 50) -> bytes:
    """What Pinpoint sends a custom channel: the message and up to 50 endpoints."""
    event = {
        "MessageConfiguration": {
            "CustomMessage": {
                "Data": "Your order has shipped and will arrive on Thursday. Track it in the app."
            }
        },
        "ApplicationId": "6f3a0c51f2d8474fb7e24b7d1c1a0e11",
        "CampaignId": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "TreatmentId": "0",
        "ActivityId": "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a49",
        "ScheduledTime": "2026-03-10T12:00:00.000Z",
        "Endpoints": {},
    }
    for i in range(endpoints):
        event["Endpoints"][f"endpoint-{i:04d}-6c1e2b9a"] = {
            "ChannelType": "CUSTOM",
            "Address": f"user-{i:04d}@example.com",
            "EndpointStatus": "ACTIVE",
            "OptOut": "NONE",
            "EffectiveDate": "2026-03-01T08:30:00.000Z",
            "Demographic": {"Platform": "web", "Locale": "en_US"},
            "Attributes": {"Tier": ["gold"]},
            "User": {
                "UserId": str(uuid.UUID(int=i)),
                "UserAttributes": {
                    "facebookMessengerPsid": [f"16675663866{i:05d}"],
                    "FirstName": ["Alex"],
                },
            },
        }
    return json.dumps(event).encode()


async def measure(style: str, seconds: float, work: Path) -> float:
    code_dir = work / f"code-{style}"
    code_dir.mkdir()
    (code_dir / "index.js").write_text(HANDLERS[style])
    spec = Spec(
        function_name="bench-noop",
        function_arn=ARN,
        runtime="nodejs20.x",
        handler="index.handler",
        command=command_for("nodejs20.x"),
        code_dir=code_dir,
        timeout_s=30,
        memory_mb=128,
        variables={"AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING": "1"},
        region="us-east-1",
        revision="bench",
    )
    pool = Pool(spec, 2, work / f"envs-{style}")
    event = campaign_event()
    counts = [0, 0]

    async def caller(index: int, until: float) -> None:
        while time.perf_counter() < until:
            result = await pool.invoke(str(uuid.uuid4()), event, ARN)
            if result.error:
                raise RuntimeError(result.payload.decode())
            counts[index] += 1

    try:
        # Warm up: both environments started, JIT settled.
        await asyncio.gather(
            caller(0, time.perf_counter() + 0.5), caller(1, time.perf_counter() + 0.5)
        )
        counts[:] = [0, 0]
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(caller(0, until), caller(1, until))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return sum(counts) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--style", choices=["async", "callback", "both"], default="both")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        uvloop = None
    styles = ["async", "callback"] if args.style == "both" else [args.style]
    print(
        f"payload: {len(campaign_event())} bytes, 50 endpoints; event loop: {'uvloop' if uvloop else 'asyncio'}"
    )
    with tempfile.TemporaryDirectory(prefix="tidings-bench-") as tmp:
        for style in styles:
            runner = uvloop.run if uvloop else asyncio.run
            rate = runner(measure(style, args.seconds, Path(tmp)))
            print(
                f"{style} no-op handler: {rate:,.0f} invocations/s (pool limit 2, 2 callers, {args.seconds:g} s)"
            )


if __name__ == "__main__":
    main()
