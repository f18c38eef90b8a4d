"""Tables. Documents are stored whole as JSON (jsonb on PostgreSQL); the fields that
queries filter on are promoted to columns. Dates are Pinpoint's ISO 8601 strings
(``2026-11-24T16:08:34.123Z``), which sort in time order."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Document = JSON().with_variant(JSONB(), "postgresql")
Stamp = String(32)  # an ISO 8601 date string
Id = String(64)

apps = Table(
    "apps",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", Text, nullable=False),
    Column("creation_date", Stamp, nullable=False),
    Column("settings", Document, nullable=False),
    Column("settings_modified", Stamp, nullable=False),
    Index(None, "creation_date", "id"),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("app_id", Id, primary_key=True),
    # Byte order on PostgreSQL as on SQLite, whatever the database's collation: keyset
    # streams then come out in one order everywhere, and comparisons stay cheap.
    Column("id", Text().with_variant(Text(collation="C"), "postgresql"), primary_key=True),
    Column("channel_type", String(24)),
    Column("address", Text),
    Column("endpoint_status", String(16), nullable=False),
    Column("opt_out", String(16), nullable=False),
    Column("user_id", Text),
    Column("cohort_id", Integer, nullable=False),
    Column("creation_date", Stamp, nullable=False),
    Column("effective_date", Stamp, nullable=False),
    # The endpoint as a campaign payload carries it: everything but Id and ApplicationId.
    Column("doc", Document, nullable=False),
    Index(None, "app_id", "user_id"),
    Index(None, "app_id", "address"),
)

# Custom attribute names seen per project (Pinpoint allows 250 across the three kinds).
attribute_names = Table(
    "attribute_names",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("name", Text, primary_key=True),
)

# RemoveAttributes: names (or glob patterns) the project no longer captures.
attribute_filters = Table(
    "attribute_filters",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("pattern", Text, primary_key=True),
)

segments = Table(
    "segments",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("creation_date", Stamp, nullable=False),
)

segment_versions = Table(
    "segment_versions",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("segment_id", Id, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("doc", Document, nullable=False),  # the SegmentResponse of that version, no tags
    # Imported segments (SegmentType IMPORT): the segment_members list holding the version's
    # endpoints. Versions made by UpdateSegment keep the list of the version before them.
    Column("member_list", Id),
)

# The endpoints of imported segments, one list per import job that defined or refreshed a
# segment (list_id is the job's id): a list is written while the job runs and becomes a
# segment version's only when the job completes.
segment_members = Table(
    "segment_members",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("list_id", Id, primary_key=True),
    Column("endpoint_id", Text().with_variant(Text(collation="C"), "postgresql"), primary_key=True),
    # On SQLite the rows live in the key's own B-tree: one write per member instead of two.
    sqlite_with_rowid=False,
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("status", String(24), nullable=False),
    Column("creation_date", Stamp, nullable=False),
    Column("next_run_at", Stamp),  # when the scheduler starts the next run; null = none planned
    # Its sends are also kept per endpoint (endpoint_sends), because a cap or a local-time
    # schedule of the campaign, or the app's Daily cap, looks them up. Once set, stays set.
    Column("indexed_sends", Boolean, nullable=False, server_default=false()),
    Index(None, "next_run_at"),
)

campaign_versions = Table(
    "campaign_versions",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("campaign_id", Id, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("doc", Document, nullable=False),  # the CampaignResponse of that version, no tags/state
)

activities = Table(
    "activities",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("campaign_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("run_id", Id, nullable=False),  # the activities of one run share it
    Column("campaign_version", Integer, nullable=False),  # the campaign version the run sends
    Column("treatment_id", String(8), nullable=False),
    # PENDING -> RUNNING -> COMPLETED, or PAUSED / CANCELLED
    Column("state", String(16), nullable=False),
    Column("result", String(16)),
    Column("scheduled_start", Stamp, nullable=False),
    Column("start", Stamp),
    Column("end", Stamp),
    Column("total_endpoint_count", Integer, nullable=False),  # handed to the channel
    Column("successful_endpoint_count", Integer, nullable=False),
    Column("failed_endpoint_count", Integer, nullable=False),
    # Planning checkpoint: the last endpoint id scanned, and whether the scan is done.
    Column("cursor", Text().with_variant(Text(collation="C"), "postgresql")),
    Column("planned", Integer, nullable=False),  # 0 or 1
    # Local-time runs plan in waves, one pass over the segment each: a pass takes endpoints
    # whose local send time is in (wave_from, wave_until]; next_wave_at is the earliest later one.
    Column("wave_from", Stamp),
    Column("wave_until", Stamp),
    Column("next_wave_at", Stamp),
    Column("batch_count", Integer, nullable=False),
    Column("lease_owner", String(36)),
    Column("lease_until", Float),  # epoch seconds
    Column("metrics", Document, nullable=False),  # ExecutionMetrics: skip reasons and counts
    Column("message", Text),  # why the activity failed or paused, for people
    Index(None, "app_id", "campaign_id", "scheduled_start"),
    Index(None, "state"),
)

# A batch of at most 50 endpoints for one activity. Its id is the idempotency key the
# channel receives; a batch is written with the planning checkpoint that produced it.
delivery_batches = Table(
    "delivery_batches",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("app_id", Id, nullable=False),
    Column("campaign_id", Id, nullable=False),
    Column("activity_id", Id, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("endpoint_ids", Document, nullable=False),
    Column("state", String(16), nullable=False),  # queued, done
    Column("attempts", Integer, nullable=False),
    Column("created", Stamp, nullable=False),
    Index(None, "activity_id", "state"),
)

# What campaign runs did: the `_campaign.send` events and the source of the KPIs. A batch
# the channel accepted is one row listing its endpoint ids (a JSON array), with no copy of the
# endpoints and no per-endpoint index: most sends are never looked up one by one, and KPIs are
# sums. Every other outcome (a failure, a skip) is a row per endpoint with the endpoint as it
# was and the reason: those are few, and people read them. Rows are only ever appended, and
# removed when older than --send-records-retention-days.
send_records = Table(
    "send_records",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("app_id", Id, nullable=False),
    Column("campaign_id", Id, nullable=False),
    Column("activity_id", Id, nullable=False),
    Column("treatment_id", String(8), nullable=False),
    Column("status", String(32), nullable=False),  # campaign_send_status
    Column("reason", Text),
    Column("batch_id", String(36)),
    Column("at", Stamp, nullable=False),
    Column("endpoint_ids", Text, nullable=False),  # JSON array of endpoint ids
    Column("endpoint_count", Integer, nullable=False),
    # One endpoint's record: the endpoint as sent (or skipped), JSON text as stored: it goes
    # into the event record as a string, so it is never parsed on the way in or out.
    Column("endpoint", Text),
    Index(None, "app_id", "at", "activity_id"),
    Index(None, "app_id", "campaign_id", "at", "activity_id"),
)

# Sends kept endpoint by endpoint, only for the campaigns whose rules look them up
# (campaigns.indexed_sends): the Daily and Total caps, and local-time waves (an endpoint
# sent in one wave is not sent again in the next).
endpoint_sends = Table(
    "endpoint_sends",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("endpoint_id", Text().with_variant(Text(collation="C"), "postgresql"), primary_key=True),
    Column("activity_id", Id, primary_key=True),
    Column("campaign_id", Id, nullable=False),
    Column("status", String(32), nullable=False),
    Column("at", Stamp, nullable=False),
    Index(None, "app_id", "at"),
    sqlite_with_rowid=False,
)

# Import and export jobs. ``cursor`` is where a job has got to (for an import: the piece,
# byte offset and line reached), written in the same transaction as the endpoints it covers,
# so a restarted server resumes the job where the store says it stopped.
jobs = Table(
    "jobs",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("id", Id, primary_key=True),
    Column("type", String(8), nullable=False),  # IMPORT, EXPORT
    Column("status", String(32), nullable=False),  # CREATED -> PROCESSING -> COMPLETED / FAILED
    Column("creation_date", Stamp, nullable=False),
    Column("completion_date", Stamp),
    Column("segment_id", Id),  # the segment the job defines, refreshes or exports
    Column("definition", Document, nullable=False),  # ImportJobResource / ExportJobResource
    Column("total_pieces", Integer, nullable=False),
    Column("completed_pieces", Integer, nullable=False),
    Column("failed_pieces", Integer, nullable=False),
    Column("total_processed", Integer, nullable=False),
    Column("total_failures", Integer, nullable=False),
    Column("failures", Document, nullable=False),  # the first 100, as strings
    Column("cursor", Document),
    Column("lease_owner", String(36)),
    Column("lease_until", Float),  # epoch seconds
    Index(None, "app_id", "type", "creation_date", "id"),
    Index(None, "app_id", "segment_id"),
    Index(None, "status"),
)

# Events reported through PutEvents.
events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("app_id", Id, nullable=False),
    Column("endpoint_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("event_type", Text, nullable=False),
    Column("timestamp", Stamp, nullable=False),
    Column("arrival", Stamp, nullable=False),
    Column("doc", Document, nullable=False),  # the Event as sent
    Index(None, "app_id", "event_type", "timestamp"),
)

event_streams = Table(
    "event_streams",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("doc", Document, nullable=False),  # the EventStream response
)

# The per-app secret that signs webhook deliveries (HMAC-SHA256).
signing_secrets = Table(
    "signing_secrets",
    metadata,
    Column("app_id", Id, primary_key=True),
    Column("secret", Text, nullable=False),  # sealed (tidings.store.sealing)
    Column("created", Stamp, nullable=False),
    # While a rotation's overlap lasts, deliveries are signed with both secrets.
    Column("previous_secret", Text),
    Column("previous_until", Stamp),
)

access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", String(128), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("secret", Text, nullable=False),  # sealed (tidings.store.sealing)
    Column("policy", Text),  # an IAM identity policy, JSON text; none: the key may do nothing
    Column("is_root", Boolean, nullable=False),
    Column("created", Stamp, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    Column("arn", Text, primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("app_id", Id, nullable=False),
    Index(None, "app_id"),
)

# --- functions -------------------------------------------------------------------------

functions = Table(
    "functions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("config", Document, nullable=False),  # the FunctionConfiguration members a caller set
    Column("code_sha256", String(64), nullable=False),  # hex; the key of function_code
    Column("code_size", Integer, nullable=False),
    Column("revision_id", String(36), nullable=False),
    Column("last_modified", Stamp, nullable=False),
    Column("reserved_concurrency", Integer),
    Column("policy", Document),  # the resource policy document, or null
    Column("tags", Document, nullable=False),
)

function_code = Table(
    "function_code",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("zip", LargeBinary, nullable=False),
)

# Event (asynchronous) invocations waiting for their first or next attempt.
function_events = Table(
    "function_events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("function_name", String(64), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("due_at", Float, nullable=False),  # epoch seconds
    Column("state", String(16), nullable=False),  # queued, succeeded, failed
    Column("last_error", Text),
    Column("created", Stamp, nullable=False),
    Index(None, "state", "due_at"),
)
