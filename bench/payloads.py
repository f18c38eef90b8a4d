"""Payloads shaped like the ones campaigns hand to custom channels."""

from __future__ import annotations

import orjson


def endpoint(i: int) -> dict:
    return {
        "ChannelType": "SMS",
        "Address": f"+1555{i:07d}",
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "Location": {"City": "Seattle", "Country": "US"},
        "Demographic": {"Make": "Apple", "Platform": "ios", "Locale": "en_US", "Timezone": "America/Los_Angeles"},
        "EffectiveDate": "2026-11-24T16:08:34.123Z",
        "CreationDate": "2026-10-01T09:00:00.000Z",
        "Attributes": {"plan": ["pro"], "CohortId": [str(i % 100)]},
        "User": {"UserId": f"user-{i:07d}", "UserAttributes": {"facebookMessengerPsid": ["1667566386619741"]}},
        "CohortId": str(i % 100),
    }  # fmt: skip


def campaign_payload(size: int = 50) -> bytes:
    """A DELIVERY payload with ``size`` endpoints (50 is the most Pinpoint sends at once)."""
    return orjson.dumps(
        {
            "MessageConfiguration": {"SMSMessage": {"Body": "Hello from Tidings"}},
            "Message": {"smsmessage": {"body": "Hello from Tidings"}},
            "ApplicationId": "0123456789abcdef0123456789abcdef",
            "CampaignId": "fedcba9876543210fedcba9876543210",
            "TreatmentId": "0",
            "ActivityId": "00112233445566778899aabbccddeeff",
            "ScheduledTime": "2026-11-24T16:08:34.123Z",
            "Endpoints": {f"endpoint-{i:07d}": endpoint(i) for i in range(size)},
        }
    )
