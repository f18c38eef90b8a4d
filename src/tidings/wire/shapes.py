"""One botocore shape, prepared for code that handles many values of it (import rows).

``checker`` compiles a shape into a predicate that answers "certainly valid?" with plain type
tests, and falls back to :func:`tidings.wire.validation.check` for anything else, so the
errors are the API's own, word for word, while a million valid rows cost a fraction of it.
``tree`` describes a shape as plain data for code below the wire layer (CSV column names).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from botocore.model import Shape

from tidings.wire.validation import check

Predicate = Callable[[Any], bool]


def _never(_value: Any) -> bool:
    return False


def _compile(shape: Shape) -> Predicate:
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        # Plain string members (most of them) are tested inline rather than through a call.
        plain = frozenset(name for name, m in shape.members.items() if _is_plain_string(m))
        members = {name: _compile(member) for name, member in shape.members.items() if name not in plain}
        required = tuple(shape.required_members)

        def structure(value: Any) -> bool:
            if type(value) is not dict:
                return False
            for key, item in value.items():
                if key in plain:
                    if type(item) is not str or "\x00" in item:
                        return False
                    continue
                test = members.get(key)
                if test is None or not test(item):
                    return False
            return not required or all(name in value for name in required)

        return structure
    if kind == "list":
        item_ok = _compile(shape.member)
        low, high = meta.get("min", 0), meta.get("max")

        def sequence(value: Any) -> bool:
            if type(value) is not list or len(value) < low or (high is not None and len(value) > high):
                return False
            return all(item_ok(item) for item in value)

        return sequence
    if kind == "map":
        if "min" in meta or "max" in meta or not _is_plain_string(shape.key):
            return _never
        value_ok = _compile(shape.value)
        member = shape.value.member if shape.value.type_name == "list" else None
        if member is not None and _is_plain_string(member) and not shape.value.metadata:

            def map_of_strings(value: Any) -> bool:  # custom attributes: {name: [values]}
                if type(value) is not dict:
                    return False
                for key, items in value.items():
                    if type(key) is not str or type(items) is not list:
                        return False
                    for item in items:
                        if type(item) is not str or "\x00" in item:
                            return False
                return True

            return map_of_strings

        def mapping(value: Any) -> bool:
            if type(value) is not dict:
                return False
            for key, item in value.items():
                if type(key) is not str or not value_ok(item):
                    return False
            return True

        return mapping
    if kind == "string":
        if shape.enum:
            allowed = frozenset(shape.enum)
            return lambda value: type(value) is str and value in allowed
        if "min" in meta or "max" in meta or "pattern" in meta:
            low, high = meta.get("min", 0), meta.get("max")
            pattern = _safe_pattern(meta.get("pattern"))
            if pattern is None and "pattern" in meta:
                return _never

            def text(value: Any) -> bool:
                return (
                    type(value) is str
                    and "\x00" not in value
                    and len(value) >= low
                    and (high is None or len(value) <= high)
                    and (pattern is None or pattern.fullmatch(value) is not None)
                )

            return text
        return lambda value: type(value) is str and "\x00" not in value
    if kind in ("double", "float"):
        if "min" in meta or "max" in meta:
            return _never
        return lambda value: type(value) is int or (type(value) is float and math.isfinite(value))
    if kind in ("integer", "long"):
        if "min" in meta or "max" in meta:
            return _never
        bits = 31 if kind == "integer" else 63
        low, high = -(2**bits), 2**bits - 1
        return lambda value: type(value) is int and low <= value <= high
    if kind == "boolean":
        return lambda value: type(value) is bool
    return _never  # timestamps and blobs are converted by check()


def _is_plain_string(shape: Shape) -> bool:
    meta = shape.metadata
    return (
        shape.type_name == "string"
        and not shape.enum
        and not any(k in meta for k in ("min", "max", "pattern"))
    )


def _safe_pattern(regex: str | None) -> re.Pattern[str] | None:
    if regex is None:
        return None
    try:
        return re.compile(regex)
    except re.error:
        return None


def checker(shape: Shape) -> Callable[[Any, str], Any]:
    """``check(value, path)`` for many values of ``shape``: the value itself when it is
    plainly valid, else what :func:`tidings.wire.validation.check` makes of it (or raises)."""
    plainly_valid = _compile(shape)

    def run(value: Any, path: str) -> Any:
        if plainly_valid(value):
            return value
        return check(shape, value, path)

    return run


def tree(shape: Shape) -> Any:
    """A shape as plain data: a structure is a dict of member trees, a map is
    ``("map", value tree)``, a list ``("list", member tree)``, a scalar its type name."""
    kind = shape.type_name
    if kind == "structure":
        return {name: tree(member) for name, member in shape.members.items()}
    if kind == "map":
        return ("map", tree(shape.value))
    if kind == "list":
        return ("list", tree(shape.member))
    return kind
