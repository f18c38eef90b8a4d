"""AddPermission, RemovePermission and GetPolicy: the function's resource policy."""

from __future__ import annotations

import uuid

from tidings.api.lambda_api.common import check_revision, function_name, load
from tidings.domain import functions as function_rules
from tidings.domain.errors import InvalidInput, NotFound
from tidings.store import functions as store
from tidings.store.functions import FunctionRecord
from tidings.wire.app import Call


def add_permission(call: Call, params: dict) -> dict:
    if params.get("Qualifier") == "$LATEST":
        raise InvalidInput("We currently do not support adding policies for $LATEST.", member="Qualifier")
    name = function_name(call, params)
    statement = function_rules.statement(params, call.state.functions.arn(name))

    def work(conn):
        record = load(call, conn, name, lock=True)
        check_revision(record, params.get("RevisionId"))
        policy = function_rules.add_statement(record.policy, statement)
        store.save(conn, FunctionRecord(**{**record.__dict__, "policy": policy, "revision_id": str(uuid.uuid4())}))

    call.state.db.transact(work)
    return {"Statement": function_rules.compact_json(statement)}


def remove_permission(call: Call, params: dict) -> dict:
    name = function_name(call, params)

    def work(conn):
        record = store.get(conn, name, lock=True)
        if record is None:
            raise NotFound(f"No policy found for: {call.state.functions.arn(name)}")
        check_revision(record, params.get("RevisionId"))
        policy = function_rules.remove_statement(record.policy, params["StatementId"])
        store.save(conn, FunctionRecord(**{**record.__dict__, "policy": policy, "revision_id": str(uuid.uuid4())}))

    call.state.db.transact(work)
    return {}


def get_policy(call: Call, params: dict) -> dict:
    name = function_name(call, params)
    with call.state.db.read() as conn:
        record = store.get(conn, name)
    if record is None or not record.policy:
        raise NotFound("The resource you requested does not exist.")
    return {"Policy": function_rules.compact_json(record.policy), "RevisionId": record.revision_id}
