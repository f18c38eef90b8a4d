"""The webhook signing secret of an app (see tidings.store.secrets)."""

from __future__ import annotations

from tidings.store import apps
from tidings.store.secrets import (
    DEFAULT_OVERLAP_S,
    SigningSecrets,
    rotate_signing_secret,
    signing_secrets,
)
from tidings.wire.app import Call


def _answer(secrets: SigningSecrets) -> dict:
    answer = {"Secret": secrets.current}
    if secrets.previous_until:
        answer["PreviousSecretExpires"] = secrets.previous_until
    return answer


def get_webhook_secret(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]

    def work(conn) -> SigningSecrets:
        apps.get(conn, app_id)
        return signing_secrets(conn, call.state.sealer, app_id)

    return _answer(call.state.db.transact(work))


def rotate_webhook_secret(call: Call, params: dict) -> dict:
    app_id = params["ApplicationId"]
    overlap = params.get("OverlapSeconds", DEFAULT_OVERLAP_S)

    def work(conn) -> SigningSecrets:
        apps.get(conn, app_id)
        return rotate_signing_secret(conn, call.state.sealer, app_id, overlap_s=overlap)

    return _answer(call.state.db.transact(work))
