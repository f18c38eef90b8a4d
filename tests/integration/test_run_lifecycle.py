"""Campaign runs around pauses, resumes, schedule changes and a stalled server: the
campaign's status, the activities' counters and what reached the channel stay right."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

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
from tidings.domain import campaigns as rules


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with store_url("sqlite", tmp_path_factory.mktemp("lifecycle")) as url:
        srv = Server(url, tmp_path_factory.mktemp("log") / "server.log").start()
        yield srv
        srv.stop()


def _setup(server, tmp_path, endpoints: int, **env: str):
    pinpoint = server.client("pinpoint")
    name, out = recording_channel(server.client("lambda"), tmp_path, "run", concurrency=1, **env)
    app_id = pinpoint.create_app(CreateApplicationRequest={"Name": "lifecycle"})["ApplicationResponse"]["Id"]
    ids = add_endpoints(pinpoint, app_id, endpoints)
    return pinpoint, name, out, app_id, ids, everyone_segment(pinpoint, app_id)


def _campaign(pinpoint, app_id: str, segment_id: str, name: str, **members) -> str:
    request = {
        "Name": "lifecycle",
        "SegmentId": segment_id,
        "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"},
        "MessageConfiguration": {"CustomMessage": {"Data": "x"}},
        "CustomDeliveryConfiguration": {"DeliveryUri": name},
        **members,
    }
    return pinpoint.create_campaign(ApplicationId=app_id, WriteCampaignRequest=request)["CampaignResponse"]["Id"]


def _status(pinpoint, app_id: str, campaign_id: str) -> str:
    return pinpoint.get_campaign(ApplicationId=app_id, CampaignId=campaign_id)["CampaignResponse"]["State"][
        "CampaignStatus"
    ]


def _pause(pinpoint, app_id: str, campaign_id: str, paused: bool) -> None:
    pinpoint.update_campaign(ApplicationId=app_id, CampaignId=campaign_id, WriteCampaignRequest={"IsPaused": paused})


def test_a_paused_activity_counts_only_what_reached_the_channel(server, tmp_path):
    pinpoint, name, out, app_id, _, segment_id = _setup(server, tmp_path, 1500, DELAY="0.3")
    campaign_id = _campaign(pinpoint, app_id, segment_id, name)
    while len(recorded(out)) < 3:
        time.sleep(0.05)
    _pause(pinpoint, app_id, campaign_id, True)
    deadline = time.monotonic() + 30
    while (activity := activities(pinpoint, app_id, campaign_id)[0])["State"] != "PAUSED":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    handed = {i for event in recorded(out) for i in event["Endpoints"]}
    assert activity["TotalEndpointCount"] == len(handed) == activity["SuccessfulEndpointCount"]


def test_resuming_before_the_run_stopped_never_completes_around_it(server, tmp_path):
    pinpoint, name, out, app_id, ids, segment_id = _setup(server, tmp_path, 300, DELAY="1")
    campaign_id = _campaign(pinpoint, app_id, segment_id, name)
    while not recorded(out):
        time.sleep(0.05)
    _pause(pinpoint, app_id, campaign_id, True)
    time.sleep(0.8)  # the engine notices the pause; the batch in flight goes on
    _pause(pinpoint, app_id, campaign_id, False)
    deadline = time.monotonic() + 60
    while True:
        status = _status(pinpoint, app_id, campaign_id)
        states = [a["State"] for a in activities(pinpoint, app_id, campaign_id)]
        assert not (status == "COMPLETED" and ("RUNNING" in states or "PENDING" in states)), states
        if status == "COMPLETED":
            break
        assert time.monotonic() < deadline, (status, states)
        time.sleep(0.1)
    assert {i for event in recorded(out) for i in event["Endpoints"]} == set(ids)


def test_pausing_a_completed_campaign_does_not_send_it_again(server, tmp_path):
    pinpoint, name, out, app_id, _, segment_id = _setup(server, tmp_path, 100)
    campaign_id = _campaign(pinpoint, app_id, segment_id, name)
    wait_for_status(pinpoint, app_id, campaign_id)
    _pause(pinpoint, app_id, campaign_id, True)
    assert _status(pinpoint, app_id, campaign_id) == "COMPLETED"
    _pause(pinpoint, app_id, campaign_id, False)
    time.sleep(2)
    assert len(activities(pinpoint, app_id, campaign_id)) == 1
    assert max(Counter(i for event in recorded(out) for i in event["Endpoints"]).values()) == 1


def test_a_schedule_written_during_a_run_applies_after_it(server, tmp_path):
    pinpoint, name, out, app_id, _, segment_id = _setup(server, tmp_path, 200, DELAY="0.5")
    campaign_id = _campaign(pinpoint, app_id, segment_id, name)
    while _status(pinpoint, app_id, campaign_id) != "EXECUTING":
        time.sleep(0.05)
    start = (datetime.now(UTC) + timedelta(seconds=6)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    pinpoint.update_campaign(
        ApplicationId=app_id,
        CampaignId=campaign_id,
        WriteCampaignRequest={"Schedule": {"StartTime": start, "Frequency": "ONCE"}},
    )
    deadline = time.monotonic() + 60
    while len(activities(pinpoint, app_id, campaign_id)) < 2:
        assert time.monotonic() < deadline, "the new schedule never ran"
        time.sleep(0.2)
    wait_for_status(pinpoint, app_id, campaign_id)
    assert sorted(a["ScheduledStart"] for a in activities(pinpoint, app_id, campaign_id))[-1] == start


def test_resuming_a_series_that_has_ended_completes_it():
    now = datetime(2026, 11, 24, 19, 0, tzinfo=UTC)
    schedule = {"StartTime": "2026-11-20T09:00:00.000Z", "Frequency": "DAILY", "EndTime": "2026-11-23T09:00:00.000Z"}
    previous = {"Schedule": schedule, "IsPaused": True}
    status, next_run, _ = rules.after_update("PAUSED", previous, {**previous, "IsPaused": False}, now, running=False)
    assert (status, next_run) == ("COMPLETED", None)


def test_a_stalled_server_that_lost_its_lease_stops_sending(tmp_path):
    """PostgreSQL, two servers: the first freezes past its lease, the second takes the run
    over, and when the first wakes it leaves the activity alone."""
    with store_url("postgresql", tmp_path) as url:
        first = Server(url, tmp_path / "first.log").start()
        second = Server(url, tmp_path / "second.log")
        try:
            pinpoint, name, out, app_id, ids, segment_id = _setup(first, tmp_path, 3000, DELAY="0.2")
            campaign_id = _campaign(pinpoint, app_id, segment_id, name)
            while len(recorded(out)) < 4:
                time.sleep(0.05)
            second.start()
            os.kill(first.process.pid, signal.SIGSTOP)
            time.sleep(17)  # longer than a lease
            os.kill(first.process.pid, signal.SIGCONT)
            wait_for_status(second.client("pinpoint"), app_id, campaign_id, timeout=200)
            [activity] = activities(second.client("pinpoint"), app_id, campaign_id)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(first.process.pid, signal.SIGCONT)
            first.stop()
            second.stop()
    keys_by_endpoint: dict[str, set[str]] = {}
    for event in recorded(out):
        for endpoint_id in event["Endpoints"]:
            keys_by_endpoint.setdefault(endpoint_id, set()).add(event["IdempotencyKey"])
    assert set(keys_by_endpoint) == set(ids)
    # Redeliveries carry the batch's key; no endpoint was planned into a second batch.
    assert all(len(keys) == 1 for keys in keys_by_endpoint.values())
    assert activity["TotalEndpointCount"] == len(ids) == activity["SuccessfulEndpointCount"]
