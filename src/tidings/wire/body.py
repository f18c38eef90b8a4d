"""Reading a request body no further than its operation takes, and no slower than allowed."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request

from tidings.domain.errors import InvalidInput, TidingsError, TooLarge

# The longest wait for the next piece of a body (nginx's client_body_timeout rule: between
# two reads, not for the whole body, so a large upload on a slow link still arrives).
BODY_TIMEOUT_S = 10.0


class RequestTimeout(TidingsError):
    kind = "invalid"


async def read_body(
    request: Request, limit: int, operation: str, timeout_s: float = BODY_TIMEOUT_S
) -> bytes:
    """The body, refused with 413 as soon as its declared or running size passes ``limit``
    (nothing past the limit is held in memory), or with 408 when the client stalls."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInput(f"The Content-Length header {declared!r} is not a number of bytes")
        if int(declared) > limit:
            raise _too_large(limit, operation)
    chunks: list[bytes] = []
    total = 0
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout_s)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise RequestTimeout(
                f"The request body stalled: no data for {timeout_s:g} seconds after "
                f"{total} bytes",
                code="RequestTimeoutException",
                close_connection=True,
            ) from None
        except ClientDisconnect:
            raise InvalidInput(
                f"The client disconnected after sending {total} bytes of the body"
            ) from None
        total += len(chunk)
        if total > limit:
            raise _too_large(limit, operation)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int, operation: str) -> TooLarge:
    # The connection stays open: the server discards the rest of the body as it arrives
    # (holding none of it), so a client still sending reads this answer, not a reset.
    return TooLarge(f"Request must be smaller than {limit} bytes for the {operation} operation")
