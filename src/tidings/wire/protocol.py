"""rest-json on the wire: request -> validated params dict, output dict -> response.

Params and outputs use the member names of the operation's input and output shapes, as
boto3 users know them (``CreateCampaign`` receives ``{"ApplicationId": ...,
"WriteCampaignRequest": {...}}`` and returns ``{"CampaignResponse": {...}}``).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
from botocore.model import OperationModel, Shape

from tidings.domain.errors import InvalidInput
from tidings.wire.validation import check


def parse_request(
    operation: OperationModel,
    labels: dict[str, str],
    query: dict[str, list[str]],
    headers: dict[str, str],
    body: bytes,
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    payload_name = shape.serialization.get("payload")
    body_members: dict[str, Shape] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = _from_text(member, labels[wire_name], f"{name} (path)")
        elif location == "querystring":
            if member.type_name == "map":
                continue
            values = query.get(wire_name)
            if values is not None:
                where = f"{name} (query parameter {wire_name})"
                if member.type_name == "list":
                    params[name] = [_from_text(member.member, v, where) for v in values]
                else:
                    params[name] = _from_text(member, values[-1], where)
        elif location == "header":
            value = headers.get(wire_name.lower())
            if value is not None:
                params[name] = _from_text(member, value, f"{name} (header {wire_name})")
        elif location == "headers":
            prefix = wire_name.lower()
            found = {k[len(prefix) :]: v for k, v in headers.items() if k.startswith(prefix)}
            if found:
                params[name] = found
        elif name == payload_name:
            if member.type_name in ("blob", "string"):
                params[name] = body if member.type_name == "blob" else _utf8(body, name)
            elif body.strip():
                params[name] = check(member, _decode_json(body), name)
        else:
            body_members[name] = member
    if body_members:
        document = _decode_json(body) if body.strip() else {}
        if not isinstance(document, dict):
            raise InvalidInput("The request body must be a JSON object")
        for key, value in document.items():
            if value is None:
                continue
            member = body_members.get(key)
            if member is None:
                raise InvalidInput(
                    f"Invalid value for {key}: {shape.name} has no member {key!r}", member=key
                )
            params[key] = check(member, value, key)
    for name in shape.required_members:
        if name not in params:
            member = shape.members[name]
            where = member.serialization.get("name", name)
            if name == payload_name:
                raise InvalidInput(f"Missing required request body {name}", member=name)
            raise InvalidInput(f"Missing required member {name} ({where})", member=name)
    return params


# orjson refuses documents nested deeper than this (it never recurses past it); the
# deepest Pinpoint or Lambda input shape is far shallower.
MAX_JSON_DEPTH = 1024


def _decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise InvalidInput(
                f"The request body nests JSON deeper than {MAX_JSON_DEPTH} levels, the limit"
            ) from None
        raise InvalidInput(f"The request body is not valid JSON: {exc}") from None


def _utf8(body: bytes, name: str) -> str:
    try:
        return body.decode()
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"The request body {name} is not UTF-8 text: {exc}", member=name) from None


def _from_text(shape: Shape, text: str, where: str) -> Any:
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            value: Any = int(text)
        except ValueError:
            raise InvalidInput(f"Invalid value for {where}: {text!r} is not an integer") from None
        return check(shape, value, where)
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise InvalidInput(f"Invalid value for {where}: {text!r} is not true or false")
        return text.lower() == "true"
    if kind == "jsonvalue" or shape.serialization.get("jsonvalue"):
        try:
            return orjson.loads(base64.b64decode(text, validate=True))
        except ValueError:  # bad base64 or bad JSON (JSONDecodeError is a ValueError)
            raise InvalidInput(f"Invalid value for {where}: expected base64-encoded JSON") from None
    return check(shape, text, where)


# --- responses -----------------------------------------------------------------------


def serialize_response(
    operation: OperationModel, output: dict[str, Any] | None, *, strict: bool = False
) -> tuple[int, dict[str, str], bytes, str | None]:
    """Return status, headers, body and content type for an operation's output dict."""
    status = int(operation.http.get("responseCode", 200))
    shape = operation.output_shape
    headers: dict[str, str] = {}
    if shape is None or not output:
        return status, headers, b"", None
    payload_name = shape.serialization.get("payload")
    body_doc: dict[str, Any] = {}
    body: bytes = b""
    content_type: str | None = "application/json"
    for name, value in output.items():
        if value is None:
            continue
        member = shape.members.get(name)
        if member is None:
            if strict:
                raise AssertionError(f"{operation.name} output has no member {name!r}")
            continue
        location = member.serialization.get("location")
        if location == "statusCode":
            status = int(value)
        elif location == "header":
            headers[member.serialization.get("name", name)] = str(value)
        elif location == "headers":
            prefix = member.serialization.get("name", "")
            headers.update({prefix + k: str(v) for k, v in value.items()})
        elif name == payload_name:
            if member.type_name == "blob":
                body = value if isinstance(value, bytes) else str(value).encode()
                content_type = None
            else:
                body = orjson.dumps(dump(member, value, strict))
        else:
            body_doc[name] = dump(member, value, strict)
    if body_doc:
        body = orjson.dumps(body_doc)
    return status, headers, body, content_type if body else None


def dump(shape: Shape, value: Any, strict: bool = False) -> Any:
    """Shape an output value for JSON: drop nulls, format timestamps, encode blobs."""
    kind = shape.type_name
    if kind == "structure" and shape.is_document_type:
        return value  # free-form JSON (Tidings' own model uses it for stored documents)
    if kind == "structure":
        result = {}
        members = shape.members
        for key, item in value.items():
            if item is None:
                continue
            member = members.get(key)
            if member is None:
                if strict:
                    raise AssertionError(f"{shape.name} has no member {key!r}")
                continue
            result[key] = dump(member, item, strict)
        return result
    if kind == "list":
        return [dump(shape.member, item, strict) for item in value]
    if kind == "map":
        return {k: dump(shape.value, v, strict) for k, v in value.items() if v is not None}
    if kind == "timestamp":
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return value
    if kind == "blob" and isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
