"""The webhook channel over real sockets: delivery attempts, signatures, the ownership check."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

import pytest

from tests.conftest import free_port
from tests.listeners import ConnectionRecorder
from tests.services import migrated_store
from tests.webhooks import Receiver
from tidings import __version__
from tidings.channels.webhook import (
    DELIVERY_URI_MEMBER,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookSender,
    check_ownership,
    delivery_headers,
    sign,
    verify,
)
from tidings.domain.errors import InvalidInput
from tidings.store.db import Database
from tidings.store.secrets import signing_secret

BODY = json.dumps({"ApplicationId": "a", "Endpoints": {"e1": {"ChannelType": "CUSTOM"}}}).encode()
ACCOUNT = "000000000000"


def post_once(url: str, body: bytes = BODY, headers: dict | None = None, timeout_s: float = 5.0):
    async def go():
        async with WebhookSender(allow_loopback=True) as sender:
            return await sender.post(url, body, headers or {}, timeout_s)

    return asyncio.run(go())


# --- delivery --------------------------------------------------------------------------


def test_a_2xx_answer_delivers_with_our_headers(webhook_receiver):
    headers = delivery_headers(webhook_receiver.secret, BODY, "batch-7")
    attempt = post_once(webhook_receiver.url, headers=headers)

    assert attempt.ok and not attempt.retryable
    [post] = webhook_receiver.posts
    assert post.path == "/hook"
    assert post.body == BODY
    assert post.json["Endpoints"] == {"e1": {"ChannelType": "CUSTOM"}}
    assert post.header("Content-Type") == "application/json"
    assert post.header("User-Agent") == f"Tidings/{__version__}"
    assert post.header(IDEMPOTENCY_HEADER) == "batch-7"
    assert webhook_receiver.verified(post)


def test_any_2xx_counts(webhook_receiver):
    webhook_receiver.fail_next(1, status=204)
    webhook_receiver.fail_next(1, status=202)
    assert post_once(webhook_receiver.url).ok
    assert post_once(webhook_receiver.url).ok


@pytest.mark.parametrize("status", [503, 500, 429])
def test_overload_and_server_errors_are_worth_retrying(webhook_receiver, status):
    webhook_receiver.fail_next(1, status=status)
    attempt = post_once(webhook_receiver.url)
    assert not attempt.ok and attempt.retryable
    assert attempt.reason == f"HTTP {status} {HTTPStatus(status).phrase} from {webhook_receiver.url}"


@pytest.mark.parametrize("status", [400, 404, 410])
def test_other_client_errors_are_not(webhook_receiver, status):
    webhook_receiver.fail_next(1, status=status)
    attempt = post_once(webhook_receiver.url)
    assert not attempt.ok and not attempt.retryable
    assert attempt.reason == f"HTTP {status} {HTTPStatus(status).phrase} from {webhook_receiver.url}"


def test_an_error_answer_is_reported_by_status_not_by_what_the_receiver_wrote():
    answer = b"HTTP/1.1 503 internal-reason-text\r\nContent-Length: 16\r\n\r\ninternal-details"
    with ConnectionRecorder(answer=answer) as receiver:
        attempt = post_once(receiver.url())
    assert attempt.reason == f"HTTP 503 Service Unavailable from {receiver.url()}"


def test_the_operator_may_opt_in_to_quoting_error_bodies(webhook_receiver):
    webhook_receiver.fail_next(1, status=400)

    async def go():
        async with WebhookSender(allow_loopback=True, quote_error_bodies=True) as sender:
            return await sender.post(webhook_receiver.url, BODY, {}, 5.0)

    attempt = asyncio.run(go())
    assert attempt.reason == f'HTTP 400 Bad Request from {webhook_receiver.url}: {{"received": false}}'


def test_a_slow_answer_times_out_and_is_retryable(webhook_receiver):
    webhook_receiver.delay_next(1, 3.0)
    started = time.monotonic()
    attempt = post_once(webhook_receiver.url, timeout_s=0.5)
    assert time.monotonic() - started < 2.5
    assert not attempt.ok and attempt.retryable
    assert attempt.reason == f"no answer from {webhook_receiver.url} within 0.5 s"


def test_a_closed_port_is_retryable():
    url = f"http://127.0.0.1:{free_port()}/hook"
    attempt = post_once(url)
    assert not attempt.ok and attempt.retryable
    assert attempt.reason == f"connection refused by {url}"


def test_an_unresolvable_host_is_retryable_and_does_not_raise():
    attempt = post_once("http://tidings-no-such-host.invalid/hook", timeout_s=5)
    assert not attempt.ok and attempt.retryable
    assert "tidings-no-such-host.invalid" in attempt.reason


def test_keep_alive_connections_are_reused(webhook_receiver):
    async def many():
        async with WebhookSender(allow_loopback=True) as sender:
            for _ in range(3):  # rounds of 8 at once, then 8 more reusing the pool
                results = await asyncio.gather(
                    *(sender.post(webhook_receiver.url, BODY, {}, 5.0) for _ in range(8))
                )
                assert all(a.ok for a in results)
            for _ in range(20):  # one after the other: a single connection serves them all
                assert (await sender.post(webhook_receiver.url, BODY, {}, 5.0)).ok

    asyncio.run(many())
    assert len(webhook_receiver.posts) == 44
    assert webhook_receiver.connections() <= 8


def test_error_answers_keep_the_connection_too(webhook_receiver):
    webhook_receiver.fail_next(5, status=503)

    async def sequential():
        async with WebhookSender(allow_loopback=True) as sender:
            return [await sender.post(webhook_receiver.url, BODY, {}, 5.0) for _ in range(10)]

    attempts = asyncio.run(sequential())
    assert [a.ok for a in attempts] == [False] * 5 + [True] * 5
    assert webhook_receiver.connections() == 1


def test_a_sender_belongs_to_one_loop(webhook_receiver):
    sender = WebhookSender(allow_loopback=True)
    assert asyncio.run(sender.post(webhook_receiver.url, BODY, {}, 5.0)).ok
    with pytest.raises(RuntimeError, match="one event loop"):
        asyncio.run(sender.post(webhook_receiver.url, BODY, {}, 5.0))


# --- signatures ------------------------------------------------------------------------


def test_signature_format():
    now = 1_780_000_000
    value = sign("s3cret", BODY, now)
    timestamp, digest = value.split(",")
    assert timestamp == f"t={now}"
    assert digest.startswith("v1=") and len(digest) == 3 + 64
    assert verify("s3cret", value, BODY, now=now)


def test_signature_verifies_only_with_the_secret_the_body_and_a_fresh_time(webhook_receiver):
    post_once(webhook_receiver.url, headers=delivery_headers(webhook_receiver.secret, BODY, "k"))
    [post] = webhook_receiver.posts
    header = post.header(SIGNATURE_HEADER)

    assert verify(webhook_receiver.secret, header, post.body)
    assert not webhook_receiver.verified(post, secret="not-the-secret")
    assert not verify(webhook_receiver.secret, header, post.body.replace(b'"a"', b'"b"'))
    assert not verify(webhook_receiver.secret, header, post.body, now=time.time() + 301)
    assert verify(webhook_receiver.secret, header, post.body, now=time.time() + 200)
    assert not verify(
        webhook_receiver.secret, header, post.body, tolerance_s=60, now=time.time() + 120
    )


def test_a_stale_signature_is_refused():
    old = int(time.time()) - 3600
    assert not verify("k", sign("k", BODY, old), BODY)
    assert verify("k", sign("k", BODY, old), BODY, now=old + 10)


@pytest.mark.parametrize(
    "header", ["", "garbage", "t=,v1=", "t=abc,v1=00", "v1=00", "t=<now>"]
)
def test_malformed_signatures_are_not_valid(header):
    # Test ids must not depend on the clock: pytest-xdist workers collect them separately.
    header = header.replace("<now>", str(int(time.time())))
    assert not verify("k", header, BODY)


def test_any_of_several_signatures_may_match():
    now = int(time.time())
    good = sign("new", BODY, now).split(",")[1]
    assert verify("new", f"t={now},v1={'0' * 64},{good}", BODY)


# --- ownership check -------------------------------------------------------------------


def test_ownership_check_passes_with_the_account_header(webhook_receiver):
    check_ownership(webhook_receiver.url, ACCOUNT, allow_loopback=True)
    assert webhook_receiver.heads == ["/hook"]
    assert webhook_receiver.posts == []


def ownership_failure(url: str, account: str = ACCOUNT, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_ownership(url, account, allow_loopback=True, **kwargs)
    return caught.value


def expected_refusal(url: str, member: str = DELIVERY_URI_MEMBER) -> str:
    return (
        f"Received an invalid response from the resource at {member} {url}: a HEAD request must "
        "answer 2xx with header X-Amz-Pinpoint-AccountId: 000000000000; the server skips this "
        "check when started with --no-webhook-ownership-check"
    )


def test_ownership_check_without_the_header():
    with Receiver(account_id=None) as receiver:
        error = ownership_failure(receiver.url)
    assert error.message == expected_refusal(receiver.url)
    assert error.extra["member"] == DELIVERY_URI_MEMBER


def test_ownership_check_names_the_member():
    member = "WriteCampaignRequest.AdditionalTreatments[1].CustomDeliveryConfiguration.DeliveryUri"
    with Receiver(account_id=None) as receiver:
        error = ownership_failure(receiver.url, member=member)
    assert error.message == expected_refusal(receiver.url, member)
    assert error.extra["member"] == member


@contextmanager
def failing_receiver(kind: str) -> Iterator[str]:
    """A URL whose ownership check fails in the way ``kind`` says."""
    if kind == "another account":
        with Receiver(account_id="111122223333") as receiver:
            yield receiver.url
    elif kind == "error status":
        with Receiver() as receiver:
            receiver.head_status = 404
            yield receiver.url
    elif kind == "closed port":
        yield f"http://127.0.0.1:{free_port()}/hook"
    elif kind == "silent port":  # accepts connections and never answers
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            yield f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    elif kind == "not TLS":  # an https URL on a plain-http receiver: the handshake fails
        with Receiver() as receiver:
            yield receiver.url.replace("http://", "https://")
    else:  # "not HTTP": a listener that answers garbage
        with ConnectionRecorder(answer=b"SSH-2.0-OpenSSH_9.6\r\n") as listener:
            yield listener.url()


@pytest.mark.parametrize(
    "kind", ["another account", "error status", "closed port", "silent port", "not TLS", "not HTTP"]
)
def test_every_failed_ownership_check_looks_the_same(kind):
    """A refused port, a timeout, a TLS failure and a wrong answer must not be told apart
    by the caller, or the check would map which ports answer behind the URL."""
    with failing_receiver(kind) as url:
        error = ownership_failure(url, timeout_s=0.3)
    assert error.message == expected_refusal(url)


# --- signing secrets in the store ------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store(request, tmp_path_factory) -> Iterator[Database]:
    with migrated_store(request.param, tmp_path_factory.mktemp("secrets")) as db:
        yield db


def test_a_signing_secret_is_made_once_per_app_and_rotates(store):
    app, other = uuid.uuid4().hex, uuid.uuid4().hex
    first = store.transact(lambda conn: signing_secret(conn, app))
    assert len(first) == 64 and int(first, 16) >= 0
    assert store.transact(lambda conn: signing_secret(conn, app)) == first
    with store.read() as conn:  # once made, reading it needs no write
        assert signing_secret(conn, app) == first
    assert store.transact(lambda conn: signing_secret(conn, other)) != first

    rotated = store.transact(lambda conn: signing_secret(conn, app, rotate=True))
    assert rotated != first
    assert store.transact(lambda conn: signing_secret(conn, app)) == rotated
    assert not verify(rotated, sign(first, BODY, int(time.time())), BODY)
