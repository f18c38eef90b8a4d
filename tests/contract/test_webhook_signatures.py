"""Webhook deliveries of campaign runs are signed by the Standard Webhooks scheme.

A server of its own trusts a throwaway CA (``SSL_CERT_FILE``, which the TLS contexts of the
server's HTTP clients load), and the receiver serves https with a certificate from that CA,
so deliveries go over real TLS. Every signature is checked with the standard's Python
library (``standardwebhooks``) against the secret ``tidings webhooks secret`` prints.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import trustme
from sqlalchemy import insert, select

from tests.campaigns import activities, add_endpoints, run_custom_campaign
from tests.conftest import Server
from tests.services import BACKENDS, read_store, store_url
from tests.webhooks import Receiver, webhook_secret
from tidings.store import schema
from tidings.store.db import Database


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Tidings webhook tests")


@pytest.fixture(scope="module", params=BACKENDS)
def tls_server(request, ca, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("tls-server")
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with store_url(request.param, folder) as url:
        server = Server(url, folder / "server.log", SSL_CERT_FILE=str(ca_file)).start()
        yield server
        server.stop()


@pytest.fixture
def pinpoint(tls_server):
    return tls_server.client("pinpoint")


@pytest.fixture
def app_id(pinpoint) -> str:
    return pinpoint.create_app(CreateApplicationRequest={"Name": "signed"})["ApplicationResponse"]["Id"]


@pytest.fixture
def receiver(ca) -> Iterator[Receiver]:
    with Receiver(ca=ca) as receiver:
        yield receiver


def posts_of(receiver: Receiver, campaign_id: str) -> list:
    return [post for post in receiver.posts if post.json["CampaignId"] == campaign_id]


def test_every_post_of_a_run_verifies_over_tls_with_the_printed_secret(tls_server, pinpoint, app_id, receiver):
    add_endpoints(pinpoint, app_id, 120)
    receiver.fail_next(1, status=503)  # one batch is tried twice
    assert receiver.url.startswith("https://127.0.0.1:")

    campaign_id = run_custom_campaign(pinpoint, app_id, receiver.url, data="signed")

    posts = posts_of(receiver, campaign_id)
    assert len(posts) == 3 + 1
    receiver.secret = webhook_secret(tls_server, app_id)
    assert receiver.secret.startswith("whsec_")
    assert all(receiver.verified(post) for post in posts)
    for post in posts:
        assert post.header("webhook-id") == post.header("Idempotency-Key") == post.json["IdempotencyKey"]
        assert len(post.header("webhook-signature").split(" ")) == 1
    # The failed attempt and its retry are one message: the same webhook-id.
    failed = next(post for post in posts if post.status == 503)
    retries = [p for p in posts if p.header("webhook-id") == failed.header("webhook-id")]
    assert [p.status for p in retries] == [503, 200]
    assert int(retries[1].header("webhook-timestamp")) >= int(retries[0].header("webhook-timestamp"))
    [activity] = activities(pinpoint, app_id, campaign_id)
    assert activity["SuccessfulEndpointCount"] == 120

    tampered = dataclasses.replace(posts[-1], body=posts[-1].body.replace(b'"signed"', b'"forged"'))
    assert tampered.body != posts[-1].body
    assert not receiver.verified(tampered)


def test_the_stored_secret_is_sealed(tls_server, app_id):
    secret = webhook_secret(tls_server, app_id)
    table = schema.signing_secrets
    stored = read_store(tls_server.database_url, lambda conn: conn.execute(
        select(table.c.secret).where(table.c.app_id == app_id)
    ).scalar_one())  # fmt: skip
    assert stored != secret
    assert secret.removeprefix("whsec_") not in stored


def test_during_an_overlap_both_secrets_verify_and_after_it_only_the_new(tls_server, pinpoint, app_id, receiver):
    add_endpoints(pinpoint, app_id, 60)
    old = webhook_secret(tls_server, app_id)
    new = webhook_secret(tls_server, app_id, "--rotate", "--overlap", "3600")
    assert new != old and webhook_secret(tls_server, app_id) == new

    overlapping = posts_of(receiver, run_custom_campaign(pinpoint, app_id, receiver.url, data="signed"))
    assert len(overlapping) == 2
    for post in overlapping:
        assert len(post.header("webhook-signature").split(" ")) == 2
        assert receiver.verified(post, secret=old) and receiver.verified(post, secret=new)

    newest = webhook_secret(tls_server, app_id, "--rotate", "--overlap", "2")
    time.sleep(2.2)  # the overlap ends
    after = posts_of(receiver, run_custom_campaign(pinpoint, app_id, receiver.url, data="signed"))
    assert len(after) == 2
    for post in after:
        assert len(post.header("webhook-signature").split(" ")) == 1
        assert receiver.verified(post, secret=newest)
        assert not receiver.verified(post, secret=new)
        assert not receiver.verified(post, secret=old)


def test_overlap_without_rotate_is_refused(tls_server, app_id):
    done = subprocess.run(
        [sys.executable, "-m", "tidings", "webhooks", "secret", app_id, "--overlap", "60"],
        env=tls_server.env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "--overlap" in done.stderr and "only with --rotate" in done.stderr


def test_a_secret_from_before_the_standard_keeps_verifying(tls_server, pinpoint, app_id, receiver):
    """A plain hex secret left by an earlier release is sealed on first use as the whsec_
    form of the same key: the old header still verifies with the hex secret, the standard
    headers with the printed whsec_ secret."""
    legacy = os.urandom(32).hex()
    row = {"app_id": app_id, "secret": legacy, "created": "2026-01-01T00:00:00.000Z"}
    db = Database(tls_server.database_url)
    try:
        db.transact(lambda conn: conn.execute(insert(schema.signing_secrets).values(row)))
    finally:
        db.dispose()
    add_endpoints(pinpoint, app_id, 10)

    [post] = posts_of(receiver, run_custom_campaign(pinpoint, app_id, receiver.url, data="signed"))

    assert receiver.verified(post, secret=webhook_secret(tls_server, app_id))
    timestamp = post.header("webhook-timestamp")
    old_digest = hmac.new(legacy.encode(), f"{timestamp}.".encode() + post.body, hashlib.sha256).hexdigest()
    assert post.header("X-Tidings-Signature") == f"t={timestamp},v1={old_digest}"
