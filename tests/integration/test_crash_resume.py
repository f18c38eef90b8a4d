"""Kill `tidings serve` with SIGKILL in the middle of a campaign run, start it again, and
check that nothing was lost and no batch that had completed was sent again."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.campaigns import (
    activities,
    add_endpoints,
    everyone_segment,
    recorded,
    recording_channel,
    wait_for_status,
)
from tests.conftest import Server
from tests.processes import children, wait_until_gone
from tests.services import read_store, store_url
from tidings.store import schema
from tidings.store.sends import send_events

BATCHES = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    with store_url(request.param, tmp_path) as url:
        yield url


def test_sigkill_mid_run_resumes_without_loss_or_repeats(database_url, tmp_path):
    server = Server(database_url, tmp_path / "server.log").start()
    try:
        pinpoint, lambda_client = server.client("pinpoint"), server.client("lambda")
        name, out = recording_channel(lambda_client, tmp_path, "crash", concurrency=2, DELAY="0.05")
        app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "crash"})["ApplicationResponse"]["Id"]
        ids = add_endpoints(pinpoint, app_id, 50 * BATCHES)
        segment_id = everyone_segment(pinpoint, app_id)
        campaign_id = pinpoint.create_campaign(
            ApplicationId=app_id,
            WriteCampaignRequest={
                "Name": "crash",
                "SegmentId": segment_id,
                "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
                "MessageConfiguration": {"CustomMessage": {"Data": "x"}},
                "CustomDeliveryConfiguration": {"DeliveryUri": name},
            },
        )["CampaignResponse"]["Id"]

        deadline = time.monotonic() + 60
        while len(recorded(out)) < BATCHES // 4:
            assert time.monotonic() < deadline, "the run did not get going"
            time.sleep(0.02)
        helpers = children(server.process.pid)
        assert any(b"tidings.campaigns.writer" in Path(f"/proc/{pid}/cmdline").read_bytes() for pid in helpers), (
            "the run's writes should go through a helper process"
        )
        server.process.kill()  # SIGKILL: no shutdown code runs
        server.process.wait()
        # The run writer and the function environments follow their server: nothing lingers.
        wait_until_gone(helpers, "child processes")
    except BaseException:
        server.stop()
        raise

    settled_before = _settled_batches(database_url)
    assert 0 < len(settled_before) < BATCHES, "the kill should land mid-run"

    server.start()
    try:
        pinpoint = server.client("pinpoint")
        wait_for_status(pinpoint, app_id, campaign_id, timeout=120)
        [activity] = activities(pinpoint, app_id, campaign_id)
    finally:
        server.stop()

    events = recorded(out)
    sends = Counter(e["IdempotencyKey"] for e in events)
    # At least once: every endpoint got its message.
    assert {i for e in events for i in e["Endpoints"]} == set(ids)
    # A batch that had completed before the kill was not sent again.
    assert all(sends[key] == 1 for key in settled_before)
    # Repeats are whole batches with their original key and endpoints (in flight at the kill).
    by_key: dict[str, set[frozenset]] = {}
    for event in events:
        by_key.setdefault(event["IdempotencyKey"], set()).add(frozenset(event["Endpoints"]))
    assert all(len(contents) == 1 for contents in by_key.values())
    assert len(by_key) == BATCHES
    # The counters are right despite the repeats.
    assert activity["State"] == "COMPLETED" and activity["Result"] == "SUCCESS"
    assert activity["TotalEndpointCount"] == len(ids) == activity["SuccessfulEndpointCount"]
    # One send record for each endpoint, none repeated.
    assert sorted(_recorded_endpoints(database_url, app_id)) == sorted(ids)


def _settled_batches(url: str) -> set[str]:
    query = select(schema.delivery_batches.c.id).where(schema.delivery_batches.c.state == "done")
    return read_store(url, lambda conn: set(conn.execute(query).scalars()))


def _recorded_endpoints(url: str, app_id: str) -> list[str]:
    return read_store(url, lambda conn: [r["endpoint_id"] for r in send_events(conn, app_id)])
