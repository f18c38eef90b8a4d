"""Helpers the Lambda handlers share: resolving FunctionName, loading records, configurations."""

from __future__ import annotations

import base64
from pathlib import Path

from tidings.domain import functions as function_rules
from tidings.domain.errors import NotFound, TidingsError
from tidings.store import functions as store
from tidings.store.functions import FunctionRecord
from tidings.wire.app import Call


def function_name(call: Call, params: dict) -> str:
    """The function a request names; only the unpublished version ($LATEST) exists here."""
    settings = call.state.settings
    ref = function_rules.parse_ref(params["FunctionName"], settings.region, settings.account_id, params.get("Qualifier"))
    if ref.qualifier not in (None, "$LATEST"):
        raise NotFound(
            f"Function not found: {call.state.functions.arn(ref.name, ref.qualifier)} "
            "(Tidings has no published versions or aliases; use $LATEST)"
        )
    return ref.name


def load(call: Call, conn, name: str, *, lock: bool = False) -> FunctionRecord:
    record = store.get(conn, name, lock=lock)
    if record is None:
        raise NotFound(f"Function not found: {call.state.functions.arn(name)}")
    return record


def check_revision(record: FunctionRecord, revision_id: str | None) -> None:
    if revision_id is not None and revision_id != record.revision_id:
        raise TidingsError(
            "The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            code="PreconditionFailedException",
        )


def configuration(call: Call, record: FunctionRecord, *, listing: bool = False) -> dict:
    return function_rules.configuration(
        record.name,
        record.config,
        arn=call.state.functions.arn(record.name),
        code_sha256=_b64(record.code_sha256),
        code_size=record.code_size,
        revision_id=record.revision_id,
        last_modified=record.last_modified,
        listing=listing,
    )


def code_location(call: Call, record: FunctionRecord) -> dict:
    folder = Path(call.state.settings.data_dir).resolve() / "code" / record.code_sha256
    return {"RepositoryType": "S3", "Location": folder.as_uri()}


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()
