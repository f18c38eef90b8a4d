"""Requests generated from botocore's input shapes, then broken on purpose.

A seeded generator (every run with one seed sends the same requests) builds a plausible
input for an operation from its shape (known ids most of the time, so requests get past
the lookups into the handlers), serializes it with botocore's rest-json serializer, then
applies one or more mutations at the level where they are possible: JSON values replaced
by wrong types, boundary numbers, huge, empty, NUL or non-UTF-8 strings, deep nesting;
members dropped or added; path labels, query values and headers replaced by bad text.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from botocore.model import OperationModel, Shape
from botocore.serialize import create_serializer

# Raw JSON texts no Python value dumps to: spliced in where a placeholder string stands.
RAW_JSON = [
    b"1e400", b"-1e400", b"18446744073709551616", b"-9223372036854775809", b"1e300", b"NaN",
    b"Infinity", b'"\xff\xfe"', b'"\\ud800"', b'"a\\u0000b"', b"[" * 5000 + b"]" * 5000,
    b"{" + b'"a":{' * 3000 + b"}" * 3001, b"01", b"--1", b'"', b"tru",
]  # fmt: skip
BOUNDARY_NUMBERS = [0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, 2**64, 1e300, -1e300, 0.5]
ODD_STRINGS = [
    "", " ", "\x00", "a\x00b", "x" * 100_000, "inf", "NaN", "-1", "1e20", "null", "..", "../../etc/passwd",
    "%00", "ünïcödé", "\u202e", "\ud7ff", "arn:aws:lambda:us-east-1:000000000000:function:x:y:z",
    "file:///etc/passwd", "http://169.254.169.254/", "2026-13-45T25:61:61Z", "$LATEST", "*",
]  # fmt: skip
BAD_LABELS = [
    "", "%00", "a%00b", "..", "%2e%2e", "%2F", "x" * 5000, "%ff%fe", "%C3%BC", "%20", "null", "-1",
    "$LATEST", "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Ax%3Ay%3Az", "%",
]  # fmt: skip
BAD_HEADER_VALUES = ["", "\x7f", "é" * 10, "x" * 8000, "Event", "DryRun", "Tail", "None", "%00", "e30="]


@dataclass
class FuzzRequest:
    service: str
    operation: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    mutations: list[str]

    def describe(self) -> str:
        return f"{self.operation} {self.method} {self.path[:200]} mutations={self.mutations} body={self.body[:300]!r}"


class Generator:
    def __init__(self, seed: int, ids: dict[str, list[str]], zip_bytes: bytes) -> None:
        self.random = random.Random(seed)
        self.ids = ids  # member-name hints ("ApplicationId", "FunctionName") -> known ids
        self.zip_bytes = zip_bytes
        self.serializer = create_serializer("rest-json", include_validation=False)

    # --- plausible values from shapes --------------------------------------------------

    def value(self, shape: Shape, name: str, depth: int = 0) -> Any:
        rnd = self.random
        kind = shape.type_name
        if kind == "structure":
            result = {}
            for member_name, member in shape.members.items():
                if member_name in shape.required_members or (depth < 5 and rnd.random() < 0.5):
                    result[member_name] = self.value(member, member_name, depth + 1)
            return result
        if kind == "list":
            return [self.value(shape.member, name, depth + 1) for _ in range(rnd.randint(0, 2))]
        if kind == "map":
            return {self._word(): self.value(shape.value, name, depth + 1) for _ in range(rnd.randint(0, 2))}
        if kind == "string":
            for hint, known in self.ids.items():
                if hint.lower() in name.lower() and known and rnd.random() < 0.85:
                    return rnd.choice(known)
            if shape.enum:
                return rnd.choice(shape.enum)
            return self._word()
        if kind in ("integer", "long"):
            low, high = shape.metadata.get("min", 0), shape.metadata.get("max", 100)
            return rnd.randint(int(low), int(min(high, low + 1000)))
        if kind in ("double", "float"):
            return rnd.random() * 100
        if kind == "boolean":
            return rnd.random() < 0.5
        if kind == "timestamp":
            return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=rnd.randint(-1000, 1000))
        if kind == "blob":
            if name == "ZipFile":
                return self.zip_bytes
            return json.dumps({"k": self._word()}).encode()
        return None

    def _word(self) -> str:
        return "".join(self.random.choice(string.ascii_lowercase) for _ in range(self.random.randint(1, 8)))

    # --- requests -----------------------------------------------------------------------

    def request(self, service: str, operation: OperationModel) -> FuzzRequest:
        rnd = self.random
        shape = operation.input_shape
        params = self.value(shape, operation.name) if shape is not None else {}
        mutations: list[str] = []
        labels, queries, headers_in = {}, {}, {}
        if shape is not None:
            for name, member in shape.members.items():
                where = member.serialization.get("location")
                if where == "uri":
                    labels[name] = member
                elif where == "querystring":
                    queries[name] = member
                elif where == "header":
                    headers_in[name] = member
        bad_label = None
        if labels and rnd.random() < 0.25:
            name = rnd.choice(list(labels))
            params[name] = "FUZZLABEL"
            bad_label = rnd.choice(BAD_LABELS)
            mutations.append(f"label {name}={bad_label[:40]!r}")
        for name, member in queries.items():
            if name not in params and rnd.random() < 0.6:
                params[name] = self.value(member, name)
        for name, member in headers_in.items():
            if name not in params and rnd.random() < 0.6:
                params[name] = self.value(member, name)
        if "ClientContext" in params:
            params["ClientContext"] = base64.b64encode(b'{"custom": {}}').decode()
        serialized = self.serializer.serialize_to_request(params, operation)
        path = serialized["url_path"]
        if bad_label is not None:
            path = path.replace("FUZZLABEL", bad_label)
        query = dict(serialized["query_string"])
        if query and rnd.random() < 0.4:
            key = rnd.choice(list(query))
            query[key] = rnd.choice(ODD_STRINGS + [str(n) for n in BOUNDARY_NUMBERS])
            mutations.append(f"query {key}={str(query[key])[:40]!r}")
        if rnd.random() < 0.05:
            query["Unknown"] = "1"
            mutations.append("query Unknown")
        if query:
            path += "?" + "&".join(
                f"{quote(k, safe='')}={quote(str(v), safe='')}"
                for k, values in query.items()
                for v in (values if isinstance(values, list) else [values])
            )
        headers = {k: str(v) for k, v in serialized["headers"].items()}
        if headers_in and rnd.random() < 0.4:
            name = rnd.choice(list(headers_in))
            wire = headers_in[name].serialization.get("name", name)
            headers[wire] = rnd.choice(BAD_HEADER_VALUES)
            mutations.append(f"header {wire}={headers[wire][:20]!r}")
        body = serialized["body"]
        body = body.encode() if isinstance(body, str) else (body or b"")
        if rnd.random() < 0.8:
            body = self.mutate_body(body, mutations)
        return FuzzRequest(service, operation.name, serialized["method"], path, headers, body, mutations)

    def mutate_body(self, body: bytes, mutations: list[str]) -> bytes:
        rnd = self.random
        try:
            document = json.loads(body) if body.strip() else {}
        except ValueError:  # a raw payload (Invoke): replace it
            choice = rnd.choice([b"", b"{", b"\xff\xfe", b"[" * 3000, json.dumps({"x": "\x00"}).encode()])
            mutations.append(f"payload {choice[:20]!r}")
            return choice
        raws: list[bytes] = []
        for _ in range(rnd.randint(1, 3)):
            document = self._mutate(document, mutations, raws, depth=0)
        text = json.dumps(document).encode()
        for i, raw in enumerate(raws):
            text = text.replace(b'"__RAW%d__"' % i, raw, 1)
        if rnd.random() < 0.03:
            cut = rnd.randint(0, len(text))
            mutations.append(f"truncated at {cut}")
            text = text[:cut]
        return text

    def _mutate(self, node: Any, mutations: list[str], raws: list[bytes], depth: int) -> Any:
        rnd = self.random
        if isinstance(node, dict) and node and rnd.random() < 0.7:
            key = rnd.choice(list(node))
            roll = rnd.random()
            if roll < 0.1:
                mutations.append(f"drop {key}")
                return {k: v for k, v in node.items() if k != key}
            if roll < 0.15:
                mutations.append("extra member")
                return {**node, "Unexpected" + self._word(): 1}
            return {**node, key: self._mutate(node[key], mutations, raws, depth + 1)}
        if isinstance(node, list) and node and rnd.random() < 0.7:
            i = rnd.randrange(len(node))
            return node[:i] + [self._mutate(node[i], mutations, raws, depth + 1)] + node[i + 1 :]
        # Mostly a value of the leaf's own kind, which passes the type check and goes deeper.
        if isinstance(node, int | float) and not isinstance(node, bool) and rnd.random() < 0.7:
            number = rnd.choice(BOUNDARY_NUMBERS)
            mutations.append(f"number {number}")
            return number
        if isinstance(node, str) and rnd.random() < 0.5:
            text = rnd.choice(ODD_STRINGS)
            mutations.append(f"string {text[:20]!r}")
            return text
        roll = rnd.random()
        if roll < 0.3:
            raw = rnd.choice(RAW_JSON)
            raws.append(raw)
            mutations.append(f"raw {raw[:20]!r}")
            return f"__RAW{len(raws) - 1}__"
        if roll < 0.55:
            number = rnd.choice(BOUNDARY_NUMBERS)
            mutations.append(f"number {number}")
            return number
        if roll < 0.8:
            text = rnd.choice(ODD_STRINGS)
            mutations.append(f"string {text[:20]!r}")
            return text
        wrong = rnd.choice([None, True, [], {}, [1, "a"], {"a": {"b": [None]}}, 3.5])
        mutations.append(f"type {json.dumps(wrong)}")
        return wrong
