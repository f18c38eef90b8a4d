"""Campaign KPIs and `_campaign.send` records counted from delivery rows, on SQLite and PostgreSQL.

The delivery rows are written straight into the store, as the campaign-run engine writes
them; the KPIs are computed the way GetCampaignDateRangeKpi and GetApplicationDateRangeKpi
compute them (domain rules over the store's GROUP BY counts).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.campaigns import stored_sends
from tests.conftest import Server
from tests.services import migrated_store
from tidings.domain import events as rules
from tidings.domain.common import format_date
from tidings.domain.errors import InvalidInput
from tidings.store import schema
from tidings.store import sends as store
from tidings.store.db import Database

APP, OTHER_APP = "a" * 32, "b" * 32
C1, C2 = "c1" + "0" * 30, "c2" + "0" * 30
ACCOUNT = "123456789012"
# Ten days back at noon: well inside the 90 days KPIs may look at, on two UTC days.
DAY1 = (datetime.now(UTC) - timedelta(days=10)).replace(hour=12, minute=0, second=0, microsecond=0)
DAY2 = DAY1 + timedelta(days=1)
EARLIER = DAY1 - timedelta(days=5)
RANGE = (DAY1.replace(hour=0), DAY2.replace(hour=23, minute=59, second=59))


def endpoint_doc(endpoint_id: str) -> dict:
    return {
        "ChannelType": "CUSTOM",
        "Address": f"https://example.org/{endpoint_id}",
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "Attributes": {"plan": ["pro"]},
    }


def row(app, campaign, activity, endpoint, status, at: datetime, treatment="0") -> dict:
    return {
        "app_id": app,
        "campaign_id": campaign,
        "activity_id": activity,
        "endpoint_id": endpoint,
        "treatment_id": treatment,
        "status": status,
        "reason": None if status == "SUCCESS" else f"{status.lower()} for the test",
        "batch_id": f"batch-{activity}",
        "at": format_date(at),
        "endpoint": json.dumps(endpoint_doc(endpoint)),
    }


T1 = DAY1 + timedelta(milliseconds=123)  # campaign 1, run A1
T1B = DAY1 + timedelta(hours=1)  # campaign 2, run B1: same day, an hour later
T2 = DAY2 + timedelta(seconds=5)  # campaign 1, run A2
DELIVERIES = [
    # Campaign 1, run A1 (day 1): 3 attempted (HOOK_FAILURE never reached the channel), 2 delivered.
    row(APP, C1, "act-a1", "e1", "SUCCESS", T1),
    row(APP, C1, "act-a1", "e2", "SUCCESS", T1),
    row(APP, C1, "act-a1", "e3", "CUSTOM_DELIVERY_FAILURE", T1),
    row(APP, C1, "act-a1", "e4", "HOLDOUT", T1),
    row(APP, C1, "act-a1", "e5", "QUIET_TIME", T1),
    row(APP, C1, "act-a1", "e6", "HOOK_FAILURE", T1),
    # Campaign 1, run A2 (day 2): 4 attempted, 2 delivered; e1 is reached again.
    row(APP, C1, "act-a2", "e1", "SUCCESS", T2, treatment="1"),
    row(APP, C1, "act-a2", "e3", "SUCCESS", T2, treatment="1"),
    row(APP, C1, "act-a2", "e7", "FAILURE", T2, treatment="1"),
    row(APP, C1, "act-a2", "e8", "THROTTLED", T2, treatment="1"),
    # Campaign 1, run A0, five days before the range.
    row(APP, C1, "act-a0", "e10", "SUCCESS", EARLIER),
    # Campaign 2, run B1 (day 1).
    row(APP, C2, "act-b1", "e1", "SUCCESS", T1B),
    row(APP, C2, "act-b1", "e9", "SUCCESS", T1B),
    # Another application's delivery never counts.
    row(OTHER_APP, C1, "act-x", "e1", "SUCCESS", T1),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request, tmp_path_factory) -> Iterator[Database]:
    with migrated_store(request.param, tmp_path_factory.mktemp("kpis")) as database:
        yield from _filled(database)


def _filled(database: Database) -> Iterator[Database]:
    created = format_date(EARLIER - timedelta(days=1))
    with database.write() as conn:
        # Rows as the API would have written them: the CLI checks the app and campaign exist.
        conn.execute(
            schema.apps.insert(),
            [{"id": app_id, "name": "kpis", "creation_date": created, "settings": {},
              "settings_modified": created} for app_id in (APP, OTHER_APP)],
        )  # fmt: skip
        conn.execute(
            schema.campaigns.insert(),
            [{"app_id": APP, "id": campaign_id, "version": 1, "status": "COMPLETED",
              "creation_date": created} for campaign_id in (C1, C2)],
        )  # fmt: skip
        # The endpoints, as the API stored them: a batch's successes list their ids only,
        # and their `_campaign.send` records carry the stored endpoint.
        conn.execute(
            schema.endpoints.insert(),
            [{"app_id": app_id, "id": f"e{i}", "endpoint_status": "ACTIVE", "opt_out": "NONE", "cohort_id": 0,
              "creation_date": created, "effective_date": created, "doc": endpoint_doc(f"e{i}")}
             for app_id in (APP, OTHER_APP) for i in range(1, 11)],
        )  # fmt: skip
        store.add_records(conn, stored_sends(DELIVERIES))
    yield database


def kpi(db: Database, name: str, campaign_id: str | None = None, span=RANGE) -> list[dict]:
    """KpiResult rows as the KPI operations compute them."""
    found = rules.find_kpi(name, application=campaign_id is None)
    start, end = rules.date_range(*span, datetime.now(UTC))
    with db.read() as conn:
        counts = store.delivery_counts(
            conn,
            APP,
            start=format_date(start),
            end=format_date(end),
            campaign_id=campaign_id,
            group_by=found.group_by,
        )
    return rules.kpi_result(found, counts)["Rows"]


def single(key: str, value: float) -> list[dict]:
    return [{"GroupedBys": [], "Values": [{"Key": key, "Type": "Double", "Value": str(value)}]}]


def grouped(group_key: str, key: str, groups: list[tuple[str, float]]) -> list[dict]:
    return [
        {
            "GroupedBys": [{"Key": group_key, "Type": "String", "Value": group}],
            "Values": [{"Key": key, "Type": "Double", "Value": str(value)}],
        }
        for group, value in groups
    ]


D1, D2 = DAY1.strftime("%Y-%m-%d"), DAY2.strftime("%Y-%m-%d")

CAMPAIGN_KPIS = {
    "successful-delivery-rate": single("SuccessfulDeliveryRate", 4 / 7),
    "successful-delivery-rate-grouped-by-campaign-activity": grouped(
        "CampaignActivityId", "SuccessfulDeliveryRate", [("act-a1", 2 / 3), ("act-a2", 0.5)]
    ),
    "successful-delivery-rate-grouped-by-date": grouped(
        "Date", "SuccessfulDeliveryRate", [(D1, 2 / 3), (D2, 0.5)]
    ),
    # e1, e2 and e3: e1 delivered by both runs counts once.
    "unique-deliveries": single("UniqueDeliveries", 3.0),
    "unique-deliveries-grouped-by-campaign-activity": grouped(
        "CampaignActivityId", "UniqueDeliveries", [("act-a1", 2.0), ("act-a2", 2.0)]
    ),
    "unique-deliveries-grouped-by-date": grouped(
        "Date", "UniqueDeliveries", [(D1, 2.0), (D2, 2.0)]
    ),
    "successful-deliveries-grouped-by-campaign-activity": grouped(
        "CampaignActivityId", "SuccessfulDeliveries", [("act-a1", 2.0), ("act-a2", 2.0)]
    ),
    "attempted-deliveries-grouped-by-campaign-activity": grouped(
        "CampaignActivityId", "AttemptedDeliveries", [("act-a1", 3.0), ("act-a2", 4.0)]
    ),
}

APPLICATION_KPIS = {
    "successful-delivery-rate": single("SuccessfulDeliveryRate", 6 / 9),
    "successful-delivery-rate-grouped-by-campaign": grouped(
        "CampaignId", "SuccessfulDeliveryRate", [(C1, 4 / 7), (C2, 1.0)]
    ),
    "successful-delivery-rate-grouped-by-date": grouped(
        "Date", "SuccessfulDeliveryRate", [(D1, 4 / 5), (D2, 0.5)]
    ),
    "unique-deliveries": single("UniqueDeliveries", 4.0),
    "unique-deliveries-grouped-by-campaign": grouped(
        "CampaignId", "UniqueDeliveries", [(C1, 3.0), (C2, 2.0)]
    ),
    "unique-deliveries-grouped-by-date": grouped(
        "Date", "UniqueDeliveries", [(D1, 3.0), (D2, 2.0)]
    ),
    "successful-deliveries-grouped-by-campaign": grouped(
        "CampaignId", "SuccessfulDeliveries", [(C1, 4.0), (C2, 2.0)]
    ),
    "attempted-deliveries-grouped-by-campaign": grouped(
        "CampaignId", "AttemptedDeliveries", [(C1, 7.0), (C2, 2.0)]
    ),
    "attempted-deliveries-grouped-by-campaign-activity": grouped(
        "CampaignActivityId",
        "AttemptedDeliveries",
        [("act-a1", 3.0), ("act-b1", 2.0), ("act-a2", 4.0)],
    ),
}


@pytest.mark.parametrize("name", sorted(CAMPAIGN_KPIS))
def test_campaign_kpi(db, name):
    assert kpi(db, name, C1) == CAMPAIGN_KPIS[name]


@pytest.mark.parametrize("name", sorted(APPLICATION_KPIS))
def test_application_kpi(db, name):
    assert kpi(db, name) == APPLICATION_KPIS[name]


def test_channel_kpis_custom_channels_never_produce_are_zero(db):
    zero = [k for k in rules.KPIS.values() if k.measure == "none"]
    assert {k.name for k in zero} >= {
        "email-open-rate",
        "hard-bounce-rate",
        "sms-spend",
        "push-open-rate",
    }
    for found in zero:
        rows = kpi(db, found.name)
        assert rows == ([] if found.group_by else single(found.value_key, 0.0)), found.name


def test_every_kpi_a_campaign_supports_is_answered(db):
    # Nothing raises, and grouped KPIs carry their group key on every row.
    for name in rules.supported_kpis(application=False):
        found = rules.find_kpi(name, application=False)
        for result_row in kpi(db, name, C1):
            keys = [g["Key"] for g in result_row["GroupedBys"]]
            assert keys == ([found.group_by] if found.group_by else []), name
            assert [v["Type"] for v in result_row["Values"]] == ["Double"]
            float(result_row["Values"][0]["Value"])


def test_date_range_filters_inclusively(db):
    # The earlier run joins when the range reaches back to it.
    wide = (EARLIER.replace(hour=0), RANGE[1])
    assert kpi(db, "unique-deliveries", C1, wide) == single("UniqueDeliveries", 4.0)
    assert [
        r["GroupedBys"][0]["Value"] for r in kpi(db, "unique-deliveries-grouped-by-date", C1, wide)
    ] == [
        EARLIER.strftime("%Y-%m-%d"),
        D1,
        D2,
    ]
    # Both ends are inclusive, to the millisecond.
    assert kpi(db, "attempted-deliveries-grouped-by-campaign-activity", C1, (T1, T2)) == grouped(
        "CampaignActivityId", "AttemptedDeliveries", [("act-a1", 3.0), ("act-a2", 4.0)]
    )
    just_after = (T1 + timedelta(milliseconds=1), T2 - timedelta(milliseconds=1))
    assert kpi(db, "attempted-deliveries-grouped-by-campaign-activity", C1, just_after) == []
    # A range with no attempts: the single value is zero, grouped KPIs have no rows.
    quiet = (DAY2 + timedelta(days=2), DAY2 + timedelta(days=3))
    assert kpi(db, "successful-delivery-rate", C1, quiet) == single("SuccessfulDeliveryRate", 0.0)
    assert kpi(db, "unique-deliveries", C1, quiet) == single("UniqueDeliveries", 0.0)
    assert kpi(db, "unique-deliveries-grouped-by-date", C1, quiet) == []


def test_date_range_rules():
    now = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert rules.date_range(None, None, now) == (now - timedelta(days=31), now)
    start = now - timedelta(days=40)
    assert rules.date_range(start, None, now) == (start, start + timedelta(days=31))
    assert rules.date_range(None, now - timedelta(days=1), now)[0] == now - timedelta(days=32)
    assert rules.date_range(now + timedelta(days=1), None, now) == (now + timedelta(days=1),) * 2
    with pytest.raises(InvalidInput, match="at most 31 days"):
        rules.date_range(now - timedelta(days=32), now, now)
    with pytest.raises(InvalidInput, match="90 days"):
        rules.date_range(now - timedelta(days=91), now - timedelta(days=80), now)
    with pytest.raises(InvalidInput, match="after EndTime"):
        rules.date_range(now, now - timedelta(days=1), now)


def test_unknown_kpi_names_list_the_supported_ones():
    with pytest.raises(InvalidInput) as caught:
        rules.find_kpi("opens-by-moon-phase", application=False)
    assert "unique-deliveries-grouped-by-date" in caught.value.message
    assert "-grouped-by-campaign," not in caught.value.message
    with pytest.raises(InvalidInput, match="GetApplicationDateRangeKpi"):
        rules.find_kpi("unique-deliveries-grouped-by-campaign", application=False)


def test_send_record_of_a_delivery(db):
    with db.read() as conn:
        first = next(store.send_events(conn, APP, C1, "act-a1"))
    assert first["endpoint_id"] == "e1"
    record = rules.send_record(first, account_id=ACCOUNT)
    millis = int(DAY1.timestamp()) * 1000 + 123
    assert record == {
        "event_type": "_campaign.send",
        "event_timestamp": millis,
        "arrival_timestamp": millis,
        "event_version": "3.1",
        "application": {"app_id": APP, "sdk": {}},
        "client": {"client_id": "e1"},
        "device": {"platform": {}},
        "session": {},
        "attributes": {
            "campaign_id": C1,
            "treatment_id": "0",
            "campaign_activity_id": "act-a1",
            "delivery_type": "CUSTOM",
            "campaign_send_status": "SUCCESS",
        },
        "client_context": {"custom": {"endpoint": record["client_context"]["custom"]["endpoint"]}},
        "awsAccountId": ACCOUNT,
    }
    # The endpoint travels as a JSON string, as Pinpoint streams it.
    assert json.loads(record["client_context"]["custom"]["endpoint"]) == endpoint_doc("e1")
    assert (
        rules.send_record(first, account_id=ACCOUNT, arrival_ms=millis + 40)["arrival_timestamp"]
        == millis + 40
    )


def test_send_events_stream_in_a_stable_order_across_pages(db):
    everything = list(store.send_events(db, APP))
    assert len(everything) == sum(1 for d in DELIVERIES if d["app_id"] == APP)
    keys = [(d["at"], d["activity_id"], d["endpoint_id"]) for d in everything]
    assert keys == sorted(keys)
    assert list(store.send_events(db, APP, page_size=2)) == everything
    assert list(store.send_events(db, APP, limit=5, page_size=2)) == everything[:5]
    assert list(store.send_events(db, APP, after=keys[4], page_size=3)) == everything[5:]
    assert [d["endpoint_id"] for d in store.send_events(db, APP, C1, "act-a2")] == [
        "e1",
        "e3",
        "e7",
        "e8",
    ]
    assert {d["campaign_id"] for d in store.send_events(db, APP, C2)} == {C2}


@pytest.fixture(scope="module")
def served(db, tmp_path_factory) -> Iterator[Server]:
    """A server on the filled store: the CLI reads the records through ListSendRecords."""
    server = Server(db.url, tmp_path_factory.mktemp("kpis-server") / "server.log", TIDINGS_ACCOUNT_ID=ACCOUNT)
    yield server.start()
    server.stop()


def sends(server: Server, *args: str) -> subprocess.CompletedProcess:
    return server.tidings("events", "sends", *args, cwd=server.log_path.parent)


def test_cli_prints_one_send_record_per_line(db, served):
    done = sends(served, APP, "--campaign", C1)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    expected = [rules.send_record(d, account_id=ACCOUNT) for d in store.send_events(db, APP, C1)]
    assert records == expected
    assert len(records) == 11
    assert {r["attributes"]["campaign_send_status"] for r in records} >= {
        "SUCCESS",
        "HOLDOUT",
        "HOOK_FAILURE",
    }

    done = sends(served, APP, "--activity", "act-a2", "--limit", "3")
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["client"]["client_id"] for line in done.stdout.splitlines()] == [
        "e1",
        "e3",
        "e7",
    ]


def test_cli_names_what_is_missing(served):
    done = sends(served, "f" * 32)
    assert done.returncode == 1
    assert "f" * 32 in done.stderr and "does not exist" in done.stderr
    done = sends(served, APP, "--campaign", "nope")
    assert done.returncode == 1
    assert "'nope'" in done.stderr
