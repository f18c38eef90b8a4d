"""Apps (projects) and their settings."""

from __future__ import annotations

from tidings import outbound
from tidings.domain import campaigns as campaign_rules
from tidings.domain.common import new_id, now_iso
from tidings.domain.errors import InvalidInput
from tidings.domain.paging import page_size
from tidings.store import apps, campaigns, sends, tags
from tidings.wire.app import Call


def _response(call: Call, conn, row) -> dict:
    arn = call.state.app_arn(row.id)
    return {
        "Arn": arn,
        "Id": row.id,
        "Name": row.name,
        "CreationDate": row.creation_date,
        "tags": tags.of(conn, arn),
    }


def create_app(call: Call, params: dict) -> dict:
    request = params["CreateApplicationRequest"]
    name = request["Name"]
    if not name.strip():
        raise InvalidInput("CreateApplicationRequest.Name must not be empty", member="CreateApplicationRequest.Name")
    app_id, now = new_id(), now_iso()

    def work(conn):
        apps.insert(conn, app_id, name, now)
        tags.put(conn, call.state.app_arn(app_id), app_id, request.get("tags") or {})
        return _response(call, conn, apps.get(conn, app_id))

    return {"ApplicationResponse": call.state.db.transact(work)}


def get_app(call: Call, params: dict) -> dict:
    with call.state.db.read() as conn:
        return {"ApplicationResponse": _response(call, conn, apps.get(conn, params["ApplicationId"]))}


def get_apps(call: Call, params: dict) -> dict:
    size = page_size(params.get("PageSize"))
    with call.state.db.read() as conn:
        rows, token = apps.page(conn, size, params.get("Token"))
        items = [_response(call, conn, row) for row in rows]
    return {"ApplicationsResponse": {"Item": items, "NextToken": token}}


def delete_app(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]

    def work(conn):
        response = _response(call, conn, apps.get(conn, app_id, lock=True))
        apps.delete_with_contents(conn, app_id)
        return response

    return {"ApplicationResponse": call.state.db.transact(work)}


def get_application_settings(call: Call, params: dict) -> dict:
    with call.state.db.read() as conn:
        row = apps.get(conn, params["ApplicationId"])
    return {"ApplicationSettingsResource": campaign_rules.settings_response(row.id, row.settings, row.settings_modified)}


def update_application_settings(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    request = params["WriteApplicationSettingsRequest"]
    now = now_iso()
    url = (request.get("CampaignHook") or {}).get("WebUrl")
    if url:  # before the transaction: resolving a name must not hold locks
        member = "WriteApplicationSettingsRequest.CampaignHook.WebUrl"
        outbound.check_url(url, member, allow_loopback=call.state.settings.allow_http_loopback)

    def work(conn):
        row = apps.get(conn, app_id, lock=True)
        settings = campaign_rules.update_settings(row.settings, request)
        apps.save_settings(conn, app_id, settings, now)
        if "Limits" in request:  # caps the app sets may need its campaigns' sends per endpoint
            sends.index_where_rules_look(conn, app_id, settings, campaigns.latest_documents(conn, app_id))
        return campaign_rules.settings_response(app_id, settings, now)

    return {"ApplicationSettingsResource": call.state.db.transact(work)}
