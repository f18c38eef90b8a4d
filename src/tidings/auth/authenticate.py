"""Who sent a request: its SigV4 signature checked against the key ring."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tidings.auth import sigv4
from tidings.auth.identity import Identity
from tidings.auth.keyring import Key, KeyRing


class Authenticator:
    def __init__(self, keys: KeyRing, region: str) -> None:
        self.keys = keys
        self.region = region

    async def claim(self, request: Request) -> Claimed:
        """What a request claims, checked before its body is read: a well-formed signature by a
        key this server knows (else a 403), so that a caller without a key cannot make the
        server take in a body at all."""
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
            body=b"",
        )
        claim = sigv4.parse(signed)
        if self.keys.cached(claim.access_key_id):
            key = self.keys.find(claim.access_key_id)
        else:
            key = await run_in_threadpool(self.keys.find, claim.access_key_id)
        if key is None:
            raise sigv4.unrecognized()
        return Claimed(signed, claim, key)

    def identify(self, claimed: Claimed, signing_name: str, body: bytes) -> Identity:
        """The identity whose key signed the request for ``signing_name``; a 403 error otherwise."""
        signed = replace(claimed.signed, body=body)
        now = datetime.now(UTC)
        sigv4.verify(signed, claimed.claim, claimed.key.secret, region=self.region, service=signing_name, now=now)
        return claimed.key.identity


@dataclass(frozen=True)
class Claimed:
    signed: sigv4.Request
    claim: sigv4.Claim
    key: Key
