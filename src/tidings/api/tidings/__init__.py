"""Tidings' own operations (the `Tidings` service model in tidings/wire/models), by name."""

from tidings.api.tidings import records, secrets, segments

HANDLERS = {
    "GetWebhookSecret": secrets.get_webhook_secret,
    "RotateWebhookSecret": secrets.rotate_webhook_secret,
    "ListSendRecords": records.list_send_records,
    "GetSegmentPreview": segments.get_segment_preview,
}
