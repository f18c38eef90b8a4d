"""Invoke: RequestResponse, Event and DryRun."""

from __future__ import annotations

import asyncio
import base64

from tidings.api.lambda_api.common import function_name
from tidings.domain.errors import InvalidInput
from tidings.wire.app import Call


def _client_context(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True).decode()
    except ValueError:  # not base64, not ASCII text, or not UTF-8 once decoded
        raise InvalidInput("Client context must be a valid Base64-encoded JSON object.", member="ClientContext") from None


async def invoke(call: Call, params: dict) -> dict:
    functions = call.state.functions
    name = function_name(call, params)
    kind = params.get("InvocationType", "RequestResponse")
    payload = params.get("Payload") or b""
    if kind == "DryRun":
        await asyncio.to_thread(functions.load, name)
        return {"StatusCode": 204}
    if kind == "Event":
        await asyncio.to_thread(functions.enqueue, name, payload)
        functions.wake_events.set()
        return {"StatusCode": 202}
    result = await functions.invoke(
        name,
        payload,
        request_id=call.request_id,
        client_context=_client_context(params.get("ClientContext")),
    )
    return {
        "StatusCode": 200,
        "Payload": result.payload,
        "FunctionError": result.function_error,
        "LogResult": result.log_tail if params.get("LogType") == "Tail" else None,
        "ExecutedVersion": "$LATEST",
    }
