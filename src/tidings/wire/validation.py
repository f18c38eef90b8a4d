"""Check a decoded request value against its botocore shape.

Every failure names the member by its full path (``WriteCampaignRequest.Schedule.StartTime``)
and says what was expected, so a user can fix the call from the message alone.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

from botocore.model import Shape

from tidings.domain.errors import InvalidInput

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


# The models' integer and long types are Java's: 32- and 64-bit signed. A value outside them
# is refused here rather than overflow the JSON encoder or the database later.
_INTEGER_RANGE = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _describe(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _fail(path: str, message: str) -> InvalidInput:
    return InvalidInput(f"Invalid value for {path}: {message}", member=path)


@cache
def _pattern(regex: str) -> re.Pattern[str] | None:
    # A few model patterns use Java's Unicode classes (\p{L}); Python's re cannot read them,
    # and those members (tag keys and values) go unchecked rather than be refused wrongly.
    try:
        return re.compile(regex)
    except re.error:
        return None


def check(shape: Shape, value: Any, path: str) -> Any:
    """Validate ``value`` against ``shape`` and return it in its native form.

    Structures come back without null members, timestamps as aware datetimes and blobs as
    bytes; everything else is returned as given.
    """
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            raise _fail(path, f"expected an object, got {_describe(value)}")
        members = shape.members
        result = {}
        for key, item in value.items():
            if item is None:
                continue
            member = members.get(key)
            if member is None:
                known = ", ".join(members) or "none"
                raise _fail(f"{path}.{key}", f"{shape.name} has no member {key!r} (members: {known})")
            result[key] = check(member, item, f"{path}.{key}")
        for name in shape.required_members:
            if name not in result:
                raise InvalidInput(f"Missing required member {path}.{name}", member=f"{path}.{name}")
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise _fail(path, f"expected a list, got {_describe(value)}")
        _check_length(meta, len(value), path, "items")
        return [check(shape.member, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _fail(path, f"expected an object (map), got {_describe(value)}")
        _check_length(meta, len(value), path, "entries")
        result = {}
        for key, item in value.items():
            check(shape.key, key, f"{path} key {key!r}")
            if item is None:
                raise _fail(f"{path}.{key}", "map values may not be null")
            result[key] = check(shape.value, item, f"{path}.{key}")
        return result
    if kind == "string":
        if not isinstance(value, str):
            raise _fail(path, f"expected a string, got {_describe(value)}")
        enum = shape.enum
        if enum and value not in enum:
            raise _fail(path, f"{value!r} is not one of {', '.join(enum)}")
        _check_length(meta, len(value), path, "characters")
        if "\x00" in value:  # no store can hold it, and no AWS identifier or name contains it
            raise _fail(path, "must not contain a NUL character (\\u0000)")
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            raise _fail(path, f"{value!r} does not match the pattern {meta['pattern']}")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise _fail(path, f"expected an integer, got {_describe(value)}")
        low, high = _INTEGER_RANGE[kind]
        if not low <= value <= high:
            raise _fail(path, f"{value} is outside the {kind} range {low} to {high}")
        _check_range(meta, value, path)
        return value
    if kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, f"expected a number, got {_describe(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(path, f"expected a finite number, got {value}")
        _check_range(meta, value, path)
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(path, f"expected true or false, got {_describe(value)}")
        return value
    if kind == "timestamp":
        return parse_timestamp(value, path)
    if kind == "blob":
        if isinstance(value, bytes):
            return value
        if not isinstance(value, str):
            raise _fail(path, f"expected base64 text, got {_describe(value)}")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _fail(path, "expected base64-encoded data") from None
    return value


def parse_timestamp(value: Any, path: str) -> datetime:
    if isinstance(value, bool):
        raise _fail(path, "expected a timestamp, got a boolean")
    if isinstance(value, int | float):
        return _from_epoch(value, path)
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return _from_epoch(seconds, path)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise _fail(path, f"{value!r} is not an ISO 8601 timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise _fail(path, f"expected a timestamp, got {_describe(value)}")


def _from_epoch(seconds: float, path: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, ValueError, OSError):  # inf, NaN, or beyond the years 1-9999
        raise _fail(
            path, f"{seconds} seconds since the epoch is not a date between the years 1 and 9999"
        ) from None


def _check_length(meta: dict, length: int, path: str, unit: str) -> None:
    if "min" in meta and length < meta["min"]:
        raise _fail(path, f"must have at least {meta['min']} {unit}, got {length}")
    if "max" in meta and length > meta["max"]:
        raise _fail(path, f"must have at most {meta['max']} {unit}, got {length}")


def _check_range(meta: dict, value: float, path: str) -> None:
    if "min" in meta and value < meta["min"]:
        raise _fail(path, f"must be at least {meta['min']}, got {value}")
    if "max" in meta and value > meta["max"]:
        raise _fail(path, f"must be at most {meta['max']}, got {value}")
