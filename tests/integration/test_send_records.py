"""Send records in the store, on SQLite and PostgreSQL: converting a store that kept one
delivery row per endpoint, and removing records past their retention."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from tests.campaigns import stored_sends
from tests.services import migrated_store
from tidings.domain.common import format_date
from tidings.store import schema, sends
from tidings.store.db import Database
from tidings.store.migrate import upgrade

APP = "a" * 32
CAPPED, PLAIN = "c1" + "0" * 30, "c2" + "0" * 30
AT = format_date(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2))
CREATED = format_date(datetime.now(UTC) - timedelta(days=10))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path) -> Iterator[Database]:
    with migrated_store(request.param, tmp_path, migrate=False) as db:
        yield db


def _endpoint(endpoint_id: str) -> str:
    return json.dumps({"ChannelType": "CUSTOM", "Address": f"addr-{endpoint_id}"})


def _delivery(campaign: str, activity: str, endpoint: str, status: str, batch: str | None) -> dict:
    return {"app_id": APP, "campaign_id": campaign, "activity_id": activity, "endpoint_id": endpoint,
            "treatment_id": "0", "status": status, "reason": None if status == "SUCCESS" else "why",
            "batch_id": batch, "at": AT, "endpoint": _endpoint(endpoint)}  # fmt: skip


# What a store of the previous version holds: one row per endpoint per activity.
OLD_DELIVERIES = [
    _delivery(CAPPED, "act-1", "e1", "SUCCESS", "b1"),
    _delivery(CAPPED, "act-1", "e2", "SUCCESS", "b1"),
    _delivery(CAPPED, "act-1", "e3", "SUCCESS", "b2"),
    _delivery(CAPPED, "act-1", "e4", "CUSTOM_DELIVERY_FAILURE", "b2"),
    _delivery(PLAIN, "act-2", "e1", "SUCCESS", "b3"),
    _delivery(PLAIN, "act-2", "e5", "HOLDOUT", None),
]


def _campaign_doc(campaign_id: str, limits: dict) -> dict:
    return {"Id": campaign_id, "Limits": limits, "Schedule": {"StartTime": "IMMEDIATE", "Frequency": "ONCE"}}


def test_migration_converts_delivery_rows_into_send_records(empty_db):
    upgrade(empty_db, "0006")
    with empty_db.write() as conn:
        conn.execute(
            text("INSERT INTO apps (id, name, creation_date, settings, settings_modified) VALUES (:id, 'a', :c, '{}', :c)"),
            {"id": APP, "c": CREATED},
        )
        for campaign_id, limits in ((CAPPED, {"Total": 2}), (PLAIN, {})):
            conn.execute(
                text("INSERT INTO campaigns (app_id, id, version, status, creation_date) VALUES (:a, :i, 1, 'COMPLETED', :c)"),
                {"a": APP, "i": campaign_id, "c": CREATED},
            )
            conn.execute(
                text("INSERT INTO campaign_versions (app_id, campaign_id, version, doc) VALUES (:a, :i, 1, :d)"),
                {"a": APP, "i": campaign_id, "d": json.dumps(_campaign_doc(campaign_id, limits))},
            )
        for endpoint_id in ("e1", "e2", "e3", "e4", "e5"):
            conn.execute(
                text(
                    "INSERT INTO endpoints (app_id, id, endpoint_status, opt_out, cohort_id, creation_date, "
                    "effective_date, doc) VALUES (:a, :i, 'ACTIVE', 'NONE', 0, :c, :c, :d)"
                ),
                {"a": APP, "i": endpoint_id, "c": CREATED, "d": _endpoint(endpoint_id)},
            )
        columns = list(OLD_DELIVERIES[0])
        conn.execute(
            text(f"INSERT INTO deliveries ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"),
            OLD_DELIVERIES,
        )
        conn.execute(
            text(
                "INSERT INTO activities (app_id, campaign_id, id, run_id, campaign_version, treatment_id, state, "
                "scheduled_start, total_endpoint_count, successful_endpoint_count, failed_endpoint_count, planned, "
                "batch_count, metrics) VALUES (:a, :c, 'act-1', 'r', 1, '0', 'COMPLETED', :at, 4, 3, 1, 1, 2, '{}')"
            ),
            {"a": APP, "c": CAPPED, "at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO delivery_batches (id, app_id, campaign_id, activity_id, seq, endpoint_ids, state, "
                "attempts, created) VALUES ('b1', :a, :c, 'act-1', 0, '[\"e1\", \"e2\"]', 'done', 1, :at)"
            ),
            {"a": APP, "c": CAPPED, "at": AT},
        )

    upgrade(empty_db)

    R = schema.send_records.c
    with empty_db.read() as conn:
        stored = conn.execute(select(R.campaign_id, R.status, R.endpoint_count, R.endpoint_ids, R.endpoint)).all()
        per_endpoint = conn.execute(select(schema.endpoint_sends.c.campaign_id, schema.endpoint_sends.c.endpoint_id)).all()
        flags = dict(conn.execute(select(schema.campaigns.c.id, schema.campaigns.c.indexed_sends)).all())
        batches_left = conn.execute(select(func.count()).select_from(schema.delivery_batches)).scalar_one()
        listed = list(sends.send_events(conn, APP))
        counts = sends.delivery_counts(conn, APP, start=format_date(datetime.now(UTC) - timedelta(days=5)),
                                       end=format_date(datetime.now(UTC)))  # fmt: skip
    # The successes of a batch are one record naming them; the rest one record each.
    successes = sorted(sorted(json.loads(ids)) for _, status, _, ids, _ in stored if status == "SUCCESS")
    assert successes == [["e1"], ["e1", "e2"], ["e3"]]
    assert all(endpoint is None for _, status, _, _, endpoint in stored if status == "SUCCESS")
    others = sorted((status, json.loads(ids), endpoint) for _, status, _, ids, endpoint in stored if status != "SUCCESS")
    assert others == [("CUSTOM_DELIVERY_FAILURE", ["e4"], _endpoint("e4")), ("HOLDOUT", ["e5"], _endpoint("e5"))]
    # Only the campaign with a cap keeps its sends per endpoint.
    assert flags == {CAPPED: True, PLAIN: False}
    assert sorted(per_endpoint) == [(CAPPED, "e1"), (CAPPED, "e2"), (CAPPED, "e3"), (CAPPED, "e4")]
    assert batches_left == 0  # its activity had finished
    # Listing and counting see every endpoint as before: 6 records, 4 attempted, 3 unique.
    assert sorted((r["activity_id"], r["endpoint_id"], r["status"]) for r in listed) == sorted(
        (d["activity_id"], d["endpoint_id"], d["status"]) for d in OLD_DELIVERIES
    )
    assert all(json.loads(r["endpoint"]) == json.loads(_endpoint(r["endpoint_id"])) for r in listed)
    [total] = counts
    assert (total.attempted, total.successful, total.unique_successful) == (5, 4, 3)


def _records_at(at: str, activity: str) -> list[tuple]:
    rows = [_delivery(CAPPED, activity, f"e{i}", "SUCCESS", f"b-{activity}") for i in range(3)]
    rows.append(_delivery(CAPPED, activity, "e9", "QUIET_TIME", None))
    return stored_sends([{**row, "at": at} for row in rows])


def test_records_past_their_retention_are_removed_in_chunks(empty_db):
    upgrade(empty_db)
    old = format_date(datetime.now(UTC) - timedelta(days=100))
    recent = format_date(datetime.now(UTC) - timedelta(days=1))
    with empty_db.write() as conn:
        conn.execute(schema.apps.insert().values(id=APP, name="a", creation_date=CREATED, settings={}, settings_modified=CREATED))
        conn.execute(schema.campaigns.insert().values(app_id=APP, id=CAPPED, version=1, status="COMPLETED", creation_date=CREATED))
        conn.execute(schema.campaign_versions.insert().values(app_id=APP, campaign_id=CAPPED, version=1, doc={}))
        sends.index_campaigns(conn, APP, [CAPPED])
        sends.add_records(conn, _records_at(old, "old") + _records_at(recent, "new"))
    before = format_date(datetime.now(UTC) - timedelta(days=90))

    removed = []
    while not removed or removed[-1] == 2:
        with empty_db.write() as conn:
            removed.append(sends.prune(conn, before, 2))
    # Two records (a batch and a skip) and four per-endpoint rows were old.
    assert sum(removed) == 6 and max(removed) == 2

    with empty_db.read() as conn:
        left = {r["activity_id"] for r in sends.send_events(conn, APP)}
        per_endpoint = set(conn.execute(select(schema.endpoint_sends.c.activity_id)).scalars())
    assert left == {"new"} and per_endpoint == {"new"}
