"""The webhook custom channel: a campaign batch POSTed to an https URL.

Pinpoint documents only that it "sends endpoint data" to a webhook, so the delivery call
is our contract, stated here:

- ``POST <DeliveryUri>`` with ``Content-Type: application/json``, ``User-Agent:
  Tidings/<version>`` and the body of the Lambda event (at most 50 endpoints).
- Any 2xx answer delivers the whole batch. 429, 5xx, timeouts and connection errors are
  worth another attempt; other answers (4xx, and 3xx: redirects are not followed) are not.
  A failed attempt is reported (in the activity's ``ExecutionMetrics.Message``) by status
  and standard reason phrase only: the receiver's body is quoted only when the operator
  starts the server with ``--webhook-error-bodies``.
- Connections go only to addresses ``tidings.domain.addresses`` allows, checked on the
  address actually connected to (``tidings.outbound``).
- ``Idempotency-Key: <batch key>``: the same on every attempt of a batch, also after a
  crash, so a receiver can drop repeats (delivery is at least once).

Signing is an engine extension (Pinpoint documents none; receivers may ignore it) that
follows the Standard Webhooks specification, so receivers verify with its libraries:

    webhook-id: <batch key>              (the Idempotency-Key, covered by the signature)
    webhook-timestamp: <unix seconds>    (of this attempt)
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">

keyed with the decoded bytes of the application's ``whsec_`` secret
(``tidings.store.secrets``). While a rotation's overlap lasts the header holds one
``v1,...`` per secret, space-separated; any one matching is enough.

Deprecated, sent for this release only: ``X-Tidings-Signature: t=<timestamp>,v1=<hex
HMAC-SHA256 of "<timestamp>." + body>`` (one ``v1=`` per secret), the scheme before the
standard, with the same keys.

Ownership check (Pinpoint's documented behaviour): before a campaign may name a webhook,
the URL must answer a ``HEAD`` request with the header ``X-Amz-Pinpoint-AccountId`` set to
the account id. :func:`check_ownership` does that; ``tidings serve
--no-webhook-ownership-check`` turns it off. Whatever goes wrong (no such header, an error
status, a refused connection, a timeout, a TLS failure), the caller hears the same message,
so the check cannot be used to map which ports answer; the server's log says which it was.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import hmac
import http
import http.client
import logging
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from types import TracebackType

import aiohttp

from tidings import __version__
from tidings.channels import Attempt
from tidings.domain.errors import InvalidInput
from tidings.domain.webhook_secrets import secret_key
from tidings.outbound import AddressRefused, VettingResolver, opener, refusal_hint, socket_factory

log = logging.getLogger("tidings.webhooks")

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
LEGACY_SIGNATURE_HEADER = "X-Tidings-Signature"  # deprecated: sent for this release only
IDEMPOTENCY_HEADER = "Idempotency-Key"
OWNERSHIP_HEADER = "X-Amz-Pinpoint-AccountId"
USER_AGENT = f"Tidings/{__version__}"
DELIVERY_URI_MEMBER = "WriteCampaignRequest.CustomDeliveryConfiguration.DeliveryUri"

# With --webhook-error-bodies, bodies of error answers are quoted in the reason, cut to this
# many bytes.
_QUOTED_BODY_BYTES = 200


# --- signing ---------------------------------------------------------------------------


def delivery_headers(secrets: Sequence[str], body: bytes, idempotency_key: str) -> dict[str, str]:
    """The headers our contract adds to one delivery attempt: the batch's key, and the
    signatures of ``body`` sent now with each of ``secrets``."""
    timestamp = int(time.time())
    keys = [secret_key(secret) for secret in secrets]
    return {
        ID_HEADER: idempotency_key,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: _standard_signature(keys, idempotency_key, timestamp, body),
        LEGACY_SIGNATURE_HEADER: _legacy_signature(keys, timestamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def _standard_signature(keys: Sequence[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC>`` per key, space-separated."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode() for key in keys
    )


def _legacy_signature(keys: Sequence[bytes], timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return ",".join([f"t={timestamp}", *(f"v1={hmac.new(key, signed, hashlib.sha256).hexdigest()}" for key in keys)])


# --- delivery --------------------------------------------------------------------------


class WebhookSender:
    """POSTs deliveries over a pool of keep-alive connections.

    The aiohttp session belongs to the event loop that first uses it, so a sender is made
    once per loop (per worker) and closed with :meth:`close` when that loop is done.
    ``allow_loopback`` is the server's development flag; ``quote_error_bodies`` puts the
    start of an error answer's body in the attempt's reason (the operator's opt-in).
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        quote_error_bodies: bool = False,
        limit: int = 64,
        limit_per_host: int = 32,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._quote_error_bodies = quote_error_bodies
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> WebhookSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> Attempt:
        """One delivery attempt. Never raises for network trouble: the Attempt says what happened."""
        session = self._session_for_this_loop()
        sent_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
        try:
            async with session.post(
                url,
                data=body,
                headers=sent_headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as response:
                return await _attempt_from(response, url, quote_body=self._quote_error_bodies)
        except TimeoutError:
            return Attempt(False, True, f"no answer from {url} within {timeout_s:g} s")
        except aiohttp.InvalidURL:
            return Attempt(False, False, f"{url} is not a URL that can be posted to")
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, AddressRefused):
                # Not worth another attempt: the batch fails, nothing was sent.
                return Attempt(False, False, _refused(url, error.os_error))
            return Attempt(False, True, _connect_failure(url, error.os_error))
        except (aiohttp.ClientError, OSError) as error:
            return Attempt(False, True, f"connection to {url} failed: {_describe(error)}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None
        self._loop = None

    def _session_for_this_loop(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is not loop:
            raise RuntimeError("a WebhookSender serves one event loop; make one per loop")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._limit,
                limit_per_host=self._limit_per_host,
                ttl_dns_cache=300,
                # Idle connections carry the next batches of a run, and are dropped before
                # common servers drop them (uvicorn and Node.js after 5 s): reusing a
                # connection the receiver is closing would fail an attempt for nothing.
                keepalive_timeout=4,
                # Names with a refused address are refused whole; every socket is made for
                # an address the rules allow (literals too, which skip the resolver).
                resolver=VettingResolver(allow_loopback=self._allow_loopback),
                socket_factory=socket_factory(allow_loopback=self._allow_loopback),
            )
            # trust_env=False: deliveries go straight to the receiver, not through
            # whatever proxy the server's environment happens to name.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
            self._loop = loop
        return self._session


async def _attempt_from(response: aiohttp.ClientResponse, url: str, *, quote_body: bool) -> Attempt:
    status = response.status
    quoted = await _drain(response, keep=quote_body and not 200 <= status < 300)
    if 200 <= status < 300:
        return Attempt(True, False)
    # The standard phrase, not the receiver's: its own phrase is as much its text as a body.
    reason = f"HTTP {status} {_phrase(status)}from {url}"
    if 300 <= status < 400:
        reason += " (redirects are not followed; use the final URL as DeliveryUri)"
    if quoted:
        reason += f": {quoted}"
    return Attempt(False, status == 429 or status >= 500, reason)


async def _drain(response: aiohttp.ClientResponse, *, keep: bool) -> str:
    """Read the whole body so the connection goes back to the pool; return its start when
    ``keep`` (error answers often say why). The status is already known, so a body that
    breaks off changes nothing but the connection's reuse."""
    start = b""
    try:
        async for chunk in response.content.iter_chunked(64 * 1024):
            if keep and len(start) < _QUOTED_BODY_BYTES:
                start += chunk[: _QUOTED_BODY_BYTES - len(start)]
    except (aiohttp.ClientError, OSError, TimeoutError):
        pass
    return " ".join(start.decode("utf-8", "replace").split())


def _phrase(status: int) -> str:
    try:
        return f"{http.HTTPStatus(status).phrase} "
    except ValueError:
        return ""


def _refused(url: str, refused: AddressRefused) -> str:
    return f"nothing sent to {url}: {refused}; {refusal_hint(refused.rule)}"


def _connect_failure(url: str, os_error: OSError) -> str:
    if os_error.errno == errno.ECONNREFUSED or isinstance(os_error, ConnectionRefusedError):
        return f"connection refused by {url}"
    if isinstance(os_error, socket.gaierror):
        return f"could not resolve the host of {url}: {os_error.strerror or os_error}"
    if isinstance(os_error, ssl.SSLError):
        return f"TLS handshake with {url} failed: {_describe(os_error)}"
    return f"could not connect to {url}: {_describe(os_error)}"


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


# --- ownership check -------------------------------------------------------------------


def check_ownership(
    url: str,
    account_id: str,
    timeout_s: float = 5.0,
    *,
    member: str = DELIVERY_URI_MEMBER,
    allow_loopback: bool = False,
) -> None:
    """Raise InvalidInput unless a HEAD request on ``url`` answers 2xx with the header
    ``X-Amz-Pinpoint-AccountId: <account_id>``. Blocking: call it from a thread.

    Every failure gets the same message (see the module's notes); an address the rules
    refuse is named, since that comes from DNS, not from probing the receiver."""
    try:
        got = _ownership_answer(url, account_id, timeout_s, allow_loopback)
    except AddressRefused as refused:
        raise InvalidInput(
            f"{member} {url} is refused: {refused}; {refusal_hint(refused.rule)}", member=member
        ) from None
    if got is None:
        return
    log.info("webhook ownership check of %s failed: %s", url.split("?", 1)[0], got)  # a query may hold a token
    raise InvalidInput(
        f"Received an invalid response from the resource at {member} {url}: a HEAD request must "
        f"answer 2xx with header {OWNERSHIP_HEADER}: {account_id}; the server skips this check "
        "when started with --no-webhook-ownership-check",
        member=member,
    )


def check_new_delivery_uris(
    request: dict,
    account_id: str,
    *,
    previous: dict | None = None,
    timeout_s: float = 5.0,
    allow_loopback: bool = False,
) -> None:
    """Run the ownership check on every webhook a WriteCampaignRequest names, except those
    ``previous`` (the stored request, on update) already named: they were checked then."""
    for member, url in new_delivery_urls(request, previous).items():
        check_ownership(url, account_id, timeout_s, member=member, allow_loopback=allow_loopback)


def new_delivery_urls(request: dict, previous: dict | None) -> dict[str, str]:
    """The webhook URLs of a WriteCampaignRequest that ``previous`` did not name, each once,
    by the first member that holds it."""
    known = set(delivery_uris(previous or {}).values())
    found: dict[str, str] = {}
    for member, url in delivery_uris(request).items():
        if url.startswith(("https://", "http://")) and url not in known | set(found.values()):
            found[member] = url
    return found


def delivery_uris(request: dict) -> dict[str, str]:
    """Each DeliveryUri of a WriteCampaignRequest, by the member that holds it."""
    root = "WriteCampaignRequest"
    found: dict[str, str] = {}
    parts = [(root, request)] + [
        (f"{root}.AdditionalTreatments[{i}]", treatment)
        for i, treatment in enumerate(request.get("AdditionalTreatments") or [])
    ]
    for where, part in parts:
        uri = (part.get("CustomDeliveryConfiguration") or {}).get("DeliveryUri")
        if uri:
            found[f"{where}.CustomDeliveryConfiguration.DeliveryUri"] = uri
    return found


def _ownership_answer(url: str, account_id: str, timeout_s: float, allow_loopback: bool) -> str | None:
    """None when the answer proves ownership; otherwise what came back, for the log.
    Raises AddressRefused when the URL leads to an address the rules refuse."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": USER_AGENT})
    try:
        with opener(allow_loopback=allow_loopback).open(request, timeout=timeout_s) as response:
            status, value = response.status, response.headers.get(OWNERSHIP_HEADER)
    except urllib.error.HTTPError as error:
        # Error statuses (and refused redirects) land here; the header alone does not make
        # a 404 or a 301 a valid answer.
        error.close()
        return f"HTTP {error.code}"
    except urllib.error.URLError as error:
        if isinstance(error.reason, AddressRefused):
            raise error.reason from None
        return f"unreachable: {error.reason}"
    except (OSError, http.client.HTTPException, ValueError) as error:
        return f"unreachable: {_describe(error)}"
    if not 200 <= status < 300:
        return f"HTTP {status}"
    if value is None:
        return "no such header"
    if value.strip() != account_id:
        return f"{OWNERSHIP_HEADER}: {value.strip()}"
    return None
