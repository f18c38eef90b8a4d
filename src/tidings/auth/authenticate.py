"""Who sent a request: its SigV4 signature checked against the key ring."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tidings.auth import sigv4
from tidings.auth.identity import Identity
from tidings.auth.keyring import KeyRing


class Authenticator:
    def __init__(self, keys: KeyRing, region: str) -> None:
        self.keys = keys
        self.region = region

    async def identify(self, request: Request, signing_name: str, body: bytes) -> Identity:
        """The identity whose key signed ``request`` for ``signing_name``; a 403 error otherwise."""
        scope = request.scope
        signed = sigv4.Request(
            method=request.method,
            raw_path=scope.get("raw_path") or scope["path"].encode(),
            raw_query=scope.get("query_string", b""),
            # Values as the signer encoded them (UTF-8; other bytes kept as they came), so that a
            # non-ASCII value is signed over the same bytes on both sides.
            headers=[
                (name.decode("latin-1").lower(), value.decode("utf-8", "surrogateescape"))
                for name, value in scope["headers"]
            ],
            body=body,
        )
        claim = sigv4.parse(signed)
        if self.keys.cached(claim.access_key_id):
            key = self.keys.find(claim.access_key_id)
        else:
            key = await run_in_threadpool(self.keys.find, claim.access_key_id)
        if key is None:
            raise sigv4.unrecognized()
        sigv4.verify(signed, claim, key.secret, region=self.region, service=signing_name, now=datetime.now(UTC))
        return key.identity
