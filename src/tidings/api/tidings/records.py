"""`_campaign.send` records of an app, a page at a time."""

from __future__ import annotations

from tidings.domain.events import send_record
from tidings.domain.paging import DEFAULT_PAGE_SIZE, decode_token, encode_token
from tidings.store import apps, campaigns
from tidings.store.sends import send_events
from tidings.wire.app import Call


def list_send_records(call: Call, params: dict) -> dict:
    app_id, campaign_id = params["ApplicationId"], params.get("CampaignId")
    size = params.get("PageSize", DEFAULT_PAGE_SIZE)
    after = decode_token(params.get("NextToken"), 3, member="NextToken", kinds=(str, str, str))
    with call.state.db.read() as conn:
        apps.get(conn, app_id)
        if campaign_id is not None:
            campaigns.head(conn, app_id, campaign_id)
        rows = list(
            send_events(
                conn, app_id, campaign_id, params.get("ActivityId"), after=tuple(after) if after else None, limit=size
            )
        )
    account = call.state.settings.account_id
    # A full page may be followed by more; the next request finds out (an empty last page).
    token = encode_token([rows[-1]["at"], rows[-1]["activity_id"], rows[-1]["endpoint_id"]]) if len(rows) == size else None
    return {"Records": [send_record(row, account_id=account) for row in rows], "NextToken": token}
