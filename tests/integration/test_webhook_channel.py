"""The webhook channel over real sockets: delivery attempts, signatures, the ownership check,
and the signing secrets in the store. Signatures are checked with the Standard Webhooks
library (``standardwebhooks``) or by hand, never with Tidings' own code."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import insert, select
from standardwebhooks import Webhook

from tests.conftest import free_port
from tests.listeners import ConnectionRecorder
from tests.services import migrated_store
from tests.webhooks import Receiver, random_secret
from tidings import __version__
from tidings.channels.webhook import (
    DELIVERY_URI_MEMBER,
    IDEMPOTENCY_HEADER,
    WebhookSender,
    check_ownership,
    delivery_headers,
)
from tidings.domain.errors import InvalidInput, TidingsError
from tidings.store import schema
from tidings.store.db import Database
from tidings.store.sealing import Sealer
from tidings.store.secrets import SigningSecrets, rotate_signing_secret, signing_secrets

BODY = json.dumps({"ApplicationId": "a", "Endpoints": {"e1": {"ChannelType": "CUSTOM"}}}).encode()
ACCOUNT = "000000000000"


def post_once(url: str, body: bytes = BODY, headers: dict | None = None, timeout_s: float = 5.0):
    async def go():
        async with WebhookSender(allow_loopback=True) as sender:
            return await sender.post(url, body, headers or {}, timeout_s)

    return asyncio.run(go())


# --- delivery --------------------------------------------------------------------------


def test_a_2xx_answer_delivers_with_our_headers(webhook_receiver):
    headers = delivery_headers([webhook_receiver.secret], BODY, "batch-7")
    attempt = post_once(webhook_receiver.url, headers=headers)

    assert attempt.ok and not attempt.retryable
    [post] = webhook_receiver.posts
    assert post.path == "/hook"
    assert post.body == BODY
    assert post.json["Endpoints"] == {"e1": {"ChannelType": "CUSTOM"}}
    assert post.header("Content-Type") == "application/json"
    assert post.header("User-Agent") == f"Tidings/{__version__}"
    assert post.header(IDEMPOTENCY_HEADER) == "batch-7"
    assert post.header("webhook-id") == "batch-7"
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


def hand_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def test_the_standard_headers_match_a_hand_computed_signature():
    secret = random_secret()
    headers = delivery_headers([secret], BODY, "6f1c0a2e-batch")
    timestamp = headers["webhook-timestamp"]
    assert abs(int(timestamp) - time.time()) < 5
    assert headers["webhook-id"] == headers[IDEMPOTENCY_HEADER] == "6f1c0a2e-batch"
    assert headers["webhook-signature"] == hand_signature(secret, "6f1c0a2e-batch", timestamp, BODY)


def test_the_signature_verifies_only_with_the_secret_and_the_body_sent(webhook_receiver):
    post_once(webhook_receiver.url, headers=delivery_headers([webhook_receiver.secret], BODY, "k"))
    [post] = webhook_receiver.posts

    assert webhook_receiver.verified(post)
    assert not webhook_receiver.verified(post, secret=random_secret())
    assert not webhook_receiver.verified(dataclasses.replace(post, body=post.body.replace(b'"a"', b'"b"')))
    changed_id = {**post.headers, "webhook-id": "another-batch"}
    assert not webhook_receiver.verified(dataclasses.replace(post, headers=changed_id))


def test_two_secrets_sign_side_by_side_and_either_verifies():
    old, new = random_secret(), random_secret()
    headers = delivery_headers([new, old], BODY, "k")
    first, second = headers["webhook-signature"].split(" ")
    assert first == hand_signature(new, "k", headers["webhook-timestamp"], BODY)
    assert second == hand_signature(old, "k", headers["webhook-timestamp"], BODY)
    Webhook(old).verify(BODY, headers)
    Webhook(new).verify(BODY, headers)


def test_the_deprecated_header_keeps_the_old_scheme_and_key():
    """A secret made before the standard (64 hex characters) keyed HMAC with its text; its
    whsec_ form carries the same key, so the old header is what receivers verified before."""
    legacy = os.urandom(32).hex()
    headers = delivery_headers(["whsec_" + base64.b64encode(legacy.encode()).decode()], BODY, "k")
    timestamp = headers["webhook-timestamp"]
    old_digest = hmac.new(legacy.encode(), f"{timestamp}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers["X-Tidings-Signature"] == f"t={timestamp},v1={old_digest}"


def test_a_secret_not_in_the_standard_form_is_refused():
    for secret in ["", "0" * 64, "whsec_", "whsec_not base64!"]:
        with pytest.raises(ValueError, match="secret"):
            delivery_headers([secret], BODY, "k")


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


@pytest.fixture(scope="module")
def sealer() -> Sealer:
    return Sealer(os.urandom(32))


def stored_row(store: Database, app_id: str):
    with store.read() as conn:
        return conn.execute(select(schema.signing_secrets).where(schema.signing_secrets.c.app_id == app_id)).one()


def test_a_signing_secret_is_made_once_per_app_in_the_standard_form_and_sealed(store, sealer):
    app, other = uuid.uuid4().hex, uuid.uuid4().hex
    first = store.transact(lambda conn: signing_secrets(conn, sealer, app))
    assert first.previous is None and first.previous_until is None
    assert first.current.startswith("whsec_")
    assert len(base64.b64decode(first.current.removeprefix("whsec_"), validate=True)) == 32
    Webhook(first.current)  # the standard library takes it as it is
    assert store.transact(lambda conn: signing_secrets(conn, sealer, app)) == first
    with store.read() as conn:  # once made, reading it needs no write
        assert signing_secrets(conn, sealer, app) == first
    assert store.transact(lambda conn: signing_secrets(conn, sealer, other)).current != first.current

    row = stored_row(store, app)
    assert row.secret.startswith("v1:")
    assert first.current not in row.secret and first.current.removeprefix("whsec_") not in row.secret
    with store.read() as conn, pytest.raises(TidingsError, match="master key"):
        signing_secrets(conn, Sealer(os.urandom(32)), app)


def test_rotation_keeps_the_previous_secret_for_the_overlap(store, sealer):
    app = uuid.uuid4().hex
    first = store.transact(lambda conn: signing_secrets(conn, sealer, app)).current
    rotated = store.transact(lambda conn: rotate_signing_secret(conn, sealer, app, overlap_s=3600))
    assert rotated.current != first and rotated.previous == first
    until = datetime.fromisoformat(rotated.previous_until)
    assert timedelta(seconds=3590) < until - datetime.now(UTC) <= timedelta(seconds=3600)
    assert store.transact(lambda conn: signing_secrets(conn, sealer, app)) == rotated
    assert rotated.signing_at(datetime.now(UTC)) == [rotated.current, first]
    assert rotated.signing_at(until + timedelta(seconds=1)) == [rotated.current]
    assert first not in stored_row(store, app).previous_secret

    # Rotating again drops the first; without an overlap the replaced secret stops at once.
    again = store.transact(lambda conn: rotate_signing_secret(conn, sealer, app, overlap_s=0))
    assert again.previous is None and again.signing_at(datetime.now(UTC)) == [again.current]
    with pytest.raises(ValueError, match="negative"):
        store.transact(lambda conn: rotate_signing_secret(conn, sealer, app, overlap_s=-1))


def test_an_overlap_ends(store, sealer):
    app = uuid.uuid4().hex
    store.transact(lambda conn: signing_secrets(conn, sealer, app))
    rotated = store.transact(lambda conn: rotate_signing_secret(conn, sealer, app, overlap_s=0.5))
    assert rotated.previous is not None
    time.sleep(0.6)
    assert store.transact(lambda conn: signing_secrets(conn, sealer, app)) == SigningSecrets(rotated.current)


def test_a_plain_secret_from_before_sealing_is_sealed_with_the_same_key(store, sealer):
    app, legacy = uuid.uuid4().hex, os.urandom(32).hex()
    row = {"app_id": app, "secret": legacy, "created": "2026-01-01T00:00:00.000Z"}
    store.transact(lambda conn: conn.execute(insert(schema.signing_secrets).values(row)))

    converted = store.transact(lambda conn: signing_secrets(conn, sealer, app)).current
    assert base64.b64decode(converted.removeprefix("whsec_")) == legacy.encode()
    assert stored_row(store, app).secret.startswith("v1:")
    assert legacy not in stored_row(store, app).secret
    assert store.transact(lambda conn: signing_secrets(conn, sealer, app)).current == converted
