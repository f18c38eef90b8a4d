"""The webhook signing secret of an app."""

from __future__ import annotations

from tidings.store import apps
from tidings.store.secrets import signing_secret
from tidings.wire.app import Call


def _secret(call: Call, app_id: str, *, rotate: bool) -> dict:
    def work(conn) -> str:
        apps.get(conn, app_id)
        return signing_secret(conn, app_id, rotate=rotate)

    return {"Secret": call.state.db.transact(work)}


def get_webhook_secret(call: Call, params: dict) -> dict:
    return _secret(call, params["ApplicationId"], rotate=False)


def rotate_webhook_secret(call: Call, params: dict) -> dict:
    return _secret(call, params["ApplicationId"], rotate=True)
