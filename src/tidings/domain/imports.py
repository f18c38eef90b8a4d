"""Import rows: newline-delimited JSON and CSV lines made into endpoint writes.

A JSON row is one EndpointBatchItem object per line. A CSV file starts with a header of
Pinpoint's dotted names (``Id``, ``ChannelType``, ``Address``, ``User.UserId``,
``User.UserAttributes.facebookMessengerPsid``, ``Attributes.plan``, ``Metrics.visits``,
``Demographic.Timezone``, ``Location.Latitude``, ...). As in Pinpoint, an attribute takes
several values by repeating its column, one value per column; a cell is always one whole
value, so values may hold commas, semicolons or spaces. Empty cells are left out.

A row holding nothing but a user id (``{"User": {"UserId": "u1"}}``, or a CSV whose only
column is ``User.UserId``, where a cell may list several ids separated by spaces) names a
user: the user's existing endpoints join the imported segment.

Members only responses carry (``ApplicationId``, ``CohortId``, ``CreationDate``) are ignored,
so the files an export job writes can be imported again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from tidings.domain.errors import InvalidInput

MEMBER = "Endpoint"  # how row errors name the row's members: Endpoint.Location.Latitude
RESPONSE_ONLY = ("ApplicationId", "CohortId", "CreationDate")
USER_ID_COLUMN = "User.UserId"

# Validates one EndpointBatchItem (as the API does) and returns it; raises InvalidInput.
ItemCheck = Callable[[Any, str], Any]


class RowError(Exception):
    """A row that cannot be imported; the message says why, without the line number."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Row(NamedTuple):
    line: int  # the file line the row starts on, from 1
    endpoint_id: str | None  # None: a new endpoint whose id Tidings draws
    request: dict | None  # the EndpointRequest members (no Id); None for a user row
    users: tuple[str, ...] = ()  # a user row: the users whose endpoints join the segment


def _user_row(item: dict, line: int) -> Row | None:
    user = item.get("User")
    if len(item) == 1 and type(user) is dict and len(user) == 1 and "UserId" in user:
        return Row(line, None, None, (user["UserId"],))
    return None


def json_row(raw: bytes, line: int, check: ItemCheck) -> Row:
    """The row on one line of a newline-delimited JSON file."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RowError(f"is not valid JSON ({exc}); each line must hold one endpoint object") from None
    if type(value) is not dict:
        raise RowError(f"holds {_json_kind(value)}; each line must hold one endpoint object")
    for key in RESPONSE_ONLY:
        value.pop(key, None)
    return _row(line, value, check)


def _row(line: int, item: dict, check: ItemCheck) -> Row:
    """A row from its parsed fields, whichever format they came in: checked against the
    endpoint shape; a row with only a user id names that user's endpoints."""
    try:
        item = check(item, MEMBER)
    except InvalidInput as error:
        raise RowError(error.message) from None
    endpoint_id = item.pop("Id", None)
    if endpoint_id is None:
        user_row = _user_row(item, line)
        if user_row is not None:
            return user_row
    return Row(line, endpoint_id, item)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if not isinstance(value, bool) else "a boolean"


# --- CSV -------------------------------------------------------------------------------


class Column(NamedTuple):
    index: int
    path: tuple[str, ...]  # the members leading to the object that holds the value
    key: str  # the member (or map key) the value is stored under
    kind: str  # "text", "number" or "values" (one of an attribute's values)


class CsvPlan:
    """How the columns of one CSV header become an EndpointBatchItem."""

    def __init__(self, header: list[str], shape: Any) -> None:
        self.width = len(header)
        names = [name.strip() for name in header]
        if names and names[0].startswith("\ufeff"):
            names[0] = names[0][1:]
        self.header = names
        self.user_ids_only = names == [USER_ID_COLUMN]
        columns: list[Column] = []
        seen: dict[tuple[tuple[str, ...], str], str] = {}
        for index, name in enumerate(names):
            if not name:
                raise InvalidInput(
                    f"the CSV header's column {index + 1} has no name; every column needs an "
                    "endpoint member name such as Address or Attributes.plan"
                )
            if name in RESPONSE_ONLY:
                continue
            column = _column(index, name, shape)
            place = (column.path, column.key)
            if place in seen and column.kind != "values":
                raise InvalidInput(
                    f"the CSV header names {name!r} twice (columns {names.index(seen[place]) + 1} "
                    f"and {index + 1}); only attribute columns may repeat, one value per column"
                )
            seen[place] = name
            columns.append(column)
        self.columns = tuple(columns)

    def row(self, cells: list[str], line: int, check: ItemCheck) -> Row:
        if len(cells) > self.width:
            raise RowError(
                f"has {len(cells)} fields but the header has {self.width}; quote values that "
                'hold commas ("a,b")'
            )
        if self.user_ids_only:
            users = tuple(cells[0].split()) if cells else ()
            if not users:
                raise RowError("has no user id")
            return Row(line, None, None, users)
        item: dict = {}
        width = len(cells)
        for column in self.columns:
            if column.index >= width:
                continue
            value = cells[column.index]
            if not value:
                continue
            target = item
            for part in column.path:
                target = target.setdefault(part, {})
            kind = column.kind
            if kind == "values":
                target.setdefault(column.key, []).append(value)
            elif kind == "number":
                target[column.key] = _number(value, column, self.header)
            else:
                target[column.key] = value
        return _row(line, item, check)


def _column(index: int, name: str, shape: Any) -> Column:
    parts = name.split(".")
    node = shape
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            raise InvalidInput(_unknown_column(index, shape))
        node = node[part]
        path = tuple(parts[:depth])
        rest = parts[depth + 1 :]
        if isinstance(node, tuple) and node[0] == "map":
            if not rest:
                raise InvalidInput(
                    f"the CSV header's column {index + 1} {name!r} needs an attribute name, as in "
                    f"{name}.plan"
                )
            value = node[1]
            kind = "values" if isinstance(value, tuple) and value[0] == "list" else _scalar(value)
            return Column(index, path + (part,), ".".join(rest), kind)
        if isinstance(node, str):
            if rest:
                break
            return Column(index, path, part, _scalar(node))
    raise InvalidInput(_unknown_column(index, shape))


def _scalar(type_name: Any) -> str:
    return "number" if type_name in ("double", "float", "integer", "long") else "text"


def _unknown_column(index: int, shape: dict) -> str:
    known = []
    for member, node in shape.items():
        if isinstance(node, dict):
            known.extend(f"{member}.{inner}" for inner in node if not isinstance(node[inner], tuple))
            known.extend(f"{member}.{inner}.<name>" for inner in node if isinstance(node[inner], tuple))
        elif isinstance(node, tuple):
            known.append(f"{member}.<name>")
        else:
            known.append(member)
    # The column is named by its number only: a header that is not one is whatever the file
    # holds (a file that is not an import at all), and errors must not quote it.
    return (
        f"the CSV header's column {index + 1} is not an endpoint member; columns use "
        f"Pinpoint's dotted names: {', '.join(known)}"
    )


def _number(text: str, column: Column, header: list[str]) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or value != value or value in (float("inf"), float("-inf")):
        raise RowError(f"column {header[column.index]!r} must be a number, got {text!r}")
    return value
