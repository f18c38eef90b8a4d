"""CreateFunction, GetFunction, ListFunctions, updates, DeleteFunction and concurrency."""

from __future__ import annotations

import asyncio
import uuid

from tidings.api.lambda_api.common import (
    check_revision,
    code_location,
    configuration,
    function_name,
    load,
)
from tidings.domain import functions as function_rules
from tidings.domain.errors import Conflict, InvalidInput
from tidings.functions.code import check_archive
from tidings.functions.runtimes import command_for
from tidings.functions.service import sha256_hex
from tidings.store import functions as store
from tidings.store.functions import FunctionRecord
from tidings.wire.app import Call

# CreateFunction members that are not configuration.
_NOT_CONFIG = ("FunctionName", "Code", "Publish", "Tags", "PublishTo")
ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100
MAX_LIST_ITEMS = 50


def _zip(code: dict, member: str) -> bytes:
    if "ZipFile" not in code:
        raise InvalidInput(
            f"{member}: Tidings takes function code as ZipFile; S3 locations and container images are not supported",
            member=member,
        )
    return code["ZipFile"]


def _check(config: dict) -> None:
    function_rules.check_configuration(config)
    command_for(config["Runtime"])  # refuses runtimes this machine cannot run


def create_function(call: Call, params: dict) -> dict:
    name = params["FunctionName"]
    function_rules.check_name(name)
    function_rules.check_no_publish(params)
    package = check_archive(_zip(params["Code"], "Code.ZipFile"))
    config = {k: v for k, v in params.items() if k not in _NOT_CONFIG}
    _check(config)
    record = FunctionRecord(
        name=name,
        config=config,
        code_sha256=sha256_hex(package.sha256),
        code_size=package.size,
        revision_id=str(uuid.uuid4()),
        last_modified=function_rules.lambda_date(),
        reserved_concurrency=None,
        policy=None,
        tags=params.get("Tags") or {},
    )

    def work(conn):
        if store.get(conn, name) is not None:
            raise Conflict(f"Function already exist: {name}")
        store.put_code(conn, record.code_sha256, package.zip_bytes)
        store.insert(conn, record)

    call.state.db.transact(work)
    return configuration(call, record)


def get_function(call: Call, params: dict) -> dict:
    name = function_name(call, params)
    with call.state.db.read() as conn:
        record = load(call, conn, name)
    result = {
        "Configuration": configuration(call, record),
        "Code": code_location(call, record),
        "Tags": record.tags or None,
    }
    if record.reserved_concurrency is not None:
        result["Concurrency"] = {"ReservedConcurrentExecutions": record.reserved_concurrency}
    return result


def get_function_configuration(call: Call, params: dict) -> dict:
    name = function_name(call, params)
    with call.state.db.read() as conn:
        return configuration(call, load(call, conn, name))


def list_functions(call: Call, params: dict) -> dict:
    version = params.get("FunctionVersion")
    if version is not None and version != "ALL":
        raise InvalidInput("FunctionVersion must be ALL when it is given", member="FunctionVersion")
    size = min(params.get("MaxItems") or MAX_LIST_ITEMS, MAX_LIST_ITEMS)
    if size < 1:
        raise InvalidInput("MaxItems must be at least 1", member="MaxItems")
    with call.state.db.read() as conn:
        records, marker = store.page(conn, size, params.get("Marker"))
    return {"Functions": [configuration(call, r, listing=True) for r in records], "NextMarker": marker}


def _update(call: Call, name: str, revision_id: str | None, change) -> dict:
    def work(conn):
        record = load(call, conn, name, lock=True)
        check_revision(record, revision_id)
        updated = change(conn, record)
        updated = FunctionRecord(
            **{**updated.__dict__, "revision_id": str(uuid.uuid4()), "last_modified": function_rules.lambda_date()}
        )
        store.save(conn, updated)
        store.forget_unused_code(conn)
        return updated

    return configuration(call, call.state.db.transact(work))


def update_function_code(call: Call, params: dict) -> dict:
    name = function_name(call, params)
    function_rules.check_no_publish(params)
    package = check_archive(_zip(params, "ZipFile"))
    if params.get("DryRun"):
        with call.state.db.read() as conn:
            record = load(call, conn, name)
        check_revision(record, params.get("RevisionId"))
        return configuration(call, record)

    def change(conn, record: FunctionRecord) -> FunctionRecord:
        sha = sha256_hex(package.sha256)
        store.put_code(conn, sha, package.zip_bytes)
        return FunctionRecord(**{**record.__dict__, "code_sha256": sha, "code_size": package.size})

    return _update(call, name, params.get("RevisionId"), change)


def update_function_configuration(call: Call, params: dict) -> dict:
    name = function_name(call, params)
    changes = {k: v for k, v in params.items() if k not in ("FunctionName", "RevisionId")}

    def change(conn, record: FunctionRecord) -> FunctionRecord:
        config = {**record.config, **changes}
        _check(config)
        return FunctionRecord(**{**record.__dict__, "config": config})

    return _update(call, name, params.get("RevisionId"), change)


async def delete_function(call: Call, params: dict) -> dict:
    if params.get("Qualifier") == "$LATEST":
        raise InvalidInput("$LATEST version cannot be deleted without deleting the function.", member="Qualifier")
    name = function_name(call, params)

    def work(conn):
        load(call, conn, name, lock=True)
        store.remove(conn, name)
        store.forget_unused_code(conn)

    await asyncio.to_thread(call.state.db.transact, work)
    await call.state.functions.forget(name)
    return {"StatusCode": 204}


def put_function_concurrency(call: Call, params: dict) -> dict:
    name = function_name(call, params)
    wanted = params["ReservedConcurrentExecutions"]

    def work(conn):
        record = load(call, conn, name, lock=True)
        others = store.total_reserved(conn, name)
        if others + wanted > ACCOUNT_CONCURRENCY - MIN_UNRESERVED:
            raise InvalidInput(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}].",
                member="ReservedConcurrentExecutions",
            )
        store.save(conn, FunctionRecord(**{**record.__dict__, "reserved_concurrency": wanted}))

    call.state.db.transact(work)
    return {"ReservedConcurrentExecutions": wanted}


def get_function_concurrency(call: Call, params: dict) -> dict:
    name = function_name(call, params)
    with call.state.db.read() as conn:
        record = load(call, conn, name)
    return {"ReservedConcurrentExecutions": record.reserved_concurrency}


def delete_function_concurrency(call: Call, params: dict) -> dict:
    name = function_name(call, params)

    def work(conn):
        record = load(call, conn, name, lock=True)
        store.save(conn, FunctionRecord(**{**record.__dict__, "reserved_concurrency": None}))

    call.state.db.transact(work)
    return {}
