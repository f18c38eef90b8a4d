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
from tests.services import store_url
from tidings.store import schema
from tidings.store.db import Database

BATCHES = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    with store_url(request.param, tmp_path) as url:
        yield url


def _helper_processes(server_pid: int) -> list[int]:
    """The server's multiprocessing helpers (function environments are other children)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


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
        helpers = _helper_processes(server.process.pid)
        assert helpers, "the run's writes should go through a helper process"
        server.process.kill()  # SIGKILL: no shutdown code runs
        server.process.wait()
        # The helper follows its server: nothing lingers holding the store.
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() and not _is_zombie(pid) for pid in helpers):
            assert time.monotonic() < deadline, f"helper processes {helpers} outlived the killed server"
            time.sleep(0.1)
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
    assert _delivery_records(database_url) == len(ids)


def _settled_batches(url: str) -> set[str]:
    db = Database(url)
    try:
        with db.read() as conn:
            query = select(schema.delivery_batches.c.id).where(schema.delivery_batches.c.state == "done")
            return set(conn.execute(query).scalars())
    finally:
        db.dispose()


def _delivery_records(url: str) -> int:
    db = Database(url)
    try:
        with db.read() as conn:
            return len(conn.execute(select(schema.deliveries.c.endpoint_id)).all())
    finally:
        db.dispose()
